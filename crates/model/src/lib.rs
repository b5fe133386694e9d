//! The cooperation programme's documents — projects, missions, journals, actors, funding
//! calls, news items — as typed Automerge documents whose merges people can live with.
//!
//! A pure library: no network, no disk, no clock (callers pass a [`Stamp`] with the time).
//! The client's CLI and, later, a web UI use it on the `AutoCommit` documents a replica
//! holds:
//!
//! ```
//! use passerelle_model::{Stamp, TypedDocument, conflicts, mission, resolve};
//! use passerelle_model::{Direction, Mission, MissionStatus};
//! use jiff::Timestamp;
//!
//! # fn main() -> Result<(), passerelle_model::ModelError> {
//! let samira = Stamp::new("samira", "2026-03-02T09:00:00Z".parse::<Timestamp>().unwrap());
//! let mut oujda = mission::new_mission(
//!     &mission::NewMission {
//!         direction: Direction::LilleToOujda,
//!         title: vec![("fr".into(), "Mission PAED".into()), ("ar".into(), "بعثة".into())],
//!         start: None,
//!         end: None,
//!     },
//!     &samira,
//! )?;
//! let mut lille = oujda.fork();
//! let claire = Stamp::new("claire", "2026-03-02T10:00:00Z".parse::<Timestamp>().unwrap());
//! passerelle_model::set(&mut oujda, &"status".parse().unwrap(), &"planned".into(), &samira)?;
//! passerelle_model::set(&mut lille, &"status".parse().unwrap(), &"confirmed".into(), &claire)?;
//! oujda.merge(&mut lille)?;
//! let found = conflicts(&oujda)?;
//! assert_eq!(found[0].path.to_string(), "status");
//! resolve(&mut oujda, &found[0].path, "confirmed", &samira)?;
//! assert_eq!(*Mission::read(&oujda)?.status.unwrap().value(), MissionStatus::Confirmed);
//! # Ok(()) }
//! ```
//!
//! # How fields merge
//! - **Text** (titles, notes, minutes, journal bodies): Automerge text, edited by splices
//!   ([`splices`], [`update_text`]), so two people typing in the same minutes keep both
//!   their words. Per-language text is a map of texts (`title.fr`, `title.ar`).
//! - **Lists** (agenda, actions, delegation, indicators…): a map from [`ItemId`] to the
//!   item, each item holding an order key `pos`. Inserts never collide (ids are random),
//!   a move rewrites only `pos`, an edit inside an item is kept whatever happens to its
//!   position. **Logs** (measurements, expenses, journal entries) are the same without
//!   `pos`, ordered by time.
//! - **Sets** (partners, tags, linked projects): a map from member to `true`.
//! - **Registers** (statuses, dates, amounts, owners): each write puts a new `{value, by,
//!   at}` map; concurrent writes remain side by side, and [`conflicts`] lists them until
//!   [`resolve`] writes the chosen value and records the resolution in the document.
//! - **Plain values** (codes, URLs, labels set once): last writer wins, silently.
//!
//! # Layout
//! - `schema`: every document type's fields as data ([`DocType`]); `choices`: the words of
//!   statuses and kinds; `value_kind`: how single values are checked and stored ([`When`]).
//! - `read`: reads a document by its schema, checking every field; `write`: creates
//!   documents and edits them by path ([`set`], [`insert`], [`move_item`], [`remove_item`],
//!   [`add_member`]); `find_item`: an item's path from its id alone ([`find_item`]).
//! - `conflict`: [`conflicts`], [`resolve`], [`resolutions`]. `migrate`: schema 1 → 2.
//! - `documents/`: the typed views ([`Project`], [`Mission`], [`Journal`], [`Actor`],
//!   [`FundingCall`], [`NewsItem`]) and each type's edit operations, in the modules
//!   [`project`], [`mission`], [`journal`], [`actor`], [`funding_call`], [`news_item`].
//! - `text_diff`: minimal splices; `position`: order keys; `money`: [`Money`];
//!   `field_path`, `item_id`, `stamp`, `register`, `error`: the small types.

mod choices;
mod conflict;
mod documents;
mod error;
mod field_path;
mod find_item;
mod item_id;
mod migrate;
mod money;
mod position;
mod read;
mod register;
mod schema;
mod stamp;
mod text_diff;
mod value_kind;
mod write;

pub use choices::{
    ActionStatus, ActorCategory, ActorKind, CallStatus, CofinancingStatus, ContactKind, Direction,
    LegalBasis, Level, LogisticsKind, LogisticsStatus, MissionStatus, NewsLanguage, ProjectStatus,
    Relevance, UnknownChoice, VisaStatus,
};
pub use conflict::{Conflict, ConflictValue, Resolution, conflicts, resolutions, resolve};
pub use documents::actor::{Actor, Contact};
pub use documents::funding_call::{Criterion, Deliverable, FundingCall};
pub use documents::journal::{Entry, Journal};
pub use documents::mission::{Action, AgendaItem, Delegate, Logistics, Meeting, Mission};
pub use documents::news_item::NewsItem;
pub use documents::project::{
    BudgetLine, Cofinancing, Expense, Indicator, LogframeResult, Measurement, Objective, Project,
};
pub use documents::{Document, TypedDocument, open, read_any, validate};
pub use error::ModelError;
pub use field_path::{FieldPath, InvalidFieldPath, Segment};
pub use find_item::{ItemLocation, find_item};
pub use item_id::{InvalidItemId, ItemId, MAX_ITEM_ID_LEN};
pub use migrate::{MIGRATION_AUTHOR, migrate};
pub use money::{Currency, InvalidMoney, Money};
pub use read::{MAX_ITEMS, MAX_TEXT_LEN, header};
pub use register::{Assignment, Localized, Quantity, Register};
pub use schema::{CURRENT_SCHEMA, DocType, UnknownDocType};
pub use stamp::Stamp;
pub use text_diff::{Splice, apply_splices, splices};
pub use value_kind::{InvalidWhen, MAX_VALUE_LEN, TIME_ZONES, When};
pub use write::{
    Place, add_member, create, insert, move_item, remove_item, remove_member, set, update_text,
};

/// Each type's edit operations.
pub mod project {
    pub use crate::documents::project::{
        NewIndicator, NewProject, add_budget_line, add_cofinancing, add_expense, add_indicator,
        add_measurement, add_result, new_project,
    };
}
/// Each type's edit operations.
pub mod mission {
    pub use crate::documents::mission::{
        NewMission, add_action, add_agenda_item, add_delegate, add_logistics, add_meeting,
        mark_action_done, new_mission,
    };
}
/// Each type's edit operations.
pub mod journal {
    pub use crate::documents::journal::{NewEntry, add_entry, edit_entry, new_journal};
}
/// Each type's edit operations.
pub mod actor {
    pub use crate::documents::actor::{NewActor, add_contact, new_actor};
}
/// Each type's edit operations.
pub mod funding_call {
    pub use crate::documents::funding_call::{add_criterion, add_deliverable, new_funding_call};
}
/// Each type's edit operations.
pub mod news_item {
    pub use crate::documents::news_item::new_news_item;
}

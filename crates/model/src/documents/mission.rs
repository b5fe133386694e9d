//! The mission document: delegation, agenda, meetings and minutes, logistics, follow-up
//! actions.

use automerge::AutoCommit;
use automerge::transaction::Transactable;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{TypedDocument, path};
use crate::choices::{
    ActionStatus, Direction, LogisticsKind, LogisticsStatus, MissionStatus, VisaStatus,
};
use crate::error::ModelError;
use crate::item_id::ItemId;
use crate::money::Money;
use crate::register::{Localized, Register};
use crate::schema::DocType;
use crate::stamp::Stamp;
use crate::value_kind::When;
use crate::write::{Place, create, insert, set};

/// A mission, Lille → Oujda or Oujda → Lille.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Mission {
    pub title: Localized,
    pub direction: Option<Direction>,
    pub status: Option<Register<MissionStatus>>,
    pub start: Option<Register<Date>>,
    pub end: Option<Register<Date>>,
    pub purpose: String,
    /// Linked project documents.
    pub projects: Vec<String>,
    pub delegation: Vec<Delegate>,
    pub agenda: Vec<AgendaItem>,
    pub meetings: Vec<Meeting>,
    pub logistics: Vec<Logistics>,
    pub outcomes: String,
    pub actions: Vec<Action>,
    /// Published on the public page (see [`Mission::is_public`]).
    pub public: Option<Register<bool>>,
}

impl TypedDocument for Mission {
    const DOC_TYPE: DocType = DocType::Mission;
}

/// A member of the delegation.
#[derive(Debug, Clone, Deserialize)]
pub struct Delegate {
    pub id: ItemId,
    pub person: String,
    pub organisation: Option<String>,
    pub role: Option<String>,
    pub arrival: Option<Register<Date>>,
    pub departure: Option<Register<Date>>,
    pub visa: Option<Register<VisaStatus>>,
}

/// An agenda item.
#[derive(Debug, Clone, Deserialize)]
pub struct AgendaItem {
    pub id: ItemId,
    pub starts_at: Option<Register<When>>,
    pub place: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub participants: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

/// A meeting and its minutes.
#[derive(Debug, Clone, Deserialize)]
pub struct Meeting {
    pub id: ItemId,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub attendees: Vec<String>,
    #[serde(default)]
    pub minutes: String,
    #[serde(default)]
    pub decisions: String,
}

/// A logistics line (flight, hotel…).
#[derive(Debug, Clone, Deserialize)]
pub struct Logistics {
    pub id: ItemId,
    pub kind: LogisticsKind,
    #[serde(default)]
    pub details: String,
    pub status: Option<Register<LogisticsStatus>>,
    pub cost: Option<Register<Money>>,
}

/// A follow-up action.
#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub id: ItemId,
    #[serde(default)]
    pub text: String,
    pub owner: Option<Register<String>>,
    pub due: Option<Register<Date>>,
    pub status: Option<Register<ActionStatus>>,
}

impl Mission {
    /// Whether the mission is published: `public` is true, and every concurrent value of it
    /// too (a publish concurrent with a withdrawal is not a publication).
    pub fn is_public(&self) -> bool {
        crate::register::all_true(self.public.as_ref())
    }

    /// Neither done nor cancelled, and starting between `today` and `horizon` or under way
    /// (started, not yet ended) on `today`: what the `today` views list.
    pub fn is_coming_or_under_way(&self, today: Date, horizon: Date) -> bool {
        let live = self
            .status
            .as_ref()
            .is_none_or(|s| !matches!(s.value(), MissionStatus::Done | MissionStatus::Cancelled));
        let start = self.start.as_ref().map(|s| *s.value());
        let end = self.end.as_ref().map(|s| *s.value()).or(start);
        let soon = start.is_some_and(|s| s >= today && s <= horizon);
        let under_way = start.is_some_and(|s| s <= today) && end.is_some_and(|e| e >= today);
        live && (soon || under_way)
    }
}

impl Action {
    /// Open (not done nor dropped) and due before `today`.
    pub fn is_overdue(&self, today: Date) -> bool {
        let open = self
            .status
            .as_ref()
            .is_none_or(|s| *s.value() == ActionStatus::Open);
        open && self.due.as_ref().is_some_and(|d| *d.value() < today)
    }
}

/// What a new mission starts with.
#[derive(Debug, Clone)]
pub struct NewMission {
    pub direction: Direction,
    /// `(language, title)` pairs.
    pub title: Vec<(String, String)>,
    pub start: Option<Date>,
    pub end: Option<Date>,
}

/// Makes a new mission document (status `draft`).
pub fn new_mission(new: &NewMission, stamp: &Stamp) -> Result<AutoCommit, ModelError> {
    let title: serde_json::Map<String, Json> = new
        .title
        .iter()
        .map(|(l, t)| (l.clone(), json!(t)))
        .collect();
    let input = json!({
        "direction": new.direction.as_str(),
        "title": title,
        "status": MissionStatus::Draft.as_str(),
        "start": new.start.map(|d| d.to_string()),
        "end": new.end.map(|d| d.to_string()),
    });
    create(DocType::Mission, &input, stamp)
}

/// Adds an agenda item at `place`; returns its id.
pub fn add_agenda_item<D: Transactable>(
    doc: &mut D,
    place: Place,
    starts_at: Option<When>,
    title: &str,
    location: Option<&str>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item =
        json!({"starts_at": starts_at.map(|w| w.to_string()), "title": title, "place": location});
    insert(doc, &path("agenda"), place, &item, stamp)
}

/// Adds a member of the delegation; returns their id.
pub fn add_delegate<D: Transactable>(
    doc: &mut D,
    person: &str,
    organisation: Option<&str>,
    role: Option<&str>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item = json!({"person": person, "organisation": organisation, "role": role});
    insert(doc, &path("delegation"), Place::End, &item, stamp)
}

/// Adds a meeting; returns its id. Its minutes are edited with [`crate::set`] on
/// `meetings[ID].minutes`.
pub fn add_meeting<D: Transactable>(
    doc: &mut D,
    title: &str,
    attendees: &[&str],
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    insert(
        doc,
        &path("meetings"),
        Place::End,
        &json!({"title": title, "attendees": attendees}),
        stamp,
    )
}

/// Adds a logistics line; returns its id.
pub fn add_logistics<D: Transactable>(
    doc: &mut D,
    kind: LogisticsKind,
    details: &str,
    cost: Option<Money>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item = json!({
        "kind": kind.as_str(), "details": details, "status": LogisticsStatus::ToBook.as_str(),
        "cost": cost.map(|c| c.to_string()),
    });
    insert(doc, &path("logistics"), Place::End, &item, stamp)
}

/// Adds an open follow-up action; returns its id.
pub fn add_action<D: Transactable>(
    doc: &mut D,
    text: &str,
    owner: Option<&str>,
    due: Option<Date>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item = json!({
        "text": text, "owner": owner, "due": due.map(|d| d.to_string()), "status": ActionStatus::Open.as_str(),
    });
    insert(doc, &path("actions"), Place::End, &item, stamp)
}

/// Marks action `id` done.
pub fn mark_action_done<D: Transactable>(
    doc: &mut D,
    id: &ItemId,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    set(
        doc,
        &path("actions").item(id).field("status"),
        &json!(ActionStatus::Done.as_str()),
        stamp,
    )
}

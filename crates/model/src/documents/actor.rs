//! The actor document: one person or organisation of the stakeholder directory.
//!
//! Each actor is a document of its own so that erasing a person deletes the whole document,
//! its history included (Automerge keeps deleted values in its history, so deleting fields
//! would not erase anything). A person's record says on what legal basis it is kept.

use automerge::AutoCommit;
use automerge::transaction::Transactable;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{TypedDocument, path};
use crate::choices::{ActorCategory, ActorKind, ContactKind, LegalBasis};
use crate::error::ModelError;
use crate::item_id::ItemId;
use crate::register::{Localized, Register};
use crate::schema::DocType;
use crate::stamp::Stamp;
use crate::write::{Place, create, insert};

/// A person or an organisation.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Actor {
    pub kind: ActorKind,
    pub category: Option<ActorCategory>,
    /// Names in `fr`, `ar` and `latin` script.
    #[serde(default)]
    pub names: Localized,
    /// The parent organisation's actor document.
    pub parent: Option<String>,
    /// Why the record may be kept (required for a person).
    pub basis: Option<Register<LegalBasis>>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub themes: Vec<String>,
    #[serde(default)]
    pub notes: String,
    pub last_contact: Option<Register<Date>>,
    /// Who in the programme keeps the relationship.
    pub owner: Option<Register<String>>,
}

impl TypedDocument for Actor {
    const DOC_TYPE: DocType = DocType::Actor;
}

/// A way to reach an actor.
#[derive(Debug, Clone, Deserialize)]
pub struct Contact {
    pub id: ItemId,
    pub kind: ContactKind,
    pub value: String,
    pub label: Option<String>,
}

/// What a new actor starts with.
#[derive(Debug, Clone)]
pub struct NewActor {
    pub kind: ActorKind,
    pub category: Option<ActorCategory>,
    /// `(script, name)` pairs: `fr`, `ar`, `latin`.
    pub names: Vec<(String, String)>,
    /// Required for a person.
    pub basis: Option<LegalBasis>,
}

/// Makes a new actor document. A person without a legal basis is refused
/// (`actor.basis: missing`).
pub fn new_actor(new: &NewActor, stamp: &Stamp) -> Result<AutoCommit, ModelError> {
    if new.kind == ActorKind::Person && new.basis.is_none() {
        return Err(ModelError::Missing {
            path: "actor.basis".into(),
        });
    }
    let names: serde_json::Map<String, Json> = new
        .names
        .iter()
        .map(|(l, t)| (l.clone(), json!(t)))
        .collect();
    let input = json!({
        "kind": new.kind.as_str(), "category": new.category.map(|c| c.as_str()), "names": names,
        "basis": new.basis.map(|b| b.as_str()),
    });
    create(DocType::Actor, &input, stamp)
}

/// Adds a contact; returns its id.
pub fn add_contact<D: Transactable>(
    doc: &mut D,
    kind: ContactKind,
    value: &str,
    label: Option<&str>,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    insert(
        doc,
        &path("contacts"),
        Place::End,
        &json!({"kind": kind.as_str(), "value": value, "label": label}),
        stamp,
    )
}

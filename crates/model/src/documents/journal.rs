//! The journal document: a field journal's entries, each edited only by its author.

use automerge::AutoCommit;
use automerge::transaction::Transactable;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::{TypedDocument, path};
use crate::error::ModelError;
use crate::item_id::ItemId;
use crate::schema::DocType;
use crate::stamp::Stamp;
use crate::write::{Place, create, insert, set};

/// A field journal (or a mission log).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Journal {
    pub title: String,
    /// Entries, oldest first.
    pub entries: Vec<Entry>,
}

impl TypedDocument for Journal {
    const DOC_TYPE: DocType = DocType::Journal;
}

/// An entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub id: ItemId,
    pub author: String,
    pub at: Timestamp,
    pub place: Option<String>,
    /// The linked mission document.
    pub mission: Option<String>,
    /// The linked project document.
    pub project: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub body: String,
}

/// Makes a new journal.
pub fn new_journal(title: &str, stamp: &Stamp) -> Result<AutoCommit, ModelError> {
    create(DocType::Journal, &json!({"title": title}), stamp)
}

/// What a new entry holds besides its author and time (the stamp's).
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub body: String,
    pub place: Option<String>,
    pub mission: Option<String>,
    pub project: Option<String>,
    pub tags: Vec<String>,
}

/// Adds an entry by `stamp.by` at `stamp.at`; returns its id.
pub fn add_entry<D: Transactable>(
    doc: &mut D,
    entry: &NewEntry,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    let item = json!({
        "author": stamp.by, "at": stamp.at.to_string(), "place": entry.place, "mission": entry.mission,
        "project": entry.project, "tags": entry.tags, "body": entry.body,
    });
    insert(doc, &path("entries"), Place::End, &item, stamp)
}

/// Replaces an entry's body (by splices); only its author may.
pub fn edit_entry<D: Transactable>(
    doc: &mut D,
    id: &ItemId,
    body: &str,
    stamp: &Stamp,
) -> Result<(), ModelError> {
    set(
        doc,
        &path("entries").item(id).field("body"),
        &json!(body),
        stamp,
    )
}

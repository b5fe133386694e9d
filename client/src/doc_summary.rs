//! [`DocSummary`]: one line of the replica's document list.

use automerge::{ROOT, ReadDoc};
use passerelle_core::DocumentId;
use serde_json::Value as Json;

use crate::json::value_to_json;

/// What `passerelle docs` shows of a document: its id, type and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSummary {
    /// The document.
    pub id: DocumentId,
    /// The root field `type`, when it is a string (`project`, `mission`, …).
    pub doc_type: Option<String>,
    /// The root field `title`: itself when it is a string or text; when it is a map of
    /// languages, its `fr`, else `en`, else `ar`, else its first string.
    pub title: Option<String>,
    /// Why the document could not be read, when it could not; the other fields are then
    /// empty. One damaged document does not hide the others.
    pub problem: Option<String>,
}

impl DocSummary {
    /// The summary of a loaded document.
    pub(crate) fn of(id: DocumentId, doc: &impl ReadDoc) -> Self {
        let field = |name: &str| -> Option<Json> {
            let (value, obj) = doc.get(ROOT, name).ok().flatten()?;
            Some(value_to_json(doc, &value, &obj))
        };
        let doc_type = match field("type") {
            Some(Json::String(s)) => Some(s),
            _ => None,
        };
        // An actor of the programme's directory has `names` where others have a title.
        let title = field("title")
            .and_then(pick_title)
            .or_else(|| field("names").and_then(pick_title));
        Self {
            id,
            doc_type,
            title,
            problem: None,
        }
    }

    /// The summary of a document that could not be read.
    pub(crate) fn unreadable(id: DocumentId, problem: String) -> Self {
        Self {
            id,
            doc_type: None,
            title: None,
            problem: Some(problem),
        }
    }
}

fn pick_title(title: Json) -> Option<String> {
    match title {
        Json::String(s) => Some(s),
        Json::Object(languages) => ["fr", "en", "ar"]
            .iter()
            .find_map(|lang| match languages.get(*lang) {
                Some(Json::String(s)) => Some(s.clone()),
                _ => None,
            })
            .or_else(|| {
                languages.values().find_map(|value| match value {
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                })
            }),
        _ => None,
    }
}

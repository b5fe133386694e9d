//! Frozen reports. Submitting a report records the heads of every document it reads in a
//! small report document (kept in the replica, so it syncs to Lille like any other):
//!
//! ```json
//! {"type": "report", "kind": "periodic", "status": "submitted", "project": "ID",
//!  "period": "2026-Q3", "submitted_by": "samira", "submitted_at": "2026-10-05T08:00:00Z",
//!  "sources": {"ID": ["<change hash hex>", …], …}}
//! ```
//!
//! Regenerating reads each recorded document as it was at those heads ([`at_heads`],
//! Automerge's `fork_at`) and nothing else, so the output is the same bytes whatever was
//! edited, added or linked since.

use std::collections::BTreeMap;

use automerge::{AutoCommit, ChangeHash};
use jiff::Timestamp;
use serde_json::{Value as Json, json};

use crate::error::ReportError;
use crate::period::Period;

/// The `type` of report documents.
pub const REPORT_TYPE: &str = "report";
/// The most documents one submission may record.
pub const MAX_SOURCES: usize = 10_000;
/// The most heads one document may have in a submission.
pub const MAX_HEADS: usize = 64;
const MAX_REF_LEN: usize = 100;

/// A submitted periodic report: what it covers and the heads of what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The project's document id.
    pub project: String,
    /// The period covered.
    pub period: Period,
    /// Who submitted it.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// Each document read, by id, and its heads then.
    pub sources: BTreeMap<String, Vec<ChangeHash>>,
}

impl Submission {
    /// The content of the report document that records it.
    pub fn to_json(&self) -> Json {
        let sources: serde_json::Map<String, Json> = self
            .sources
            .iter()
            .map(|(id, heads)| {
                let heads: Vec<Json> = heads.iter().map(|h| json!(h.to_string())).collect();
                (id.clone(), Json::Array(heads))
            })
            .collect();
        json!({
            "type": REPORT_TYPE,
            "kind": "periodic",
            "status": "submitted",
            "project": self.project,
            "period": self.period.to_string(),
            "submitted_by": self.by,
            "submitted_at": self.at.to_string(),
            "sources": sources,
        })
    }

    /// Reads a report document's content, checking every field (it came from the network).
    pub fn from_json(value: &Json) -> Result<Submission, ReportError> {
        let bad = |what: &str| ReportError::InvalidSubmission(what.to_owned());
        let text = |field: &str| -> Result<&str, ReportError> {
            value
                .get(field)
                .and_then(Json::as_str)
                .filter(|s| {
                    !s.is_empty() && s.len() <= MAX_REF_LEN && !s.chars().any(char::is_control)
                })
                .ok_or_else(|| bad(field))
        };
        if value.get("type").and_then(Json::as_str) != Some(REPORT_TYPE) {
            return Err(bad("type"));
        }
        if value.get("kind").and_then(Json::as_str) != Some("periodic") {
            return Err(bad("kind"));
        }
        let period = text("period")?
            .parse::<Period>()
            .map_err(|_| bad("period"))?;
        let at = text("submitted_at")?
            .parse::<Timestamp>()
            .map_err(|_| bad("submitted_at"))?;
        let object = value
            .get("sources")
            .and_then(Json::as_object)
            .filter(|o| !o.is_empty() && o.len() <= MAX_SOURCES)
            .ok_or_else(|| bad("sources"))?;
        let mut sources = BTreeMap::new();
        for (id, heads) in object {
            if id.is_empty() || id.len() > MAX_REF_LEN {
                return Err(bad("sources"));
            }
            let heads = heads
                .as_array()
                .filter(|h| h.len() <= MAX_HEADS)
                .ok_or_else(|| bad("sources"))?
                .iter()
                .map(|h| {
                    h.as_str()
                        .filter(|h| h.len() == 64)
                        .and_then(|h| h.parse::<ChangeHash>().ok())
                        .ok_or_else(|| bad("sources"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            sources.insert(id.clone(), heads);
        }
        let project = text("project")?.to_owned();
        if !sources.contains_key(&project) {
            return Err(bad("sources (the project is missing)"));
        }
        Ok(Submission {
            project,
            period,
            by: text("submitted_by")?.to_owned(),
            at,
            sources,
        })
    }
}

/// The document as it was at `heads`. An error when the document lacks one of them (a
/// replica that has not received that history yet).
pub fn at_heads(doc: &mut AutoCommit, heads: &[ChangeHash]) -> Result<AutoCommit, ReportError> {
    if let Some(missing) = heads.iter().find(|h| doc.get_change_by_hash(h).is_none()) {
        return Err(ReportError::MissingHistory(missing.to_string()));
    }
    doc.fork_at(heads)
        .map_err(|e| ReportError::MissingHistory(e.to_string()))
}

//! The funding call document: a call for proposals we watch or answer.

use automerge::AutoCommit;
use automerge::transaction::Transactable;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::json;

use super::{TypedDocument, path};
use crate::choices::CallStatus;
use crate::error::ModelError;
use crate::item_id::ItemId;
use crate::money::Money;
use crate::register::{Quantity, Register};
use crate::schema::DocType;
use crate::stamp::Stamp;
use crate::write::{Place, create, insert};

/// A call for proposals.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct FundingCall {
    #[serde(default)]
    pub title: String,
    pub funder: String,
    pub scheme: Option<String>,
    pub url: Option<String>,
    pub opens: Option<Date>,
    pub deadline: Option<Register<Date>>,
    #[serde(default)]
    pub eligibility: String,
    #[serde(default)]
    pub checklist: Vec<Criterion>,
    pub amount_min: Option<Money>,
    pub amount_max: Option<Money>,
    pub own_share_percent: Option<Quantity>,
    pub status: Option<Register<CallStatus>>,
    /// Documents to produce.
    #[serde(default)]
    pub deliverables: Vec<Deliverable>,
    #[serde(default)]
    pub draft: String,
    /// The linked project document.
    pub project: Option<String>,
}

impl TypedDocument for FundingCall {
    const DOC_TYPE: DocType = DocType::FundingCall;
}

impl FundingCall {
    /// Still open for us and closing within `days` days of `today` (or already past).
    pub fn closes_within(&self, today: Date, days: i64) -> bool {
        let live = self.status.as_ref().is_none_or(|s| {
            matches!(
                s.value(),
                CallStatus::Watching | CallStatus::Go | CallStatus::Drafting
            )
        });
        let Some(deadline) = &self.deadline else {
            return false;
        };
        live && today
            .until(*deadline.value())
            .map(|span| span.get_days() <= days as i32)
            .unwrap_or(false)
    }
}

/// An eligibility criterion and whether we meet it.
#[derive(Debug, Clone, Deserialize)]
pub struct Criterion {
    pub id: ItemId,
    #[serde(default)]
    pub criterion: String,
    pub met: Option<Register<bool>>,
}

/// A document to produce for the application.
#[derive(Debug, Clone, Deserialize)]
pub struct Deliverable {
    pub id: ItemId,
    #[serde(default)]
    pub title: String,
    pub done: Option<Register<bool>>,
}

/// Makes a new funding call (status `watching`).
pub fn new_funding_call(
    title: &str,
    funder: &str,
    deadline: Option<Date>,
    url: Option<&str>,
    stamp: &Stamp,
) -> Result<AutoCommit, ModelError> {
    let input = json!({
        "title": title, "funder": funder, "deadline": deadline.map(|d| d.to_string()), "url": url,
        "status": CallStatus::Watching.as_str(),
    });
    create(DocType::FundingCall, &input, stamp)
}

/// Adds an eligibility criterion; returns its id.
pub fn add_criterion<D: Transactable>(
    doc: &mut D,
    criterion: &str,
    met: bool,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    insert(
        doc,
        &path("checklist"),
        Place::End,
        &json!({"criterion": criterion, "met": met}),
        stamp,
    )
}

/// Adds a document to produce; returns its id.
pub fn add_deliverable<D: Transactable>(
    doc: &mut D,
    title: &str,
    stamp: &Stamp,
) -> Result<ItemId, ModelError> {
    insert(
        doc,
        &path("deliverables"),
        Place::End,
        &json!({"title": title, "done": false}),
        stamp,
    )
}

//! The typed documents, their reading, and the edit operations each type offers.

use automerge::{AutoCommit, ReadDoc};
use serde::de::DeserializeOwned;

use crate::error::ModelError;
use crate::field_path::FieldPath;
use crate::migrate::migrate;
use crate::read::read_json;
use crate::schema::DocType;

pub(crate) mod actor;
pub(crate) mod funding_call;
pub(crate) mod journal;
pub(crate) mod mission;
pub(crate) mod news_item;
pub(crate) mod project;

/// A document type with its typed view.
pub trait TypedDocument: DeserializeOwned {
    /// The type stored in the document's `type` field.
    const DOC_TYPE: DocType;

    /// Reads and checks a document of this type (current schema; see [`open`] for older
    /// ones). Errors name the field.
    fn read(doc: &impl ReadDoc) -> Result<Self, ModelError> {
        let (_, json) = read_json(doc, Some(Self::DOC_TYPE))?;
        serde_json::from_value(json)
            .map_err(|e| ModelError::invalid(Self::DOC_TYPE.name(), e.to_string()))
    }
}

/// Any document, typed.
#[derive(Debug, Clone)]
pub enum Document {
    /// A project.
    Project(Box<project::Project>),
    /// A mission.
    Mission(Box<mission::Mission>),
    /// A journal.
    Journal(journal::Journal),
    /// An actor.
    Actor(actor::Actor),
    /// A call for proposals.
    FundingCall(funding_call::FundingCall),
    /// A news item.
    NewsItem(news_item::NewsItem),
}

/// Checks a document whole (current schema) and returns its type.
pub fn validate(doc: &impl ReadDoc) -> Result<DocType, ModelError> {
    read_any(doc).map(|d| d.doc_type())
}

/// Reads any current-schema document into its typed view.
pub fn read_any(doc: &impl ReadDoc) -> Result<Document, ModelError> {
    let (doc_type, _) = crate::read::header(doc)?;
    Ok(match doc_type {
        DocType::Project => Document::Project(Box::new(project::Project::read(doc)?)),
        DocType::Mission => Document::Mission(Box::new(mission::Mission::read(doc)?)),
        DocType::Journal => Document::Journal(journal::Journal::read(doc)?),
        DocType::Actor => Document::Actor(actor::Actor::read(doc)?),
        DocType::FundingCall => Document::FundingCall(funding_call::FundingCall::read(doc)?),
        DocType::NewsItem => Document::NewsItem(news_item::NewsItem::read(doc)?),
    })
}

/// Opens a document: migrates it to the current schema if it is older (one deterministic
/// change, see [`migrate`]), then reads it.
pub fn open(doc: &mut AutoCommit) -> Result<Document, ModelError> {
    migrate(doc)?;
    read_any(&*doc)
}

impl Document {
    /// Its type.
    pub fn doc_type(&self) -> DocType {
        match self {
            Document::Project(_) => DocType::Project,
            Document::Mission(_) => DocType::Mission,
            Document::Journal(_) => DocType::Journal,
            Document::Actor(_) => DocType::Actor,
            Document::FundingCall(_) => DocType::FundingCall,
            Document::NewsItem(_) => DocType::NewsItem,
        }
    }
}

/// A path written in this crate's source.
pub(crate) fn path(text: &str) -> FieldPath {
    text.parse().unwrap_or_default()
}

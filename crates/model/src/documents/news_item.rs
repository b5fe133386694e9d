//! The news item document: one article of the news watch, its URL the dedupe key.

use automerge::AutoCommit;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::json;

use super::TypedDocument;
use crate::choices::{NewsLanguage, Relevance};
use crate::error::ModelError;
use crate::register::Register;
use crate::schema::DocType;
use crate::stamp::Stamp;
use crate::write::create;

/// A news item.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct NewsItem {
    /// The article's URL (two items with one URL are the same news).
    pub url: String,
    pub source: Option<String>,
    #[serde(default)]
    pub title: String,
    pub date: Option<Date>,
    pub language: Option<NewsLanguage>,
    #[serde(default)]
    pub summary: String,
    pub relevance: Option<Register<Relevance>>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub actors: Vec<String>,
}

impl TypedDocument for NewsItem {
    const DOC_TYPE: DocType = DocType::NewsItem;
}

/// Makes a new news item.
pub fn new_news_item(
    url: &str,
    title: &str,
    language: NewsLanguage,
    date: Option<Date>,
    source: Option<&str>,
    stamp: &Stamp,
) -> Result<AutoCommit, ModelError> {
    let input = json!({
        "url": url, "title": title, "language": language.as_str(), "date": date.map(|d| d.to_string()),
        "source": source, "relevance": Relevance::Medium.as_str(),
    });
    create(DocType::NewsItem, &input, stamp)
}

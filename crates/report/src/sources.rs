//! What a report reads: the typed documents, each with its document id, and when the report
//! was submitted, who submitted it.

use automerge::AutoCommit;
use jiff::Timestamp;
use passerelle_model::{Actor, Document, Journal, Mission, NewsItem, Project};

use crate::error::ReportError;

/// A typed document and its id (as the replica names it).
#[derive(Debug, Clone)]
pub struct Source<T> {
    /// The document id.
    pub id: String,
    /// The document, read.
    pub doc: T,
}

impl<T> Source<T> {
    /// `doc`, named `id`.
    pub fn new(id: impl Into<String>, doc: T) -> Self {
        Source { id: id.into(), doc }
    }
}

/// The documents a periodic report is made from. Callers may pass more than the report
/// needs (every mission, every journal): the report picks what concerns the project and the
/// period.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The project reported on.
    pub project: Source<Project>,
    /// Missions; those linked to the project are read.
    pub missions: Vec<Source<Mission>>,
    /// Field journals; entries linked to the project are read.
    pub journals: Vec<Source<Journal>>,
    /// Actors, to name the project's partners.
    pub actors: Vec<Source<Actor>>,
    /// News items; those linked to the project are read.
    pub news: Vec<Source<NewsItem>>,
}

impl Sources {
    /// Only the project.
    pub fn project(project: Source<Project>) -> Sources {
        Sources {
            project,
            missions: Vec::new(),
            journals: Vec::new(),
            actors: Vec::new(),
            news: Vec::new(),
        }
    }

    /// Sources from Automerge documents by id: `project_id`'s must be among them and be a
    /// project; the others are sorted by type (funding calls are not read). Each is opened
    /// with `passerelle_model::open`, which migrates an old schema in memory, the same way
    /// on every replica.
    pub fn from_documents(
        project_id: &str,
        documents: impl IntoIterator<Item = (String, AutoCommit)>,
    ) -> Result<Sources, ReportError> {
        let mut project = None;
        let (mut missions, mut journals, mut actors, mut news) = (vec![], vec![], vec![], vec![]);
        for (id, mut doc) in documents {
            match passerelle_model::open(&mut doc)? {
                Document::Project(p) if id == project_id => project = Some(Source::new(id, *p)),
                Document::Mission(m) => missions.push(Source::new(id, *m)),
                Document::Journal(j) => journals.push(Source::new(id, j)),
                Document::Actor(a) => actors.push(Source::new(id, a)),
                Document::NewsItem(n) => news.push(Source::new(id, n)),
                Document::Project(_) | Document::FundingCall(_) => {}
            }
        }
        let project = project.ok_or_else(|| ReportError::NotAProject(project_id.to_owned()))?;
        Ok(Sources {
            project,
            missions,
            journals,
            actors,
            news,
        })
    }

    /// Whether `reference` (a document id, or the project's code) names the project.
    pub fn names_project(&self, reference: &str) -> bool {
        let reference = reference.trim();
        reference == self.project.id
            || (!self.project.doc.code.is_empty()
                && reference.eq_ignore_ascii_case(&self.project.doc.code))
    }

    /// The ids of the documents a report on this project reads: the project, its missions,
    /// the journals with entries about it, the actors it names and its news. A submission
    /// records their heads.
    pub fn read_ids(&self) -> Vec<&str> {
        let mut ids = vec![self.project.id.as_str()];
        ids.extend(
            self.missions
                .iter()
                .filter(|m| m.doc.projects.iter().any(|p| self.names_project(p)))
                .map(|m| m.id.as_str()),
        );
        ids.extend(
            self.journals
                .iter()
                .filter(|j| {
                    j.doc
                        .entries
                        .iter()
                        .any(|e| e.project.as_deref().is_some_and(|p| self.names_project(p)))
                })
                .map(|j| j.id.as_str()),
        );
        let project = &self.project.doc;
        ids.extend(
            self.actors
                .iter()
                .filter(|a| project.lead.contains(&a.id) || project.partners.contains(&a.id))
                .map(|a| a.id.as_str()),
        );
        ids.extend(
            self.news
                .iter()
                .filter(|n| n.doc.projects.iter().any(|p| self.names_project(p)))
                .map(|n| n.id.as_str()),
        );
        ids
    }
}

/// Who submitted a report and when: shown in its identification, so a frozen report says
/// which version it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The report document's id.
    pub report_id: String,
    /// Who submitted it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

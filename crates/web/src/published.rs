//! [`Published`]: what the public page may show of a document, and nothing more.
//!
//! The public page is read without signing in, so what it may read is defined here, once,
//! for both backends: a project or a mission whose `public` register is true (every
//! concurrent value of it; see `Project::is_public`), cut down to the fields fit for
//! citizens — title, status, dates, place (a mission's direction), the objectives or the
//! purpose, and the partner organisations' names. Budgets, expenses, co-financing, the
//! delegation's people, contacts, agenda, minutes, logistics and actions never enter a
//! [`Published`], so no template can show them. A partner named by an actor document is
//! shown by that organisation's name only, and only if the actor is an organisation (a
//! person is never named).

use std::collections::HashMap;

use automerge::AutoCommit;
use jiff::civil::Date;
use passerelle_core::DocumentId;
use passerelle_model::{ActorKind, Document, Localized};

/// The kind of a published document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedKind {
    /// A project.
    Project,
    /// A mission.
    Mission,
}

/// A published project or mission, cut down to what the public page shows.
#[derive(Debug, Clone)]
pub struct Published {
    /// The document.
    pub id: DocumentId,
    /// Project or mission.
    pub kind: PublishedKind,
    /// Its title per language.
    pub title: Localized,
    /// The status word (`ongoing`, `confirmed`…).
    pub status: Option<String>,
    /// First day.
    pub start: Option<Date>,
    /// Last day.
    pub end: Option<Date>,
    /// Where: a mission's direction (`Lille → Oujda`).
    pub place: Option<String>,
    /// What it is for: a project's objectives, a mission's purpose.
    pub summary: Vec<String>,
    /// The partner organisations' names.
    pub partners: Vec<String>,
    /// Partners named by an actor document, not yet resolved to a name.
    unresolved: Vec<DocumentId>,
}

/// The most partners shown per document.
const MAX_PARTNERS: usize = 50;

impl Published {
    /// The published view of `doc`, if it is a published project or mission (`None` for
    /// anything else: private, another type, unreadable). Opens the document (an older
    /// schema is migrated in memory only).
    pub fn from_doc(id: DocumentId, doc: &mut AutoCommit) -> Option<Published> {
        let typed = passerelle_model::open(doc).ok()?;
        let mut published = match typed {
            Document::Project(p) if p.is_public() => Published {
                id,
                kind: PublishedKind::Project,
                title: p.title.clone(),
                status: p.status.as_ref().map(|s| s.value().to_string()),
                start: p.start.as_ref().map(|d| *d.value()),
                end: p.end.as_ref().map(|d| *d.value()),
                place: None,
                summary: p
                    .objectives
                    .iter()
                    .map(|o| o.text.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect(),
                partners: Vec::new(),
                unresolved: Vec::new(),
            }
            .with_partners(p.lead.iter().chain(&p.partners)),
            Document::Mission(m) if m.is_public() => Published {
                id,
                kind: PublishedKind::Mission,
                title: m.title.clone(),
                status: m.status.as_ref().map(|s| s.value().to_string()),
                start: m.start.as_ref().map(|d| *d.value()),
                end: m.end.as_ref().map(|d| *d.value()),
                place: m.direction.map(|d| {
                    match d {
                        passerelle_model::Direction::LilleToOujda => "Lille → Oujda",
                        passerelle_model::Direction::OujdaToLille => "Oujda → Lille",
                    }
                    .to_owned()
                }),
                summary: Some(m.purpose.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .into_iter()
                    .collect(),
                partners: Vec::new(),
                unresolved: Vec::new(),
            }
            .with_partners(m.delegation.iter().filter_map(|d| d.organisation.as_ref())),
            _ => return None,
        };
        published.partners.truncate(MAX_PARTNERS);
        Some(published)
    }

    /// Adds partners: a name as written, or an actor document id to resolve.
    fn with_partners<'a>(mut self, partners: impl Iterator<Item = &'a String>) -> Self {
        for partner in partners {
            let partner = partner.trim();
            if partner.is_empty() {
                continue;
            }
            match partner.parse::<DocumentId>() {
                Ok(id) => {
                    if !self.unresolved.contains(&id) && self.unresolved.len() < MAX_PARTNERS {
                        self.unresolved.push(id);
                    }
                }
                Err(_) => {
                    if !self.partners.iter().any(|p| p == partner) {
                        self.partners.push(partner.to_owned());
                    }
                }
            }
        }
        self
    }

    /// The actor documents this document names as partners: the backend reads each and
    /// passes [`organisation_name`]'s answers to [`Published::resolve`].
    pub fn partner_ids(&self) -> &[DocumentId] {
        &self.unresolved
    }

    /// Replaces the partner ids by the organisations' names; an id without a name (a
    /// person, a missing document) is dropped.
    pub fn resolve(&mut self, names: &HashMap<DocumentId, String>) {
        for id in std::mem::take(&mut self.unresolved) {
            if let Some(name) = names.get(&id)
                && !self.partners.contains(name)
            {
                self.partners.push(name.clone());
            }
        }
        self.partners.truncate(MAX_PARTNERS);
    }
}

/// The name of an organisation's actor document (French, else Latin script, else Arabic);
/// `None` for a person or anything that is not an actor.
pub fn organisation_name(doc: &mut AutoCommit) -> Option<String> {
    match passerelle_model::open(doc).ok()? {
        Document::Actor(a) if a.kind == ActorKind::Organisation => a
            .names
            .preferred(&["fr", "latin", "ar"])
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use passerelle_model::{Direction, Stamp, mission, project};
    use serde_json::json;

    fn stamp() -> Stamp {
        Stamp::new("samira", Timestamp::UNIX_EPOCH)
    }

    fn id() -> DocumentId {
        DocumentId::random()
    }

    fn publish(doc: &mut AutoCommit) {
        passerelle_model::set(doc, &"public".parse().unwrap(), &json!(true), &stamp()).unwrap();
    }

    fn a_project() -> AutoCommit {
        let mut doc =
            project::new_project(&project::NewProject::new("PAED", "Plan énergie"), &stamp())
                .unwrap();
        project::add_budget_line(
            &mut doc,
            "Personnel",
            None,
            Some("98765.00 EUR".parse().unwrap()),
            &stamp(),
        )
        .unwrap();
        passerelle_model::add_member(&mut doc, &"partners".parse().unwrap(), "RADEEO", &stamp())
            .unwrap();
        doc
    }

    #[test]
    fn a_private_document_is_not_published_and_a_public_one_keeps_only_public_fields() {
        let mut doc = a_project();
        assert!(Published::from_doc(id(), &mut doc).is_none(), "private");
        publish(&mut doc);
        let shown = Published::from_doc(id(), &mut doc).expect("published");
        assert_eq!(shown.kind, PublishedKind::Project);
        assert_eq!(shown.title.get("fr"), Some("Plan énergie"));
        assert_eq!(shown.partners, vec!["RADEEO".to_owned()]);
        // Nothing of the budget is in the published view.
        assert!(!format!("{shown:?}").contains("98765"));
        assert!(!format!("{shown:?}").contains("Personnel"));
    }

    #[test]
    fn a_mission_shows_its_direction_and_partner_organisations_not_its_people() {
        let mut doc = mission::new_mission(
            &mission::NewMission {
                direction: Direction::OujdaToLille,
                title: vec![("fr".into(), "Visite".into())],
                start: None,
                end: None,
            },
            &stamp(),
        )
        .unwrap();
        passerelle_model::insert(
            &mut doc,
            &"delegation".parse().unwrap(),
            passerelle_model::Place::End,
            &json!({"person": "Karim Benali", "organisation": "Commune d'Oujda"}),
            &stamp(),
        )
        .unwrap();
        publish(&mut doc);
        let shown = Published::from_doc(id(), &mut doc).expect("published");
        assert_eq!(shown.place.as_deref(), Some("Oujda → Lille"));
        assert_eq!(shown.partners, vec!["Commune d'Oujda".to_owned()]);
        assert!(!format!("{shown:?}").contains("Karim"));
    }

    #[test]
    fn partner_ids_resolve_to_organisation_names_and_unknown_ones_are_dropped() {
        let (org, person) = (DocumentId::random(), DocumentId::random());
        let mut doc = a_project();
        for member in [org, person] {
            passerelle_model::add_member(
                &mut doc,
                &"partners".parse().unwrap(),
                &member.to_string(),
                &stamp(),
            )
            .unwrap();
        }
        publish(&mut doc);
        let mut shown = Published::from_doc(id(), &mut doc).unwrap();
        assert_eq!(shown.partner_ids().len(), 2);
        shown.resolve(&HashMap::from([(org, "Ville de Lille".to_owned())]));
        assert_eq!(
            shown.partners,
            vec!["RADEEO".to_owned(), "Ville de Lille".to_owned()]
        );
        assert!(shown.partner_ids().is_empty());

        let actor = |kind, name: &str| {
            passerelle_model::actor::new_actor(
                &passerelle_model::actor::NewActor {
                    kind,
                    category: None,
                    names: vec![("fr".into(), name.into())],
                    basis: Some(passerelle_model::LegalBasis::LegitimateInterest),
                },
                &stamp(),
            )
            .unwrap()
        };
        let mut samira = actor(ActorKind::Person, "Samira");
        assert_eq!(
            organisation_name(&mut samira),
            None,
            "a person is never named"
        );
        let mut lille = actor(ActorKind::Organisation, "Ville de Lille");
        assert_eq!(
            organisation_name(&mut lille).as_deref(),
            Some("Ville de Lille")
        );
    }
}

//! [`Edit`]: one change asked for by a page, and how it is made so that nobody's concurrent
//! work is lost.
//!
//! A page sends the document heads it rendered the field at. The edit is made on a fork of
//! the document at those heads — a text field's new value becomes the minimal insertions and
//! deletions against the text the page showed (`passerelle_model::set` on a text) — and the
//! fork is then merged into the current document. Two people typing in the same minutes
//! therefore both keep their words, and a register written from a stale page stands beside
//! the other value as a conflict instead of silently replacing it.

use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ChangeHash};
use jiff::Timestamp;
use passerelle_model::{FieldPath, ItemId, Place, Project, Segment, Stamp, TypedDocument};
use serde::Deserialize;
use serde_json::Value as Json;

/// The most heads a page may send (a document rarely has more than a handful).
pub(crate) const MAX_HEADS: usize = 64;

/// One change asked for by a page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Edit {
    /// The document heads the page rendered the field at (hex); empty: the current ones.
    #[serde(default)]
    pub(crate) heads: Vec<String>,
    /// What to do.
    pub(crate) op: Op,
    /// The field (`meetings[ID].minutes`), list (`agenda`) or item (`agenda[ID]`).
    pub(crate) path: String,
    /// `set`: the new value; `insert`: the new item (an object).
    #[serde(default)]
    pub(crate) value: Json,
}

/// The kind of an [`Edit`].
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Op {
    /// Set a field: text (merged), register, plain value.
    Set,
    /// Add an item at the end of a list.
    Insert,
    /// Remove a list item.
    Remove,
    /// Choose the value of a conflicting register (recorded in the document).
    Resolve,
}

/// Why an edit was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EditError {
    /// The request is malformed, or the model refuses the change (the message names the
    /// field).
    #[error("{0}")]
    Invalid(String),
    /// The page's heads are not in the document: reload the page.
    #[error("the page is out of date; reload it")]
    Stale,
}

/// The edit made: the merged document, and the heads of the fork the edit was made on (what
/// the page now shows for the field: its next edit of the field starts from them).
#[derive(Debug)]
pub(crate) struct Made {
    pub(crate) doc: AutoCommit,
    pub(crate) field_heads: Vec<ChangeHash>,
}

/// Makes `edit` on `doc` (already opened: migrated to the current schema) for `by`.
pub(crate) fn make(mut doc: AutoCommit, edit: &Edit, by: &str) -> Result<Made, EditError> {
    if edit.heads.len() > MAX_HEADS {
        return Err(EditError::Invalid(format!(
            "at most {MAX_HEADS} heads, not {}",
            edit.heads.len()
        )));
    }
    let mut heads = Vec::with_capacity(edit.heads.len());
    for head in &edit.heads {
        let hash: ChangeHash = head
            .parse()
            .map_err(|_| EditError::Invalid(format!("`{head}` is not a change hash")))?;
        if doc.get_change_by_hash(&hash).is_none() {
            return Err(EditError::Stale);
        }
        heads.push(hash);
    }
    let path: FieldPath = edit
        .path
        .parse()
        .map_err(|e| EditError::Invalid(format!("{e}")))?;
    let stamp = Stamp::new(by, Timestamp::now());
    let mut fork = if heads.is_empty() {
        doc.fork()
    } else {
        doc.fork_at(&heads).map_err(|_| EditError::Stale)?
    };
    let invalid = |e: passerelle_model::ModelError| EditError::Invalid(e.to_string());
    match edit.op {
        Op::Set => passerelle_model::set(&mut fork, &path, &edit.value, &stamp).map_err(invalid)?,
        Op::Insert => {
            if !edit.value.is_object() {
                return Err(EditError::Invalid("an item must be an object".into()));
            }
            let item = stamped(&path, &edit.value, &stamp);
            passerelle_model::insert(&mut fork, &path, Place::End, &item, &stamp)
                .map_err(invalid)?;
            check_measurement(&fork, &path, &item)?;
        }
        Op::Remove => passerelle_model::remove_item(&mut fork, &path, &stamp).map_err(invalid)?,
        Op::Resolve => {
            let Some(value) = edit.value.as_str() else {
                return Err(EditError::Invalid(
                    "the chosen value must be a string".into(),
                ));
            };
            passerelle_model::resolve(&mut fork, &path, value, &stamp).map_err(invalid)?;
        }
    }
    // The change carries its time (advisory in Automerge; the history page shows it).
    fork.commit_with(CommitOptions::default().with_time(stamp.at.as_second()));
    let field_heads = fork.get_heads();
    doc.merge(&mut fork)
        .map_err(|e| EditError::Invalid(e.to_string()))?;
    passerelle_model::validate(&doc).map_err(invalid)?;
    Ok(Made { doc, field_heads })
}

/// An entry of a log that records who wrote it and when (a journal entry, a project's
/// measurement) gets the editor and the time from the server, whatever the page sent.
fn stamped(path: &FieldPath, item: &Json, stamp: &Stamp) -> Json {
    let mut item = item.clone();
    let (Some(fields), [Segment::Field(list)]) = (item.as_object_mut(), path.segments()) else {
        return item;
    };
    let who = match list.as_str() {
        "entries" => "author",
        "measurements" => "by",
        _ => return item,
    };
    fields.insert(who.to_owned(), Json::String(stamp.by.clone()));
    fields.insert("at".to_owned(), Json::String(stamp.at.to_string()));
    item
}

/// A measurement must name an indicator of the project's logframe.
fn check_measurement(doc: &AutoCommit, path: &FieldPath, item: &Json) -> Result<(), EditError> {
    if !matches!(path.segments(), [Segment::Field(list)] if list == "measurements") {
        return Ok(());
    }
    let Ok(project) = Project::read(doc) else {
        return Ok(()); // not a project: the model refused or will refuse the field
    };
    let indicator = item
        .get("indicator")
        .and_then(Json::as_str)
        .and_then(|i| i.parse::<ItemId>().ok());
    match indicator {
        Some(id) if project.indicator(&id).is_some() => Ok(()),
        _ => Err(EditError::Invalid(
            "project.measurements.indicator: no such indicator in the logframe".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_model::{Direction, Mission, TypedDocument, mission};

    fn minutes_doc() -> (AutoCommit, String) {
        let stamp = Stamp::new("samira", Timestamp::UNIX_EPOCH);
        let mut doc = mission::new_mission(
            &mission::NewMission {
                direction: Direction::LilleToOujda,
                title: vec![("fr".into(), "Mission".into())],
                start: None,
                end: None,
            },
            &stamp,
        )
        .unwrap();
        let id = mission::add_meeting(&mut doc, "Régie", &[], &stamp).unwrap();
        passerelle_model::set(
            &mut doc,
            &format!("meetings[{id}].minutes").parse().unwrap(),
            &"Ouverture.".into(),
            &stamp,
        )
        .unwrap();
        (doc, format!("meetings[{id}].minutes"))
    }

    fn heads_of(doc: &mut AutoCommit) -> Vec<String> {
        doc.get_heads().iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn two_edits_of_the_same_minutes_from_the_same_page_state_keep_both() {
        let (mut doc, path) = minutes_doc();
        let shown = heads_of(&mut doc);
        let edit = |value: &str| Edit {
            heads: shown.clone(),
            op: Op::Set,
            path: path.clone(),
            value: value.into(),
        };
        let first = make(doc, &edit("Ouverture. Claire: budget."), "claire").unwrap();
        let second = make(first.doc, &edit("Ouverture. Youssef: visite."), "youssef").unwrap();
        let mut doc = second.doc;
        let minutes = Mission::read(&doc).unwrap().meetings[0].minutes.clone();
        assert!(minutes.contains("Claire: budget."), "{minutes}");
        assert!(minutes.contains("Youssef: visite."), "{minutes}");
        assert!(minutes.starts_with("Ouverture."), "{minutes}");
        // The heads returned for the field hold the field as that page now shows it.
        let at = doc.fork_at(&second.field_heads).unwrap();
        assert_eq!(
            Mission::read(&at).unwrap().meetings[0].minutes,
            "Ouverture. Youssef: visite."
        );
    }

    #[test]
    fn unknown_heads_are_stale_and_bad_input_is_invalid() {
        let (doc, path) = minutes_doc();
        let stale = Edit {
            heads: vec!["ab".repeat(32)],
            op: Op::Set,
            path: path.clone(),
            value: "x".into(),
        };
        assert!(matches!(
            make(doc.clone(), &stale, "a"),
            Err(EditError::Stale)
        ));
        let not_a_hash = Edit {
            heads: vec!["zz".into()],
            ..stale
        };
        assert!(matches!(
            make(doc.clone(), &not_a_hash, "a"),
            Err(EditError::Invalid(_))
        ));
        let bad_field = Edit {
            heads: vec![],
            op: Op::Set,
            path: "no_such_field".into(),
            value: "x".into(),
        };
        assert!(matches!(
            make(doc.clone(), &bad_field, "a"),
            Err(EditError::Invalid(_))
        ));
        let bad_item = Edit {
            heads: vec![],
            op: Op::Insert,
            path: "agenda".into(),
            value: "not an object".into(),
        };
        assert!(matches!(
            make(doc, &bad_item, "a"),
            Err(EditError::Invalid(_))
        ));
    }

    #[test]
    fn a_conflict_is_resolved_with_one_edit() {
        let (mut doc, _) = minutes_doc();
        let mut other = doc.fork();
        let at = |who| Stamp::new(who, Timestamp::UNIX_EPOCH);
        let status = "status".parse().unwrap();
        passerelle_model::set(&mut doc, &status, &"planned".into(), &at("claire")).unwrap();
        passerelle_model::set(&mut other, &status, &"confirmed".into(), &at("youssef")).unwrap();
        doc.merge(&mut other).unwrap();
        assert_eq!(passerelle_model::conflicts(&doc).unwrap().len(), 1);
        let heads = heads_of(&mut doc);
        let edit = Edit {
            heads,
            op: Op::Resolve,
            path: "status".into(),
            value: "confirmed".into(),
        };
        let made = make(doc, &edit, "samira").unwrap();
        assert!(passerelle_model::conflicts(&made.doc).unwrap().is_empty());
        let mission = Mission::read(&made.doc).unwrap();
        assert_eq!(mission.status.unwrap().value().as_str(), "confirmed");
    }

    #[test]
    fn a_measurement_and_a_journal_entry_are_stamped_by_the_server() {
        use passerelle_model::{Journal, journal, project};
        let stamp = Stamp::new("samira", Timestamp::UNIX_EPOCH);
        let mut doc =
            project::new_project(&project::NewProject::new("PAED", "Plan"), &stamp).unwrap();
        let result =
            project::add_result(&mut doc, passerelle_model::Level::Outcome, "Moins", &stamp)
                .unwrap();
        let indicator = project::add_indicator(
            &mut doc,
            &result,
            &project::NewIndicator {
                name: "Bâtiments rénovés".into(),
                ..Default::default()
            },
            &stamp,
        )
        .unwrap();
        let measure = |indicator: &str| Edit {
            heads: vec![],
            op: Op::Insert,
            path: "measurements".into(),
            value: serde_json::json!({
                "indicator": indicator, "period": "2026-Q4", "value": "7",
                "by": "someone else", "at": "2000-01-01T00:00:00Z",
            }),
        };
        let made = make(doc.clone(), &measure(indicator.as_str()), "youssef").unwrap();
        let p = Project::read(&made.doc).unwrap();
        assert_eq!(p.measurements.len(), 1);
        assert_eq!(p.measurements[0].by, "youssef");
        assert_ne!(p.measurements[0].at.to_string(), "2000-01-01T00:00:00Z");
        assert_eq!(p.measurements[0].value.as_str(), "7");
        // An indicator that is not in the logframe is refused.
        assert!(matches!(
            make(doc, &measure("nosuchindicator"), "youssef"),
            Err(EditError::Invalid(_))
        ));

        let log = journal::new_journal("Oujda", &stamp).unwrap();
        let entry = Edit {
            heads: vec![],
            op: Op::Insert,
            path: "entries".into(),
            value: serde_json::json!({"body": "Visite du chantier.", "place": "Oujda"}),
        };
        let made = make(log, &entry, "youssef").unwrap();
        let j = Journal::read(&made.doc).unwrap();
        assert_eq!(j.entries[0].author, "youssef");
        assert_eq!(j.entries[0].body, "Visite du chantier.");
        // Only its author edits an entry.
        let edit = |by| {
            let e = Edit {
                heads: vec![],
                op: Op::Set,
                path: format!("entries[{}].body", j.entries[0].id),
                value: "Changé.".into(),
            };
            make(made.doc.clone(), &e, by)
        };
        assert!(matches!(edit("claire"), Err(EditError::Invalid(_))));
        assert!(edit("youssef").is_ok());
    }

    #[test]
    fn an_inserted_agenda_item_is_read_back() {
        let (doc, _) = minutes_doc();
        let edit = Edit {
            heads: vec![],
            op: Op::Insert,
            path: "agenda".into(),
            value: serde_json::json!({"title": "Visite de la régie", "place": "Oujda"}),
        };
        let made = make(doc, &edit, "claire").unwrap();
        let mission = Mission::read(&made.doc).unwrap();
        assert_eq!(mission.agenda[0].title, "Visite de la régie");
        assert_eq!(mission.agenda[0].place.as_deref(), Some("Oujda"));
    }
}

//! Schema 1 (the untyped JSON shape `passerelle new --json` wrote, as in the demo) is
//! migrated to the current schema when a document is opened.

use crate::common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use common::{p, replica, samira, sync};
use passerelle_model::{
    CURRENT_SCHEMA, Document, MIGRATION_AUTHOR, Mission, MissionStatus, ModelError, TypedDocument,
    conflicts, header, open, set,
};
use serde_json::json;

/// The demo's mission as `passerelle new` + `passerelle append` wrote it (client/src/json.rs:
/// maps, lists, plain strings, no `schema`).
fn v1_mission() -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "type", "mission").unwrap();
    let title = doc.put_object(ROOT, "title", ObjType::Map).unwrap();
    doc.put(&title, "fr", "Mission Lille → Oujda").unwrap();
    doc.put(&title, "ar", "بعثة ليل إلى وجدة").unwrap();
    doc.put(ROOT, "status", "draft").unwrap();
    doc.put(ROOT, "owner_note", "kept as is").unwrap();
    let agenda = doc.put_object(ROOT, "agenda", ObjType::List).unwrap();
    for (i, (when, title)) in [
        ("lundi", "Visite de la régie de quartier"),
        (
            "2026-05-12T09:30[Africa/Casablanca]",
            "Rencontre avec l'Université Mohammed Ier",
        ),
        ("mercredi", "Accueil de la délégation lilloise"),
    ]
    .into_iter()
    .enumerate()
    {
        let item = doc.insert_object(&agenda, i, ObjType::Map).unwrap();
        doc.put(&item, "when", when).unwrap();
        doc.put(&item, "title", title).unwrap();
    }
    doc.commit();
    doc
}

#[test]
fn a_schema_1_mission_is_migrated_on_open() -> anyhow::Result<()> {
    let mut doc = v1_mission();
    assert_eq!(header(&doc)?.1, 1);
    assert!(matches!(
        Mission::read(&doc),
        Err(ModelError::NeedsMigration { found: 1, .. })
    ));
    let Document::Mission(mission) = open(&mut doc)? else {
        panic!("a mission")
    };
    assert_eq!(header(&doc)?.1, CURRENT_SCHEMA);
    assert_eq!(mission.title.get("fr"), Some("Mission Lille → Oujda"));
    assert_eq!(mission.title.get("ar"), Some("بعثة ليل إلى وجدة"));
    let status = mission.status.as_ref().unwrap();
    assert_eq!(*status.value(), MissionStatus::Draft);
    assert_eq!(status.current().by, MIGRATION_AUTHOR);
    let ids: Vec<String> = mission.agenda.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(
        ids,
        vec!["v1-0", "v1-1", "v1-2"],
        "ids in order, list order kept"
    );
    assert_eq!(mission.agenda[0].title, "Visite de la régie de quartier");
    assert_eq!(
        mission.agenda[0].notes, "when: lundi",
        "a free-form day is kept in the notes"
    );
    assert!(mission.agenda[0].starts_at.is_none());
    assert_eq!(
        mission.agenda[1]
            .starts_at
            .as_ref()
            .unwrap()
            .value()
            .to_string(),
        "2026-05-12T09:30[Africa/Casablanca]"
    );
    // Unknown root fields are left alone.
    assert!(doc.get(ROOT, "owner_note")?.is_some());
    // The migrated fields now merge as the current schema says: titles are text.
    let mut other = replica(&mut doc);
    set(
        &mut doc,
        &p("title.fr"),
        &json!("Mission Lille → Oujda, mai"),
        &samira(),
    )?;
    set(
        &mut other,
        &p("title.fr"),
        &json!("Grande mission Lille → Oujda"),
        &samira(),
    )?;
    sync(&mut doc, &mut other);
    assert_eq!(
        Mission::read(&doc)?.title.get("fr"),
        Some("Grande mission Lille → Oujda, mai")
    );
    // Opening again changes nothing.
    let heads = doc.get_heads();
    open(&mut doc)?;
    assert_eq!(doc.get_heads(), heads);
    Ok(())
}

#[test]
fn two_replicas_migrating_the_same_document_make_the_same_change() -> anyhow::Result<()> {
    let mut a = v1_mission();
    let mut b = replica(&mut a);
    open(&mut a)?;
    open(&mut b)?;
    assert_eq!(
        a.get_heads(),
        b.get_heads(),
        "one identical migration change"
    );
    sync(&mut a, &mut b);
    let merged = Mission::read(&a)?;
    assert_eq!(merged.agenda.len(), 3, "no duplicated items");
    assert!(conflicts(&a)?.is_empty());
    Ok(())
}

#[test]
fn invalid_schema_1_data_names_the_field_and_writes_nothing() -> anyhow::Result<()> {
    let mut doc = v1_mission();
    doc.put(ROOT, "status", "maybe")?;
    doc.commit();
    let heads = doc.get_heads();
    let err = open(&mut doc).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mission.status: expected one of: draft, planned, confirmed, done, cancelled"
    );
    assert_eq!(doc.get_heads(), heads, "nothing written");
    assert_eq!(header(&doc)?.1, 1);
    Ok(())
}

#[test]
fn newer_schemas_and_unknown_types_are_refused() -> anyhow::Result<()> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "type", "mission")?;
    doc.put(ROOT, "schema", 99u64)?;
    assert!(matches!(
        open(&mut doc),
        Err(ModelError::TooNew { found: 99, .. })
    ));
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "type", "spreadsheet")?;
    assert_eq!(
        open(&mut doc).unwrap_err().to_string(),
        "document.type: expected one of: project, mission, journal, actor, funding_call, news_item"
    );
    Ok(())
}

//! Invalid input and invalid stored data give errors that name the field; Arabic text
//! round-trips exactly through save and load.

use crate::common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use common::{p, samira};
use passerelle_model::{Actor, Direction};
use passerelle_model::{
    ActorKind, DocType, Journal, LegalBasis, Mission, ModelError, Place, TypedDocument, actor,
    create, insert, journal, mission, set, validate,
};
use serde_json::json;

fn mission_doc() -> AutoCommit {
    mission::new_mission(
        &mission::NewMission {
            direction: Direction::LilleToOujda,
            title: vec![],
            start: None,
            end: None,
        },
        &samira(),
    )
    .unwrap()
}

#[test]
fn invalid_input_names_the_field() -> anyhow::Result<()> {
    let mut doc = mission_doc();
    let item = mission::add_agenda_item(&mut doc, Place::End, None, "Visite", None, &samira())?;
    let cases = [
        (
            format!("agenda[{item}].starts_at"),
            json!("2026-05-12"),
            format!(
                "mission.agenda[{item}].starts_at: expected a date-time like 2026-05-12T09:30[Africa/Casablanca] (zones: Europe/Paris, Africa/Casablanca, UTC)"
            ),
        ),
        (
            "start".to_owned(),
            json!("12/05/2026"),
            "mission.start: expected a date YYYY-MM-DD".to_owned(),
        ),
        (
            "status".to_owned(),
            json!("maybe"),
            "mission.status: expected one of: draft, planned, confirmed, done, cancelled"
                .to_owned(),
        ),
        (
            "direction".to_owned(),
            json!(3),
            "mission.direction: expected one of: lille_to_oujda, oujda_to_lille".to_owned(),
        ),
        (
            "title.de".to_owned(),
            json!("Mission"),
            "mission.title.de: no such field".to_owned(),
        ),
        (
            "budget".to_owned(),
            json!("1"),
            "mission.budget: no such field".to_owned(),
        ),
        (
            "agenda[nosuchitem].title".to_owned(),
            json!("x"),
            "mission.agenda[nosuchitem].title: no such item".to_owned(),
        ),
    ];
    for (path, value, expected) in cases {
        let err = set(&mut doc, &p(&path), &value, &samira()).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // A new item with a bad field, or without a required one.
    let err = insert(
        &mut doc,
        &p("logistics"),
        Place::End,
        &json!({"kind": "flight", "cost": "300"}),
        &samira(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("mission.logistics[")
            && err.to_string().ends_with(
                "].cost: expected an amount with its currency, like 1250.00 EUR or 300 MAD"
            ),
        "{err}"
    );
    let err = insert(
        &mut doc,
        &p("logistics"),
        Place::End,
        &json!({"details": "vol"}),
        &samira(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ModelError::Missing { path } if path.ends_with("].kind")),
        "{err}"
    );
    let err = create(DocType::Project, &json!({"code": "X", "expenses": [{"line": "a", "date": "2026-01-01", "amount": "5 USD", "by": "s", "at": "2026-01-01T00:00:00Z"}]}), &samira()).unwrap_err();
    assert!(
        err.to_string()
            .contains("].amount: expected an amount with its currency"),
        "{err}"
    );
    // Nothing invalid was written.
    validate(&doc)?;
    Ok(())
}

#[test]
fn invalid_stored_data_names_the_field() -> anyhow::Result<()> {
    // Another client wrote a bad date into an agenda item; reading names it.
    let mut doc = mission_doc();
    let item = mission::add_agenda_item(
        &mut doc,
        Place::End,
        Some("2026-05-12T09:30[Europe/Paris]".parse()?),
        "Visite",
        None,
        &samira(),
    )?;
    let agenda = match doc.get(ROOT, "agenda")? {
        Some((_, id)) => id,
        None => panic!(),
    };
    let item_obj = match doc.get(&agenda, item.as_str())? {
        Some((_, id)) => id,
        None => panic!(),
    };
    let register = doc.put_object(&item_obj, "starts_at", ObjType::Map)?;
    doc.put(&register, "value", "mardi")?;
    let err = Mission::read(&doc).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "mission.agenda[{item}].starts_at: expected a date-time"
        )),
        "{err}"
    );
    assert_eq!(
        err.path(),
        Some(format!("mission.agenda[{item}].starts_at").as_str())
    );

    // A text field holding a plain string, an item keyed by a bad id.
    let mut doc = mission_doc();
    doc.put(ROOT, "purpose", "plain string")?;
    assert_eq!(
        validate(&doc).unwrap_err().to_string(),
        "mission.purpose: expected text"
    );
    let mut doc = mission_doc();
    let actions = doc.put_object(ROOT, "actions", ObjType::Map)?;
    doc.put_object(&actions, "Not An Id", ObjType::Map)?;
    assert!(
        validate(&doc)
            .unwrap_err()
            .to_string()
            .starts_with("mission.actions: expected items keyed by id")
    );
    // A journal entry without its author.
    let mut doc = journal::new_journal("J", &samira())?;
    let entry = journal::add_entry(
        &mut doc,
        &journal::NewEntry {
            body: "x".into(),
            ..Default::default()
        },
        &samira(),
    )?;
    let entries = match doc.get(ROOT, "entries")? {
        Some((_, id)) => id,
        None => panic!(),
    };
    let entry_obj = match doc.get(&entries, entry.as_str())? {
        Some((_, id)) => id,
        None => panic!(),
    };
    doc.delete(&entry_obj, "author")?;
    assert_eq!(
        Journal::read(&doc).unwrap_err().to_string(),
        format!("journal.entries[{entry}].author: missing")
    );
    // The wrong type.
    assert!(matches!(
        Journal::read(&mission_doc()),
        Err(ModelError::WrongType { .. })
    ));
    Ok(())
}

#[test]
fn arabic_text_round_trips_through_save_and_load() -> anyhow::Result<()> {
    let name = "محمد الأمين بنعلي";
    let notes = "اجتماع مع جامعة محمد الأول بوجدة حول التكوين المهني 🌿 — suivi en français aussi.";
    let mut doc = actor::new_actor(
        &actor::NewActor {
            kind: ActorKind::Person,
            category: None,
            names: vec![("ar".into(), name.into())],
            basis: Some(LegalBasis::Consent),
        },
        &samira(),
    )?;
    set(
        &mut doc,
        &p("notes"),
        &serde_json::Value::String(notes.into()),
        &samira(),
    )?;
    // An edit in the middle of Arabic text with vowel marks goes through splices.
    let voweled = "مُحَمَّد الأمين بنعلي";
    set(
        &mut doc,
        &p("names.ar"),
        &serde_json::Value::String(voweled.into()),
        &samira(),
    )?;
    let loaded = AutoCommit::load(&doc.save())?;
    let read = Actor::read(&loaded)?;
    assert_eq!(read.names.get("ar"), Some(voweled));
    assert_eq!(read.notes, notes);
    assert_eq!(read.notes.as_bytes(), notes.as_bytes());
    let _ = name;
    Ok(())
}

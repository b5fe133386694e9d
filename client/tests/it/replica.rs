//! The replica on a real sled directory: JSON round trips, paths and their errors, reopening,
//! actor ids across runs, confirmed heads, and two replicas merging copies of one document.

use std::collections::BTreeSet;

use automerge::{ActorId, Automerge, ReadDoc};
use passerelle_client::{ClientError, DocPath, PathError, Replica, ServerConfig};
use passerelle_core::DocumentId;
use serde_json::{Value, json};

fn path(text: &str) -> DocPath {
    text.parse().unwrap()
}

fn mission() -> Value {
    json!({
        "type": "mission",
        "title": {"fr": "Mission économique à Oujda — été", "ar": "برنامج التعاون"},
        "direction": "Lille→Oujda",
        "confirmed": false,
        "cancelled_reason": null,
        "participants": 4,
        "budget": [
            {"heading": "transport", "planned": 1200, "rate": 10.75, "lines": []},
            {"heading": "hébergement", "planned": 800, "co": [{"funder": "AFD", "amount": -3}]},
        ],
        "big": 18_446_744_073_709_551_615u64,
        "agenda": [],
        "nested": {"deeper": {"deepest": [[1, 2], [], {"x": true}]}},
        "empty": {},
    })
}

fn actors(doc: &Automerge) -> BTreeSet<ActorId> {
    doc.get_changes(&[])
        .iter()
        .map(|change| change.actor_id().clone())
        .collect()
}

#[test]
fn json_round_trips_through_a_document_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let original = mission();
    let id = {
        let mut replica = Replica::open(dir.path()).unwrap();
        let id = replica.create(&original).unwrap();
        assert_eq!(replica.get_json(id).unwrap(), original);
        id
    };
    let mut replica = Replica::open(dir.path()).unwrap();
    assert_eq!(replica.get_json(id).unwrap(), original);
    let exported = Automerge::load(&replica.export_automerge(id).unwrap()).unwrap();
    assert_eq!(
        exported
            .get(automerge::ROOT, "participants")
            .unwrap()
            .unwrap()
            .0,
        automerge::Value::from(4i64)
    );
}

#[test]
fn only_an_object_makes_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    for (value, found) in [
        (json!([1]), "a list"),
        (json!("x"), "a string"),
        (json!(null), "null"),
    ] {
        match replica.create(&value) {
            Err(ClientError::NotAnObject { found: got }) => assert_eq!(got, found),
            other => panic!("expected NotAnObject, got {other:?}"),
        }
    }
    assert!(replica.list().unwrap().is_empty(), "nothing was created");
}

#[test]
fn set_and_append_follow_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let id = replica.create(&mission()).unwrap();

    replica
        .set(id, &path("budget.0.planned"), &json!(1500))
        .unwrap();
    replica
        .set(id, &path("title.ar"), &json!("بعثة اقتصادية"))
        .unwrap();
    // A new key in an existing map is created.
    replica
        .set(id, &path("budget.1.currency"), &json!("MAD"))
        .unwrap();
    // A whole structure replaces a scalar.
    replica
        .set(
            id,
            &path("confirmed"),
            &json!({"by": "Lille", "on": "2026-03-01"}),
        )
        .unwrap();
    assert_eq!(
        replica
            .append(
                id,
                &path("agenda"),
                &json!({"title": "Visite", "notes": []})
            )
            .unwrap(),
        0
    );
    assert_eq!(
        replica
            .append(id, &path("agenda.0.notes"), &json!("arrivée à 9 h"))
            .unwrap(),
        0
    );
    assert_eq!(replica.append(id, &path("agenda"), &json!(7)).unwrap(), 1);
    replica.set(id, &path("agenda.1"), &json!(8)).unwrap();

    let mut expected = mission();
    expected["budget"][0]["planned"] = json!(1500);
    expected["title"]["ar"] = json!("بعثة اقتصادية");
    expected["budget"][1]["currency"] = json!("MAD");
    expected["confirmed"] = json!({"by": "Lille", "on": "2026-03-01"});
    expected["agenda"] = json!([{"title": "Visite", "notes": ["arrivée à 9 h"]}, 8]);
    assert_eq!(replica.get_json(id).unwrap(), expected);
    drop(replica);
    let mut replica = Replica::open(dir.path()).unwrap();
    assert_eq!(replica.get_json(id).unwrap(), expected);
}

#[test]
fn path_errors_name_the_segment_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let id = replica.create(&mission()).unwrap();
    let before = replica.get_json(id).unwrap();
    let set_error = |replica: &mut Replica, p: &str| match replica.set(id, &path(p), &json!(1)) {
        Err(ClientError::Path(error)) => error,
        other => panic!("expected a path error for {p}, got {other:?}"),
    };

    match set_error(&mut replica, "budgett.0.planned") {
        PathError::NoSuchKey { at, segment, .. } => {
            assert_eq!((at.as_str(), segment.as_str()), ("budgett", "budgett"));
        }
        other => panic!("{other:?}"),
    }
    let error = set_error(&mut replica, "budget.5.planned");
    assert!(
        matches!(
            error,
            PathError::IndexOutOfRange {
                index: 5,
                len: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("`budget` has 2 item(s)"),
        "{error}"
    );
    let error = set_error(&mut replica, "budget.first.planned");
    assert!(matches!(error, PathError::NotAnIndex { .. }), "{error:?}");
    assert!(
        error.to_string().contains("`first` is not an index"),
        "{error}"
    );
    let error = set_error(&mut replica, "direction.x");
    assert!(
        matches!(
            error,
            PathError::NotAContainer {
                found: "a string",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("`direction` is a string"),
        "{error}"
    );
    let error = set_error(&mut replica, "budget.0.planned.x");
    assert!(
        error.to_string().contains("`budget.0.planned` is a number"),
        "{error}"
    );
    // `set` does not grow a list: that is `append`.
    let error = set_error(&mut replica, "agenda.0");
    assert!(
        matches!(error, PathError::IndexOutOfRange { len: 0, .. }),
        "{error:?}"
    );

    match replica.append(id, &path("title"), &json!("x")) {
        Err(ClientError::Path(PathError::NotAList { at, found })) => {
            assert_eq!((at.as_str(), found), ("title", "a map"));
        }
        other => panic!("expected NotAList, got {other:?}"),
    }
    match replica.append(id, &path("nested.deeper.missing"), &json!("x")) {
        Err(ClientError::Path(PathError::NoSuchKey { at, parent, .. })) => {
            assert_eq!(at, "nested.deeper.missing");
            assert_eq!(parent, "`nested.deeper`");
        }
        other => panic!("expected NoSuchKey, got {other:?}"),
    }
    // Nothing was changed by the failed calls.
    assert_eq!(replica.get_json(id).unwrap(), before);
}

#[test]
fn unknown_documents_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let stranger = DocumentId::random();
    assert!(matches!(
        replica.get_json(stranger),
        Err(ClientError::UnknownDocument(id)) if id == stranger
    ));
    assert!(matches!(
        replica.set(stranger, &path("a"), &json!(1)),
        Err(ClientError::UnknownDocument(_))
    ));
    assert!(replica.list().unwrap().is_empty());
}

#[test]
fn a_second_process_on_the_same_replica_is_told_it_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Replica::open(dir.path()).unwrap();
    match Replica::open(dir.path()) {
        Err(error @ ClientError::ReplicaBusy { .. }) => {
            assert!(error.to_string().contains("in use"), "{error}");
        }
        other => panic!("expected ReplicaBusy, got {other:?}"),
    }
}

#[test]
fn list_shows_type_and_title_and_everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mission_id, plain_id, journal_id, peer_id) = {
        let mut replica = Replica::open(dir.path()).unwrap();
        let mission_id = replica.create(&mission()).unwrap();
        let plain_id = replica.create(&json!({"note": 1})).unwrap();
        let journal_id = replica
            .create(&json!({"type": "journal", "title": {"ar": "يوميات"}}))
            .unwrap();
        replica
            .configure_server(&ServerConfig::new("https://sync.example.org/p/", "tok-1").unwrap())
            .unwrap();
        (mission_id, plain_id, journal_id, replica.peer_id().clone())
    };
    let mut replica = Replica::open(dir.path()).unwrap();
    assert_eq!(replica.peer_id(), &peer_id, "the peer id is stable");
    let server = replica.server().unwrap().expect("the server is stored");
    assert_eq!(server.url().as_str(), "https://sync.example.org/p/");
    assert_eq!(server.token(), "tok-1");

    let mut listed = replica.list().unwrap();
    listed.sort_by_key(|s| s.id);
    let mut expected = vec![
        (
            mission_id,
            Some("mission"),
            Some("Mission économique à Oujda — été"),
        ),
        (plain_id, None, None),
        (journal_id, Some("journal"), Some("يوميات")),
    ];
    expected.sort_by_key(|e| e.0);
    let got: Vec<_> = listed
        .iter()
        .map(|s| (s.id, s.doc_type.as_deref(), s.title.as_deref()))
        .collect();
    assert_eq!(got, expected);
    assert!(listed.iter().all(|s| s.problem.is_none()));
}

/// The engine gives every load a new actor: a change made after a reopen never reuses the
/// actor of an earlier run.
#[test]
fn each_run_edits_with_a_new_actor() {
    let dir = tempfile::tempdir().unwrap();
    let id = Replica::open(dir.path())
        .unwrap()
        .create(&json!({"n": 0}))
        .unwrap();
    for n in 1..=3 {
        let mut replica = Replica::open(dir.path()).unwrap();
        replica.set(id, &path("n"), &json!(n)).unwrap();
        replica.set(id, &path("m"), &json!(n)).unwrap();
    }
    let mut replica = Replica::open(dir.path()).unwrap();
    let doc = Automerge::load(&replica.export_automerge(id).unwrap()).unwrap();
    // One actor for the creating run (its empty first change and the JSON), one per reopen.
    assert_eq!(actors(&doc).len(), 4, "{:?}", actors(&doc));
    assert_eq!(replica.get_json(id).unwrap(), json!({"n": 3, "m": 3}));
}

#[test]
fn pending_until_the_server_confirms_the_heads() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let id = replica.create(&json!({"agenda": []})).unwrap();
    let status = replica.sync_status(id).unwrap();
    assert!(status.is_pending());
    assert_eq!(status.confirmed_heads, None);
    assert_eq!(
        status.pending_changes, 2,
        "the empty first change and the JSON"
    );

    replica.record_confirmed_heads(id, &status.heads).unwrap();
    assert!(!replica.sync_status(id).unwrap().is_pending());

    replica.append(id, &path("agenda"), &json!("x")).unwrap();
    let status = replica.sync_status(id).unwrap();
    assert_eq!(status.pending_changes, 1);

    // Heads the server holds and we do not are ignored, not an error.
    let mut confirmed = status.heads.clone();
    confirmed.push(automerge::ChangeHash([7; 32]));
    replica.record_confirmed_heads(id, &confirmed).unwrap();
    drop(replica);
    let mut replica = Replica::open(dir.path()).unwrap();
    assert_eq!(replica.confirmed_heads(id).unwrap(), Some(confirmed));
    assert!(!replica.sync_status(id).unwrap().is_pending());
    assert_eq!(replica.sync_statuses().unwrap().len(), 1);
}

/// Oujda and Lille each hold a copy of one mission (exported from Lille, imported in Oujda),
/// edit it offline, then exchange their copies both ways: both end with both edits, and with
/// identical documents.
#[test]
fn two_replicas_editing_copies_merge() {
    let (lille_dir, oujda_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut lille = Replica::open(lille_dir.path()).unwrap();
    let mut oujda = Replica::open(oujda_dir.path()).unwrap();
    let id = lille.create(&mission()).unwrap();
    oujda
        .import_automerge(id, &lille.export_automerge(id).unwrap())
        .unwrap();
    assert_eq!(oujda.get_json(id).unwrap(), mission());

    // Offline, on both sides: different fields, and both append to the agenda.
    lille
        .set(id, &path("budget.0.planned"), &json!(1300))
        .unwrap();
    lille
        .append(
            id,
            &path("agenda"),
            &json!({"title": "Réunion à la commune"}),
        )
        .unwrap();
    oujda
        .set(id, &path("title.ar"), &json!("بعثة التعاون"))
        .unwrap();
    oujda
        .append(
            id,
            &path("agenda"),
            &json!({"title": "Visite de l'université"}),
        )
        .unwrap();

    let from_lille = lille.export_automerge(id).unwrap();
    let from_oujda = oujda.export_automerge(id).unwrap();
    oujda.import_automerge(id, &from_lille).unwrap();
    lille.import_automerge(id, &from_oujda).unwrap();

    let merged = lille.get_json(id).unwrap();
    assert_eq!(merged, oujda.get_json(id).unwrap());
    assert_eq!(merged["budget"][0]["planned"], 1300);
    assert_eq!(merged["title"]["ar"], "بعثة التعاون");
    let titles: BTreeSet<&str> = merged["agenda"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from(["Réunion à la commune", "Visite de l'université"])
    );

    // The merge is durable in both replicas.
    drop((lille, oujda));
    let mut lille = Replica::open(lille_dir.path()).unwrap();
    let mut oujda = Replica::open(oujda_dir.path()).unwrap();
    assert_eq!(lille.get_json(id).unwrap(), merged);
    assert_eq!(oujda.get_json(id).unwrap(), merged);
}

#[test]
fn importing_garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let id = DocumentId::random();
    assert!(matches!(
        replica.import_automerge(id, b"not automerge"),
        Err(ClientError::InvalidAutomerge(_))
    ));
    assert!(matches!(
        replica.import_automerge(id, &Automerge::new().save()),
        Err(ClientError::InvalidAutomerge(_))
    ));
    assert!(replica.list().unwrap().is_empty());
}

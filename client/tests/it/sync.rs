//! `Replica::sync` against a real server (in-process, sled, 127.0.0.1:0): offline edits on
//! two replicas converge, new documents are discovered, only what changed moves, a faulty
//! link costs retries and nothing else, refusals are recorded.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use automerge::ChangeHash;
use common::{Counting, Fault, Faulty, TestServer, fast_options, replica, sync};
use passerelle_client::{DocPath, RejectionKind, Replica, SyncEvent, SyncOptions, Transport};
use passerelle_core::DocumentId;
use passerelle_server::auth::Role;
use serde_json::{Value, json};

fn path(text: &str) -> DocPath {
    text.parse().unwrap()
}

fn heads(replica: &mut Replica, id: DocumentId) -> Vec<ChangeHash> {
    replica.sync_status(id).unwrap().heads
}

/// Every document of both replicas, identical on both sides (JSON and heads).
fn assert_identical(a: &mut Replica, b: &mut Replica) -> BTreeSet<DocumentId> {
    let ids_a: BTreeSet<DocumentId> = a.list().unwrap().iter().map(|s| s.id).collect();
    let ids_b: BTreeSet<DocumentId> = b.list().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids_a, ids_b, "the replicas hold different documents");
    for &id in &ids_a {
        assert_eq!(a.get_json(id).unwrap(), b.get_json(id).unwrap(), "{id}");
        assert_eq!(heads(a, id), heads(b, id), "{id}");
        assert!(!a.sync_status(id).unwrap().is_pending(), "{id} pending");
        assert!(!b.sync_status(id).unwrap().is_pending(), "{id} pending");
    }
    ids_a
}

#[test]
fn offline_edits_on_two_replicas_converge_once_the_server_is_up() {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Offline: no server exists yet.
    let mut oujda = Replica::open(dirs.0.path()).unwrap();
    let mut lille = Replica::open(dirs.1.path()).unwrap();
    let mission = oujda
        .create(&json!({"type": "mission", "title": "Mission à Oujda", "agenda": []}))
        .unwrap();
    // The shared document reaches Lille by hand (a USB stick), before any server.
    let shared = oujda
        .create(&json!({"type": "project", "title": "Eau potable", "budget": {}, "notes": []}))
        .unwrap();
    let bytes = oujda.export_automerge(shared).unwrap();
    lille.import_automerge(shared, &bytes).unwrap();
    let report = lille
        .create(&json!({"type": "report", "title": "Rapport de Lille", "sections": []}))
        .unwrap();
    // Both edit, offline, the same document and their own.
    oujda
        .append(mission, &path("agenda"), &json!("Visite de la régie"))
        .unwrap();
    oujda
        .set(shared, &path("budget.oujda"), &json!(12000))
        .unwrap();
    oujda
        .append(shared, &path("notes"), &json!("note d'Oujda"))
        .unwrap();
    lille
        .set(shared, &path("budget.lille"), &json!(8000))
        .unwrap();
    lille
        .append(shared, &path("notes"), &json!("note de Lille"))
        .unwrap();
    lille
        .append(report, &path("sections"), &json!("introduction"))
        .unwrap();
    assert!(oujda.sync_status(shared).unwrap().is_pending());

    // The server comes up; both sync: a, b, a.
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    for (replica, token) in [(&oujda, &token_a), (&lille, &token_b)] {
        replica.configure_server(&server.config(token)).unwrap();
    }
    let (ta, tb) = (server.transport(&token_a), server.transport(&token_b));
    let first = sync(&mut oujda, &ta);
    assert!(first.reset);
    assert_eq!(first.documents_sent, 2);
    let second = sync(&mut lille, &tb);
    assert_eq!(second.documents_sent, 2, "{second:?}");
    assert_eq!(
        second.received.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([mission, shared])
    );
    let third = sync(&mut oujda, &ta);
    assert!(!third.reset);
    assert_eq!(
        third.received.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([shared, report])
    );

    let ids = assert_identical(&mut oujda, &mut lille);
    assert_eq!(ids, BTreeSet::from([mission, shared, report]));
    let merged = oujda.get_json(shared).unwrap();
    assert_eq!(merged["budget"], json!({"oujda": 12000, "lille": 8000}));
    let notes: BTreeSet<String> = merged["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(
        notes,
        BTreeSet::from([
            json!("note d'Oujda").to_string(),
            json!("note de Lille").to_string()
        ])
    );
    assert_eq!(
        lille.get_json(mission).unwrap()["agenda"][0],
        "Visite de la régie"
    );
    assert_eq!(
        oujda.get_json(report).unwrap()["sections"][0],
        "introduction"
    );

    // Nothing left to do: a further pass moves no document.
    let idle = sync(&mut lille, &tb);
    assert_eq!(idle.documents_checked, 0, "{idle:?}");
    assert!(lille.last_sync().unwrap().is_some());
}

#[test]
fn a_document_created_elsewhere_is_discovered() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut oujda = replica(dirs.0.path(), &server, &token_a);
    let mut lille = replica(dirs.1.path(), &server, &token_b);
    let (ta, tb) = (server.transport(&token_a), server.transport(&token_b));
    // Oujda has synced before (its cursor is not a reset any more).
    sync(&mut oujda, &ta);
    let id = lille
        .create(&json!({"type": "meeting", "title": "Comité de pilotage"}))
        .unwrap();
    sync(&mut lille, &tb);
    assert!(oujda.list().unwrap().is_empty());
    let mut arrived = Vec::new();
    let report = oujda
        .sync_with(&ta, &fast_options(), &mut |event| {
            if let SyncEvent::Received { document_id, title } = event {
                arrived.push((*document_id, title.clone()));
            }
        })
        .unwrap();
    assert!(!report.reset);
    assert_eq!(report.received, vec![id]);
    assert_eq!(arrived, vec![(id, Some("Comité de pilotage".to_owned()))]);
    assert_eq!(oujda.get_json(id).unwrap()["title"], "Comité de pilotage");
    assert!(!oujda.sync_status(id).unwrap().is_pending());
    assert_identical(&mut oujda, &mut lille);
}

#[test]
fn only_changed_documents_move() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut oujda = replica(dirs.0.path(), &server, &token_a);
    let mut lille = replica(dirs.1.path(), &server, &token_b);
    let ta = Counting::new(server.transport(&token_a));
    let tb = Counting::new(server.transport(&token_b));
    let ids: Vec<DocumentId> = (0..200)
        .map(|n| {
            lille
                .create(&json!({"type": "note", "title": format!("note {n}"), "n": n}))
                .unwrap()
        })
        .collect();
    let first = sync(&mut lille, &tb);
    assert_eq!(first.documents_sent, 200);
    let fetched = sync(&mut oujda, &ta);
    assert_eq!(fetched.received.len(), 200);
    assert_identical(&mut oujda, &mut lille);

    // Two documents change on the other side.
    lille.set(ids[17], &path("n"), &json!("changed")).unwrap();
    lille
        .set(ids[140], &path("title"), &json!("renamed"))
        .unwrap();
    tb.reset();
    let pushed = sync(&mut lille, &tb);
    assert_eq!(pushed.documents_sent, 2);
    let exchanges = tb.exchanges();
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0].documents, 2);
    assert_eq!(exchanges[0].with_changes, 2);

    ta.reset();
    let caught_up = sync(&mut oujda, &ta);
    let exchanges = ta.exchanges();
    assert_eq!(ta.requests(), 2, "one feed read and one sync request");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].documents, 2, "{exchanges:?}");
    assert_eq!(exchanges[0].with_changes, 0);
    assert_eq!(exchanges[0].received, 2);
    let mut received = caught_up.received.clone();
    received.sort();
    let mut expected = vec![ids[17], ids[140]];
    expected.sort();
    assert_eq!(received, expected);
    // Bytes: two small changes, not 200 documents (each of which saves to ~150 bytes).
    let feed = ta.feeds.lock().unwrap()[0];
    assert!(feed < 1_000, "feed answer of {feed} bytes");
    assert!(exchanges[0].up < 600, "{exchanges:?}");
    assert!(exchanges[0].down < 1_200, "{exchanges:?}");
    assert_eq!(
        caught_up.bytes_up + caught_up.bytes_down,
        (feed + exchanges[0].up + exchanges[0].down) as u64
    );
    assert_eq!(oujda.get_json(ids[140]).unwrap()["title"], "renamed");
    assert_identical(&mut oujda, &mut lille);

    // And nothing at all when nothing changed.
    ta.reset();
    let idle = sync(&mut oujda, &ta);
    assert_eq!(idle.documents_checked, 0);
    assert_eq!(ta.requests(), 1);
}

/// Repeats passes through `transport` until one completes; returns how many it took.
fn sync_until_complete(replica: &mut Replica, transport: &dyn Transport, retries: u32) -> usize {
    let options = SyncOptions {
        max_batch_bytes: 2 * 1024,
        retries,
        retry_delay: Duration::from_millis(1),
        ..SyncOptions::default()
    };
    for attempt in 1..=200 {
        match replica.sync_with(transport, &options, &mut |_| {}) {
            Ok(report) if report.is_complete() => return attempt,
            Ok(report) => panic!("documents failed: {report:?}"),
            Err(error) => {
                eprintln!(
                    "pass {attempt}: {error} candidates={}",
                    replica.sync_candidates().unwrap().len()
                );
                assert!(error.is_transient(), "{error}")
            }
        }
    }
    panic!("no pass completed in 200 attempts");
}

/// Two replicas editing the same documents through a bad link end up identical, with
/// every edit.
fn converge_through(
    server: &TestServer,
    (token_a, token_b): (&str, &str),
    make: &dyn Fn(&str, u64) -> Box<dyn Transport>,
    retries: u32,
) -> usize {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut oujda = replica(dirs.0.path(), server, token_a);
    let mut lille = replica(dirs.1.path(), server, token_b);
    let (ta, tb) = (make(token_a, 1), make(token_b, 2));
    let mut ids = Vec::new();
    for n in 0..30 {
        let id = oujda
            .create(&json!({"title": format!("document {n}"), "items": []}))
            .unwrap();
        oujda
            .append(id, &path("items"), &json!(format!("{n:0>100}")))
            .unwrap();
        ids.push(id);
    }
    let mut passes = sync_until_complete(&mut oujda, ta.as_ref(), retries);
    passes += sync_until_complete(&mut lille, tb.as_ref(), retries);
    // Edits on both sides of the same documents, through the same bad link.
    for (n, &id) in ids.iter().enumerate().take(10) {
        lille.append(id, &path("items"), &json!(n)).unwrap();
        oujda
            .append(id, &path("items"), &json!(-(n as i64)))
            .unwrap();
    }
    passes += sync_until_complete(&mut lille, tb.as_ref(), retries);
    passes += sync_until_complete(&mut oujda, ta.as_ref(), retries);
    passes += sync_until_complete(&mut lille, tb.as_ref(), retries);
    // (The server is shared by several runs: the replicas also hold the earlier runs'.)
    let all = assert_identical(&mut oujda, &mut lille);
    assert!(ids.iter().all(|id| all.contains(id)));
    for (n, &id) in ids.iter().enumerate() {
        let items = oujda.get_json(id).unwrap()["items"].clone();
        let expected = if n < 10 { 3 } else { 1 };
        assert_eq!(items.as_array().unwrap().len(), expected, "{items}");
    }
    passes
}

#[test]
fn a_faulty_link_costs_retries_and_loses_nothing() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let tokens = (token_a.as_str(), token_b.as_str());
    for fault in [Fault::BeforeSending, Fault::LoseAnswer, Fault::CutAnswer] {
        // Every second request fails: the retries within a pass carry it through.
        let every_second = |token: &str, _seed| -> Box<dyn Transport> {
            Box::new(Faulty::new(server.transport(token), 2, fault))
        };
        let passes = converge_through(&server, tokens, &every_second, 1);
        assert_eq!(passes, 5, "{fault:?}: one pass each");
        // Half the requests fail at random and passes are not retried: each pass keeps what
        // it completed, and repeated passes finish the work.
        let random = |token: &str, seed| -> Box<dyn Transport> {
            Box::new(Faulty::random(server.transport(token), seed, fault))
        };
        let passes = converge_through(&server, tokens, &random, 0);
        assert!(
            passes > 5,
            "{fault:?}: the faults must have cut some passes short"
        );
    }
}

#[test]
fn a_refused_change_is_recorded_with_the_reason_and_not_resent() {
    let server = TestServer::start();
    let editor = server.editor("redactrice");
    let viewer = server.user("observateur", "cooperation", Role::Viewer);
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut writer = replica(dirs.0.path(), &server, &editor);
    let mut reader = replica(dirs.1.path(), &server, &viewer);
    let (tw, tr) = (
        server.transport(&editor),
        Counting::new(server.transport(&viewer)),
    );
    let id = writer
        .create(&json!({"title": "Budget 2026", "lines": []}))
        .unwrap();
    sync(&mut writer, &tw);
    sync(&mut reader, &tr);
    reader.append(id, &path("lines"), &json!("mine")).unwrap();
    let report = sync(&mut reader, &tr);
    assert_eq!(report.refused.len(), 1, "{report:?}");
    let refusal = &report.refused[0];
    assert_eq!(refusal.document_id, id);
    assert_eq!(refusal.kind, RejectionKind::Refused);
    assert!(refusal.reason.contains("read-only"), "{}", refusal.reason);
    assert_eq!(refusal.changes.len(), 1);
    let status = reader.sync_status(id).unwrap();
    assert_eq!(status.rejection.as_ref(), Some(refusal));
    assert_eq!(reader.rejections().unwrap(), vec![refusal.clone()]);

    // Not sent again by the next passes, and the server's own changes still arrive.
    writer.append(id, &path("lines"), &json!("theirs")).unwrap();
    sync(&mut writer, &tw);
    tr.reset();
    let next = sync(&mut reader, &tr);
    assert!(next.refused.is_empty(), "{next:?}");
    assert_eq!(next.received, vec![id]);
    assert!(tr.exchanges().iter().all(|e| e.with_changes == 0));
    let lines = reader.get_json(id).unwrap()["lines"].clone();
    assert_eq!(lines.as_array().unwrap().len(), 2, "{lines}");
    assert!(reader.sync_status(id).unwrap().rejection.is_some());
    assert_eq!(writer.get_json(id).unwrap()["lines"], json!(["theirs"]));
    tr.reset();
    let idle = sync(&mut reader, &tr);
    assert_eq!(idle.documents_checked, 0, "{idle:?}");

    // `passerelle status` shows it, with the reason.
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("--home")
        .arg(dirs.1.path())
        .arg("status")
        .env_remove("PASSERELLE_HOME")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("with refused changes: 1"), "{text}");
    assert!(
        text.contains(&format!("{id}  refused changes: 1 change(s) not accepted:")),
        "{text}"
    );
    assert!(text.contains("read-only"), "{text}");
    assert!(text.contains("(reachable)"), "{text}");
}

#[test]
fn a_document_the_server_will_not_share_is_reported_unavailable() {
    let server = TestServer::start();
    let viewer = server.user("observateur", "cooperation", Role::Viewer);
    let dir = tempfile::tempdir().unwrap();
    let mut reader = replica(dir.path(), &server, &viewer);
    // A viewer may not create documents on the server.
    let id = reader.create(&json!({"title": "brouillon"})).unwrap();
    let report = sync(&mut reader, &server.transport(&viewer));
    assert_eq!(report.unavailable, vec![id]);
    let rejection = reader.sync_status(id).unwrap().rejection.unwrap();
    assert_eq!(rejection.kind, RejectionKind::Unavailable);
    // Not retried until the document changes again.
    let again = sync(&mut reader, &server.transport(&viewer));
    assert_eq!(again.documents_checked, 0, "{again:?}");
}

#[test]
fn requests_are_sized_in_bytes() {
    let server = TestServer::start();
    let token = server.editor("oujda");
    let dir = tempfile::tempdir().unwrap();
    let mut oujda = replica(dir.path(), &server, &token);
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    for n in 0..40 {
        // Text that does not compress: Automerge deflates what it saves.
        let body: String = (0..1000)
            .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
            .collect();
        oujda
            .create(&json!({"title": format!("doc {n}"), "body": body}))
            .unwrap();
    }
    let transport = Counting::new(server.transport(&token));
    let options = SyncOptions {
        max_batch_bytes: 16 * 1024,
        ..fast_options()
    };
    let report = oujda.sync_with(&transport, &options, &mut |_| {}).unwrap();
    assert!(report.is_complete());
    let exchanges = transport.exchanges();
    assert!(exchanges.len() >= 3, "{exchanges:?}");
    assert_eq!(exchanges.iter().map(|e| e.documents).sum::<usize>(), 40);
    for exchange in &exchanges {
        assert!(exchange.up <= 16 * 1024, "{exchange:?}");
    }
    assert_eq!(report.round_trips, exchanges.len() + 1);
}

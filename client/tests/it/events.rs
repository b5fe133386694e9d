//! The events an application hears ([`ReplicaEvent`]): from `Replica::sync` in its report,
//! and from a running `SyncLoop` on a channel — against a real server (in-process, sled,
//! 127.0.0.1), with a viewer's token so that a change is refused.

use crate::common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Fault, Faulty, TestServer, fast_loop, replica, sync};
use passerelle_client::{DocPath, Replica, ReplicaEvent};
use passerelle_server::auth::Role;
use serde_json::json;

/// The next event matching `want` within `within`; returns it and what came before.
fn next_matching(
    events: &mpsc::Receiver<ReplicaEvent>,
    within: Duration,
    want: impl Fn(&ReplicaEvent) -> bool,
) -> (ReplicaEvent, Vec<ReplicaEvent>) {
    let deadline = Instant::now() + within;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if want(&event) => return (event, before),
            Ok(event) => before.push(event),
            Err(_) => panic!("not seen within {within:?}; saw {before:?}"),
        }
    }
}

#[test]
fn replica_sync_reports_arrivals_refusals_and_the_link_in_its_events() {
    let server = TestServer::start();
    let editor = server.editor("amina");
    let viewer = server.user("victor", "cooperation", Role::Viewer);
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut writer = replica(dirs.0.path(), &server, &editor);
    let mut reader = replica(dirs.1.path(), &server, &viewer);
    let (tw, tr) = (server.transport(&editor), server.transport(&viewer));
    let id = writer
        .create(&json!({"title": "Plan d'action énergie", "actions": []}))
        .unwrap();
    sync(&mut writer, &tw);

    let report = sync(&mut reader, &tr);
    let heads = writer.sync_status(id).unwrap().heads;
    assert_eq!(report.events.len(), 2, "{:?}", report.events);
    assert_eq!(
        report.events[0],
        ReplicaEvent::RemoteChanges {
            document_id: id,
            heads,
            title: Some("Plan d'action énergie".to_owned()),
        }
    );
    let ReplicaEvent::SyncStateChanged {
        reachable: true,
        last_sync: Some(last_sync),
        error: None,
    } = report.events[1]
    else {
        panic!("{:?}", report.events[1]);
    };
    assert_eq!(reader.last_sync().unwrap(), Some(last_sync));

    reader
        .append(id, &"actions".parse::<DocPath>().unwrap(), &json!("isoler"))
        .unwrap();
    let report = sync(&mut reader, &tr);
    let refusals: Vec<&ReplicaEvent> = report
        .events
        .iter()
        .filter(|e| matches!(e, ReplicaEvent::ChangeRefused { .. }))
        .collect();
    assert_eq!(refusals.len(), 1, "{:?}", report.events);
    let ReplicaEvent::ChangeRefused {
        document_id,
        reason,
    } = refusals[0]
    else {
        unreachable!()
    };
    assert_eq!(*document_id, id);
    assert!(reason.contains("read-only"), "{reason}");
}

#[test]
fn a_sync_loop_sends_arrivals_refusals_and_outages_on_its_channel() {
    let server = TestServer::start();
    let editor = server.editor("amina");
    let viewer = server.user("victor", "cooperation", Role::Viewer);
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut writer = replica(dirs.0.path(), &server, &editor);
    let tw = server.transport(&editor);
    let id = writer.create(&json!({"title": "Budget 2026"})).unwrap();
    sync(&mut writer, &tw);
    drop(replica(dirs.1.path(), &server, &viewer));

    // The link is down until healed.
    let transport = Arc::new(Faulty::new(
        server.transport(&viewer),
        1,
        Fault::BeforeSending,
    ));
    let mut sync_loop = fast_loop(dirs.1.path(), transport.clone(), 11);
    let events = sync_loop.events();
    let second = sync_loop.events();
    let stop = sync_loop.stop_signal();
    let runner = std::thread::spawn(move || sync_loop.run(&mut |_| {}));

    // One event per outage, however many attempts fail.
    let (outage, _) = next_matching(&events, Duration::from_secs(10), |_| true);
    let ReplicaEvent::SyncStateChanged {
        reachable: false,
        last_sync: None,
        error: Some(error),
    } = &outage
    else {
        panic!("{outage:?}");
    };
    assert!(error.contains("connection reset by the test"), "{error}");
    while transport.failures.load(std::sync::atomic::Ordering::SeqCst) < 5 {
        std::thread::sleep(Duration::from_millis(10));
    }
    transport.heal();
    let (arrived, before) = next_matching(&events, Duration::from_secs(10), |e| {
        matches!(e, ReplicaEvent::RemoteChanges { .. })
    });
    assert!(before.is_empty(), "a second outage event: {before:?}");
    let ReplicaEvent::RemoteChanges {
        document_id, heads, ..
    } = arrived
    else {
        unreachable!()
    };
    assert_eq!(document_id, id);
    assert_eq!(heads, writer.sync_status(id).unwrap().heads);
    let (back, _) = next_matching(&events, Duration::from_secs(5), |e| {
        matches!(e, ReplicaEvent::SyncStateChanged { .. })
    });
    assert!(
        matches!(
            back,
            ReplicaEvent::SyncStateChanged {
                reachable: true,
                last_sync: Some(_),
                error: None
            }
        ),
        "{back:?}"
    );

    // A change made on the viewer's replica (by another program) is refused.
    {
        let mut reader = Replica::open(dirs.1.path()).unwrap();
        reader
            .set(id, &"montant".parse::<DocPath>().unwrap(), &json!(12_000))
            .unwrap();
    }
    let (refused, _) = next_matching(&events, Duration::from_secs(10), |e| {
        matches!(e, ReplicaEvent::ChangeRefused { .. })
    });
    let ReplicaEvent::ChangeRefused {
        document_id,
        reason,
    } = refused
    else {
        unreachable!()
    };
    assert_eq!(document_id, id);
    assert!(reason.contains("read-only"), "{reason}");

    // Live: the writer's next change arrives while the loop runs.
    writer
        .set(
            id,
            &"statut".parse::<DocPath>().unwrap(),
            &json!("approuvé"),
        )
        .unwrap();
    sync(&mut writer, &tw);
    let writer_heads = writer.sync_status(id).unwrap().heads;
    let (arrived, _) = next_matching(&events, Duration::from_secs(10), |e| {
        matches!(e, ReplicaEvent::RemoteChanges { .. })
    });
    let ReplicaEvent::RemoteChanges { heads, .. } = arrived else {
        unreachable!()
    };
    // The replica's heads: the writer's change merged with the refused local one.
    assert!(
        heads.len() == 2 && heads.contains(&writer_heads[0]),
        "{heads:?}"
    );

    stop.stop();
    runner.join().unwrap().unwrap();
    // Every subscriber got every event.
    let copies: Vec<ReplicaEvent> = second.try_iter().collect();
    assert!(
        copies
            .iter()
            .filter(|e| matches!(e, ReplicaEvent::ChangeRefused { .. }))
            .count()
            == 1,
        "{copies:?}"
    );
    assert!(matches!(
        copies[0],
        ReplicaEvent::SyncStateChanged {
            reachable: false,
            ..
        }
    ));
}

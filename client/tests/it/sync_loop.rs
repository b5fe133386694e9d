//! `SyncLoop` against a real server: backs off while the server cannot be reached, catches
//! up, then delivers changes made elsewhere live and sends local edits.

use crate::common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Fault, Faulty, TestServer, fast_loop, replica, sync};
use passerelle_client::{DocPath, LoopConfig, LoopEvent, Replica, SyncEvent, SyncLoop};
use passerelle_core::DocumentId;
use serde_json::json;

/// What the loop reported, sent to the test thread.
#[derive(Debug)]
enum Seen {
    Online,
    Offline(Duration),
    Received(DocumentId),
    Synced { sent: usize },
}

/// Waits for an event matching `want`, up to `within`; returns the events seen meanwhile.
fn wait_for(
    events: &mpsc::Receiver<Seen>,
    within: Duration,
    want: impl Fn(&Seen) -> bool,
) -> Vec<Seen> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) => {
                let done = want(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("not seen within {within:?}; saw {seen:?}"),
        }
    }
}

#[test]
fn the_loop_backs_off_catches_up_and_then_runs_live() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut lille = replica(dirs.1.path(), &server, &token_b);
    let tb = server.transport(&token_b);
    let early = lille.create(&json!({"title": "avant"})).unwrap();
    sync(&mut lille, &tb);
    // Oujda's replica exists and is closed: the loop opens it for each pass.
    drop(replica(dirs.0.path(), &server, &token_a));

    // The link fails every request until it heals.
    let transport = Faulty::new(server.transport(&token_a), 1, Fault::BeforeSending);
    let transport = std::sync::Arc::new(transport);
    let mut sync_loop = fast_loop(dirs.0.path(), transport.clone(), 5);
    let stop = sync_loop.stop_signal();
    let (sender, events) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        sync_loop.run(&mut |event| {
            let seen = match event {
                LoopEvent::Online => Seen::Online,
                LoopEvent::Offline { retry_in, .. } => Seen::Offline(retry_in),
                LoopEvent::Sync(SyncEvent::Received { document_id, .. }) => {
                    Seen::Received(*document_id)
                }
                LoopEvent::Synced(report) => Seen::Synced {
                    sent: report.documents_sent,
                },
                _ => return,
            };
            let _ = sender.send(seen);
        })
    });

    // Offline: growing pauses, capped.
    let mut delays = Vec::new();
    while delays.len() < 6 {
        match events.recv_timeout(Duration::from_secs(5)).unwrap() {
            Seen::Offline(delay) => delays.push(delay),
            other => panic!("unexpected while offline: {other:?}"),
        }
    }
    assert!(
        delays.iter().all(|d| *d <= Duration::from_millis(40)),
        "{delays:?}"
    );
    assert!(delays[0] <= Duration::from_millis(10), "{delays:?}");
    assert!(delays[5] >= Duration::from_millis(20), "{delays:?}");

    // The link heals: the loop catches up on what happened meanwhile.
    transport.heal();
    let seen = wait_for(&events, Duration::from_secs(10), |e| {
        matches!(e, Seen::Synced { .. })
    });
    assert!(seen.iter().any(|e| matches!(e, Seen::Online)), "{seen:?}");
    assert!(
        seen.iter()
            .any(|e| matches!(e, Seen::Received(id) if *id == early)),
        "{seen:?}"
    );

    // Live: a document made elsewhere arrives without anyone asking.
    let started = Instant::now();
    let live = lille.create(&json!({"title": "en direct"})).unwrap();
    sync(&mut lille, &tb);
    wait_for(
        &events,
        Duration::from_secs(5),
        |e| matches!(e, Seen::Received(id) if *id == live),
    );
    let latency = started.elapsed();
    assert!(latency < Duration::from_secs(2), "{latency:?}");

    // A local edit made by another program (the replica is free between passes) goes out.
    {
        let mut oujda = Replica::open(dirs.0.path()).unwrap();
        oujda
            .set(live, &"lieu".parse::<DocPath>().unwrap(), &json!("Oujda"))
            .unwrap();
    }
    wait_for(&events, Duration::from_secs(5), |e| {
        matches!(e, Seen::Synced { sent: 1 })
    });
    sync(&mut lille, &tb);
    assert_eq!(lille.get_json(live).unwrap()["lieu"], "Oujda");

    stop.stop();
    let stopped = Instant::now();
    runner.join().unwrap().unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_refused_token_ends_the_loop_with_the_error() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    drop(replica(dir.path(), &server, "not-a-token"));
    let mut sync_loop = SyncLoop::new(
        dir.path(),
        server.transport("not-a-token"),
        LoopConfig::default(),
    );
    let error = sync_loop.run(&mut |_| {}).unwrap_err();
    assert!(error.to_string().contains("refused the token"), "{error}");
}

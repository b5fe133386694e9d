//! The sans-IO step API of a sync pass (`SyncPass`) against a real server: the caller makes
//! the requests, edits the replica between steps, retries after a transient failure as the
//! pass asks, and may drop a pass half-way.

use crate::common;

use std::time::Duration;

use common::{TestServer, replica, sync};
use passerelle_client::{
    ClientError, DocPath, Replica, SyncAnswer, SyncCall, SyncOptions, SyncReport, SyncStep,
    Transport,
};
use serde_json::json;

fn options() -> SyncOptions {
    SyncOptions {
        // Small requests: a pass of several documents makes several.
        max_batch_bytes: 1,
        retries: 1,
        retry_delay: Duration::from_millis(10),
        ..SyncOptions::default()
    }
}

/// Drives a pass to its end; `between` runs on the replica before each answer is given.
fn drive(
    replica: &mut Replica,
    transport: &dyn Transport,
    mut between: impl FnMut(&mut Replica, &SyncCall),
) -> SyncReport {
    let mut pass = replica.begin_sync(&transport.server(), &options()).unwrap();
    loop {
        match pass.step(replica, &mut |_| {}).unwrap() {
            SyncStep::Call(call) => {
                between(replica, &call);
                let answer = call.run(transport);
                pass.answer(replica, answer, &mut |_| {}).unwrap();
            }
            SyncStep::Wait(delay) => std::thread::sleep(delay),
            SyncStep::Done(report) => return report,
        }
    }
}

#[test]
fn edits_between_the_steps_of_a_pass_all_reach_the_other_replica() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = replica(dirs.0.path(), &server, &token_a);
    let mut b = replica(dirs.1.path(), &server, &token_b);
    let ids: Vec<_> = (0..4)
        .map(|n| {
            a.create(&json!({"title": format!("doc {n}"), "log": []}))
                .unwrap()
        })
        .collect();
    let log: DocPath = "log".parse().unwrap();
    let transport = server.transport(&token_a);
    let mut edits = 0;
    let report = drive(&mut a, &transport, |replica, call| {
        // One edit on every document while each request is on its way.
        if matches!(call, SyncCall::Sync { .. }) {
            for id in &ids {
                replica.append(*id, &log, &json!(edits)).unwrap();
                edits += 1;
            }
        }
    });
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.documents_checked, 4, "{report:?}");
    // One request per document (the size limit), the feed before them.
    assert_eq!(report.round_trips, 5, "{report:?}");
    // The edits made after a document's request was built are not confirmed yet...
    assert!(a.sync_status(ids[0]).unwrap().is_pending());
    // ...and the next pass sends them.
    sync(&mut a, &transport);
    sync(&mut b, &server.transport(&token_b));
    for id in &ids {
        assert!(!a.sync_status(*id).unwrap().is_pending());
        assert_eq!(a.get_json(*id).unwrap(), b.get_json(*id).unwrap());
    }
    let items: usize = ids
        .iter()
        .map(|id| b.get_json(*id).unwrap()["log"].as_array().unwrap().len())
        .sum();
    assert_eq!(items, edits as usize);
}

#[test]
fn a_transient_failure_is_retried_after_the_pause_the_pass_asks_for() {
    let server = TestServer::start();
    let token = server.editor("oujda");
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), &server, &token);
    a.create(&json!({"title": "doc"})).unwrap();
    let transport = server.transport(&token);
    let mut pass = a.begin_sync(&transport.server(), &options()).unwrap();
    let SyncStep::Call(feed) = pass.step(&mut a, &mut |_| {}).unwrap() else {
        panic!("a pass starts with the feed");
    };
    assert_eq!(feed, SyncCall::Changes { since: None });
    let lost = || ClientError::Unreachable {
        server: transport.server(),
        reason: "connection reset".to_owned(),
    };
    pass.answer(&mut a, SyncAnswer::Changes(Err(lost())), &mut |_| {})
        .unwrap();
    assert!(matches!(
        pass.step(&mut a, &mut |_| {}).unwrap(),
        SyncStep::Wait(delay) if delay == Duration::from_millis(10)
    ));
    let SyncStep::Call(again) = pass.step(&mut a, &mut |_| {}).unwrap() else {
        panic!("the feed is read again after the pause");
    };
    assert_eq!(again, feed);
    let answer = again.run(&transport);
    pass.answer(&mut a, answer, &mut |_| {}).unwrap();
    let SyncStep::Call(first @ SyncCall::Sync { .. }) = pass.step(&mut a, &mut |_| {}).unwrap()
    else {
        panic!("the new document is sent next");
    };
    // Each request has its retries: this one fails twice, and the second failure ends the
    // pass with it.
    pass.answer(&mut a, SyncAnswer::Sync(Err(lost())), &mut |_| {})
        .unwrap();
    assert!(matches!(
        pass.step(&mut a, &mut |_| {}).unwrap(),
        SyncStep::Wait(_)
    ));
    let SyncStep::Call(second) = pass.step(&mut a, &mut |_| {}).unwrap() else {
        panic!("the request is made again after the pause");
    };
    assert_eq!(second, first);
    let error = pass
        .answer(&mut a, SyncAnswer::Sync(Err(lost())), &mut |_| {})
        .unwrap_err();
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    // Nothing was lost: the next pass sends the document.
    let report = sync(&mut a, &transport);
    assert_eq!(report.documents_sent, 1, "{report:?}");
}

#[test]
fn a_pass_dropped_half_way_is_carried_on_by_the_next() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = replica(dirs.0.path(), &server, &token_a);
    let mut b = replica(dirs.1.path(), &server, &token_b);
    for n in 0..4 {
        a.create(&json!({"title": format!("doc {n}")})).unwrap();
    }
    let transport = server.transport(&token_a);
    let mut pass = a.begin_sync(&transport.server(), &options()).unwrap();
    // The feed and two of the four documents, then the process "dies".
    for _ in 0..3 {
        let SyncStep::Call(call) = pass.step(&mut a, &mut |_| {}).unwrap() else {
            panic!("a request");
        };
        let answer = call.run(&transport);
        pass.answer(&mut a, answer, &mut |_| {}).unwrap();
    }
    drop(pass);
    drop(a);
    let mut a = Replica::open(dirs.0.path()).unwrap();
    let pending = a
        .sync_statuses()
        .unwrap()
        .iter()
        .filter(|status| status.is_pending())
        .count();
    assert_eq!(pending, 2);
    let report = sync(&mut a, &transport);
    assert_eq!(report.documents_sent, 2, "{report:?}");
    sync(&mut b, &server.transport(&token_b));
    assert_eq!(b.list().unwrap().len(), 4);
}

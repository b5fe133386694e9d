//! Unit-level behaviour of the sans-IO engine, each rule of its invariants pinned down.

use crate::support;
use support::Disk;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ScalarValue};
use passerelle_core::{
    DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis, PeerId, PeerRole,
    StorageResult, StorageTask,
};

fn peer(name: &str) -> PeerId {
    name.parse().unwrap()
}

fn engine(name: &str, seed: u64) -> Engine {
    let mut config = EngineConfig::new(peer(name));
    config.seed = seed;
    config.retry_after_ms = 1_000;
    config.max_retry_after_ms = 4_000;
    Engine::new(config)
}

/// Runs storage effects to completion; returns the other effects in order.
fn settle(engine: &mut Engine, disk: &mut Disk, now: u64, effects: Vec<Effect>) -> Vec<Effect> {
    let mut out = Vec::new();
    let mut queue = effects;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for effect in queue {
            match effect {
                Effect::Storage(task) => {
                    let result = disk.run(task);
                    next.extend(engine.handle(Millis(now), Event::Storage(result)));
                }
                other => out.push(other),
            }
        }
        queue = next;
    }
    out
}

fn sends(effects: &[Effect]) -> Vec<(PeerId, Message)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, message } => Some((to.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

fn put(engine: &mut Engine, now: u64, doc: DocumentId, key: &str, value: i64) -> Vec<Effect> {
    engine
        .change(Millis(now), doc, |tx| {
            tx.put(automerge::ROOT, key, ScalarValue::Int(value))
        })
        .unwrap()
        .1
}

#[test]
fn no_message_leaves_before_the_change_is_durable() {
    let mut client = engine("client", 1);
    client.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("server"),
            role: PeerRole::Announce,
        },
    );
    let (doc, effects) = client.create_document(Millis(0));
    // The creation is only an append so far: nothing is sent before storage answers.
    assert!(sends(&effects).is_empty());
    let append = effects
        .iter()
        .find_map(|e| match e {
            Effect::Storage(task @ StorageTask::Append { .. }) => Some(task.clone()),
            _ => None,
        })
        .expect("the new document is stored");
    assert!(!client.is_durable(&doc));
    let mut disk = Disk::default();
    let result = disk.run(append);
    let effects = client.handle(Millis(1), Event::Storage(result));
    assert!(effects.iter().any(|e| matches!(e, Effect::Durable { .. })));
    assert!(client.is_durable(&doc));
    let sent = sends(&effects);
    assert_eq!(sent.len(), 1, "one sync message once durable: {effects:?}");
    assert!(matches!(sent[0].1, Message::Sync { .. }));
}

#[test]
fn a_storage_failure_holds_messages_back_and_is_retried() {
    let mut client = engine("client", 2);
    client.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("server"),
            role: PeerRole::Announce,
        },
    );
    let (doc, effects) = client.create_document(Millis(0));
    let task = effects
        .iter()
        .find_map(|e| match e {
            Effect::Storage(t) => Some(t.task_id()),
            _ => None,
        })
        .unwrap();
    let effects = client.handle(
        Millis(1),
        Event::Storage(StorageResult::Failed {
            task,
            document_id: doc,
            reason: "disk full".into(),
        }),
    );
    assert!(sends(&effects).is_empty());
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::StorageFailed { .. }))
    );
    let effects = client.handle(Millis(2), Event::Tick);
    let retried = effects
        .iter()
        .any(|e| matches!(e, Effect::Storage(StorageTask::Append { task: t, .. }) if *t == task));
    assert!(retried, "the failed append is retried: {effects:?}");
}

/// The bare automerge protocol: when both first messages are lost, both sides believe a
/// message is in flight and stay silent forever, although their documents differ.
#[test]
fn bare_automerge_stalls_when_both_first_messages_are_lost() {
    let mut a = Automerge::new();
    let mut b = Automerge::new();
    let mut tx = a.transaction();
    tx.put(automerge::ROOT, "a", 1).unwrap();
    tx.commit();
    let mut tx = b.transaction();
    tx.put(automerge::ROOT, "b", 2).unwrap();
    tx.commit();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    assert!(a.generate_sync_message(&mut sa).is_some()); // lost
    assert!(b.generate_sync_message(&mut sb).is_some()); // lost
    assert!(a.generate_sync_message(&mut sa).is_none());
    assert!(b.generate_sync_message(&mut sb).is_none());
    assert_ne!(a.get_heads(), b.get_heads());
}

/// The engine restarts a sync that went silent without converging, so the same loss heals.
#[test]
fn the_engine_recovers_when_both_first_messages_are_lost() {
    let (mut a, mut b) = (engine("a", 3), engine("b", 4));
    let (mut disk_a, mut disk_b) = (Disk::default(), Disk::default());
    let (doc, effects) = a.create_document(Millis(0));
    settle(&mut a, &mut disk_a, 0, effects);
    let effects = put(&mut a, 0, doc, "from_a", 1);
    settle(&mut a, &mut disk_a, 0, effects);
    // B gets a copy of the document's bytes out of band, then edits it too.
    disk_b.0.insert(doc, disk_a.0[&doc].clone());
    let effects = b.open(Millis(0), doc);
    settle(&mut b, &mut disk_b, 0, effects);
    let effects = put(&mut b, 0, doc, "from_b", 2);
    settle(&mut b, &mut disk_b, 0, effects);
    let effects = put(&mut a, 0, doc, "from_a_again", 3);
    settle(&mut a, &mut disk_a, 0, effects);

    // Both connect; both first messages are lost.
    let lost_a = a.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("b"),
            role: PeerRole::Announce,
        },
    );
    let lost_b = b.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("a"),
            role: PeerRole::Announce,
        },
    );
    assert_eq!(sends(&lost_a).len(), 1);
    assert_eq!(sends(&lost_b).len(), 1);
    // Before the retry interval nothing is sent.
    assert!(sends(&a.handle(Millis(500), Event::Tick)).is_empty());
    assert!(sends(&b.handle(Millis(500), Event::Tick)).is_empty());

    // After it, both restart from a fresh sync state; deliver everything from now on.
    let mut inbox: Vec<(PeerId, PeerId, Message)> = Vec::new();
    for (to, m) in sends(&a.handle(Millis(1_100), Event::Tick)) {
        inbox.push((peer("a"), to, m));
    }
    for (to, m) in sends(&b.handle(Millis(1_100), Event::Tick)) {
        inbox.push((peer("b"), to, m));
    }
    assert!(!inbox.is_empty(), "the retry sends again");
    let mut rounds = 0;
    while let Some((from, to, message)) = inbox.pop() {
        rounds += 1;
        assert!(rounds < 100, "sync must not loop");
        let (engine, disk) = if to == peer("a") {
            (&mut a, &mut disk_a)
        } else {
            (&mut b, &mut disk_b)
        };
        let effects = engine.handle(
            Millis(1_200),
            Event::Received {
                from,
                message,
                may_write: true,
            },
        );
        let effects = settle(engine, disk, 1_200, effects);
        for (next_to, m) in sends(&effects) {
            inbox.push((to.clone(), next_to, m));
        }
    }
    let heads_a = a.document(&doc).unwrap().get_heads();
    let heads_b = b.document(&doc).unwrap().get_heads();
    assert_eq!(heads_a, heads_b);
    assert!(a.is_in_sync_with(&doc, &peer("b")));
}

#[test]
fn a_reloaded_document_gets_a_new_actor() {
    let mut disk = Disk::default();
    let mut first = engine("client", 5);
    let (doc, effects) = first.create_document(Millis(0));
    settle(&mut first, &mut disk, 0, effects);
    let actor_before = first.document(&doc).unwrap().get_actor().clone();
    let effects = put(&mut first, 0, doc, "x", 1);
    settle(&mut first, &mut disk, 0, effects);
    // A second life of the same replica, with the same seed: still a different actor.
    let mut second = engine("client", 5);
    let effects = second.open(Millis(0), doc);
    let effects = settle(&mut second, &mut disk, 0, effects);
    assert!(effects.contains(&Effect::Ready {
        document_id: doc,
        exists: true
    }));
    let actor_after = second.document(&doc).unwrap().get_actor().clone();
    assert_ne!(actor_before, actor_after);
    let effects = put(&mut second, 0, doc, "x", 2);
    settle(&mut second, &mut disk, 0, effects);
    // Both lives' changes load together without a duplicate-seq error.
    let reloaded = Automerge::load(&disk.0[&doc]).unwrap();
    assert_eq!(reloaded.get_changes(&[]).len(), 3);
}

fn server_with_doc() -> (Engine, Disk, DocumentId) {
    let mut disk = Disk::default();
    let mut author = engine("author", 6);
    let (doc, effects) = author.create_document(Millis(0));
    settle(&mut author, &mut disk, 0, effects);
    let effects = put(&mut author, 0, doc, "title", 1);
    settle(&mut author, &mut disk, 0, effects);
    let mut server = engine("server", 7);
    for name in ["c1", "c2"] {
        server.handle(
            Millis(0),
            Event::PeerConnected {
                peer: peer(name),
                role: PeerRole::OnRequest,
            },
        );
    }
    (server, disk, doc)
}

#[test]
fn a_malformed_sync_message_is_an_error_for_its_sender_only() {
    let (mut server, mut disk, doc) = server_with_doc();
    let effects = server.handle(
        Millis(0),
        Event::Received {
            from: peer("c1"),
            message: Message::Sync {
                sender_id: peer("c1"),
                target_id: peer("server"),
                document_id: doc,
                data: vec![0x42, 0xff, 0x00, 0x13],
            },
            may_write: true,
        },
    );
    let effects = settle(&mut server, &mut disk, 0, effects);
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::PeerError { peer: p, document_id: Some(d), .. } if *p == peer("c1") && *d == doc)
        ),
        "{effects:?}"
    );
    // The other client is served as usual.
    let replica = Automerge::new();
    let mut state = sync::State::new();
    let request = replica.generate_sync_message(&mut state).unwrap();
    let effects = server.handle(
        Millis(1),
        Event::Received {
            from: peer("c2"),
            message: Message::Request {
                sender_id: peer("c2"),
                target_id: peer("server"),
                document_id: doc,
                data: request.encode(),
            },
            may_write: true,
        },
    );
    let effects = settle(&mut server, &mut disk, 1, effects);
    let replies = sends(&effects);
    assert_eq!(replies.len(), 1);
    assert!(matches!(&replies[0], (to, Message::Sync { .. }) if *to == peer("c2")));
}

#[test]
fn a_reader_cannot_write_and_is_told_so() {
    let (mut server, mut disk, doc) = server_with_doc();
    // The reader fetches the document, then edits it locally.
    let mut replica = Automerge::new();
    let mut state = sync::State::new();
    let mut inbox = vec![replica.generate_sync_message(&mut state).unwrap()];
    for _ in 0..6 {
        let Some(message) = inbox.pop() else { break };
        let effects = server.handle(
            Millis(0),
            Event::Received {
                from: peer("c1"),
                message: Message::Sync {
                    sender_id: peer("c1"),
                    target_id: peer("server"),
                    document_id: doc,
                    data: message.encode(),
                },
                may_write: false,
            },
        );
        for (_, reply) in sends(&settle(&mut server, &mut disk, 0, effects)) {
            let Message::Sync { data, .. } = reply else {
                panic!()
            };
            replica
                .receive_sync_message(&mut state, sync::Message::decode(&data).unwrap())
                .unwrap();
            if let Some(next) = replica.generate_sync_message(&mut state) {
                inbox.push(next);
            }
        }
    }
    let server_heads = server.document(&doc).unwrap().get_heads();
    assert_eq!(replica.get_heads(), server_heads, "the reader can read");
    let mut tx = replica.transaction();
    tx.put(automerge::ROOT, "title", 666).unwrap();
    tx.commit();
    let attempt = replica.generate_sync_message(&mut state).unwrap();
    let effects = server.handle(
        Millis(1),
        Event::Received {
            from: peer("c1"),
            message: Message::Sync {
                sender_id: peer("c1"),
                target_id: peer("server"),
                document_id: doc,
                data: attempt.encode(),
            },
            may_write: false,
        },
    );
    let effects = settle(&mut server, &mut disk, 1, effects);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Refused { peer: p, .. } if *p == peer("c1"))),
        "{effects:?}"
    );
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::ChangesApplied { .. }))
    );
    assert_eq!(server.document(&doc).unwrap().get_heads(), server_heads);
    // Sending the same again neither re-applies nor loops.
    let again = replica.generate_sync_message(&mut state);
    if let Some(again) = again {
        let effects = server.handle(
            Millis(2),
            Event::Received {
                from: peer("c1"),
                message: Message::Sync {
                    sender_id: peer("c1"),
                    target_id: peer("server"),
                    document_id: doc,
                    data: again.encode(),
                },
                may_write: false,
            },
        );
        let effects = settle(&mut server, &mut disk, 2, effects);
        assert!(sends(&effects).is_empty(), "{effects:?}");
    }
}

#[test]
fn a_request_for_an_unknown_document_is_answered_unavailable() {
    let mut server = engine("server", 8);
    let mut disk = Disk::default();
    server.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("c1"),
            role: PeerRole::OnRequest,
        },
    );
    let doc = DocumentId::random();
    let mut empty = Automerge::new();
    let request = empty
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    let effects = server.handle(
        Millis(0),
        Event::Received {
            from: peer("c1"),
            message: Message::Request {
                sender_id: peer("c1"),
                target_id: peer("server"),
                document_id: doc,
                data: request.encode(),
            },
            may_write: true,
        },
    );
    let effects = settle(&mut server, &mut disk, 0, effects);
    let sent = sends(&effects);
    assert_eq!(sent.len(), 1);
    assert!(matches!(sent[0].1, Message::DocUnavailable { .. }));
    assert!(disk.0.is_empty(), "nothing is stored for a request");
    let _ = &mut empty;
}

#[test]
fn ephemeral_messages_are_relayed_once_and_never_stored() {
    let (mut server, mut disk, doc) = server_with_doc();
    // Both clients sync the document first, so that they are its peers.
    for name in ["c1", "c2"] {
        let replica = Automerge::new();
        let request = replica
            .generate_sync_message(&mut sync::State::new())
            .unwrap();
        let effects = server.handle(
            Millis(0),
            Event::Received {
                from: peer(name),
                message: Message::Request {
                    sender_id: peer(name),
                    target_id: peer("server"),
                    document_id: doc,
                    data: request.encode(),
                },
                may_write: true,
            },
        );
        settle(&mut server, &mut disk, 0, effects);
    }
    let stored = disk.0.clone();
    let presence = Message::Ephemeral {
        sender_id: peer("c1"),
        target_id: peer("server"),
        count: 1,
        session_id: "s1".into(),
        document_id: doc,
        data: vec![1, 2, 3],
    };
    let effects = server.handle(
        Millis(1),
        Event::Received {
            from: peer("c1"),
            message: presence.clone(),
            may_write: true,
        },
    );
    let sent = sends(&effects);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, peer("c2"));
    assert!(
        matches!(&sent[0].1, Message::Ephemeral { sender_id, data, .. } if *sender_id == peer("c1") && data == &vec![1, 2, 3])
    );
    // A duplicate (same session, same count) is not relayed again.
    let effects = server.handle(
        Millis(2),
        Event::Received {
            from: peer("c1"),
            message: presence,
            may_write: true,
        },
    );
    assert!(sends(&effects).is_empty());
    assert!(!effects.iter().any(|e| matches!(e, Effect::Storage(_))));
    assert_eq!(disk.0, stored);
}

#[test]
fn idle_documents_are_evicted_within_the_budget_and_reload_on_demand() {
    let mut config = EngineConfig::new(peer("server"));
    config.seed = 9;
    config.max_loaded_documents = 3;
    config.evict_idle_after_ms = 60_000;
    let mut server = Engine::new(config);
    let mut disk = Disk::default();
    let mut docs = Vec::new();
    for i in 0..10 {
        let (doc, effects) = server.create_document(Millis(i));
        settle(&mut server, &mut disk, i, effects);
        docs.push(doc);
    }
    assert_eq!(server.loaded_documents().count(), 10);
    server.handle(Millis(20), Event::Tick);
    assert_eq!(server.loaded_documents().count(), 3, "over budget: evicted");
    // The most recently used stay.
    for doc in &docs[7..] {
        assert!(server.document(doc).is_some());
    }
    let effects = server.open(Millis(30), docs[0]);
    let effects = settle(&mut server, &mut disk, 30, effects);
    assert!(effects.contains(&Effect::Ready {
        document_id: docs[0],
        exists: true
    }));
    server.handle(Millis(100_000), Event::Tick);
    assert_eq!(server.loaded_documents().count(), 0, "idle: evicted");
}

/// Syncs `replica` with the server as peer `from` until neither has anything to say.
fn sync_with_server(
    server: &mut Engine,
    disk: &mut Disk,
    now: u64,
    from: &str,
    doc: DocumentId,
    replica: &mut Automerge,
    state: &mut sync::State,
) {
    let mut pending: Vec<sync::Message> =
        replica.generate_sync_message(state).into_iter().collect();
    let mut rounds = 0;
    while let Some(m) = pending.pop() {
        rounds += 1;
        assert!(rounds < 20, "the sync does not converge");
        for reply in syncs_to(&receive_from(server, disk, now, from, doc, &m, true), from) {
            replica.receive_sync_message(state, reply).unwrap();
            pending.extend(replica.generate_sync_message(state));
        }
    }
}

#[test]
fn with_evict_when_unheld_a_leaving_clients_documents_are_evicted_and_reload_intact() {
    let mut config = EngineConfig::new(peer("server"));
    config.seed = 11;
    config.evict_idle_after_ms = 60_000;
    config.evict_when_unheld = true;
    let mut server = Engine::new(config);
    let mut disk = Disk::default();
    for name in ["c1", "c2", "c3"] {
        server.handle(
            Millis(0),
            Event::PeerConnected {
                peer: peer(name),
                role: PeerRole::OnRequest,
            },
        );
    }
    // c1 creates two documents on the server; c3 also holds the second one.
    // Fixed ids and actors: the run is the same every time (a bloom filter's false positive
    // would otherwise, now and then, hold the last edit back for one more round).
    let (shared, alone) = (
        DocumentId::from_bytes([1; 16]),
        DocumentId::from_bytes([2; 16]),
    );
    let mut replicas = Vec::new();
    for (i, doc) in [alone, shared].into_iter().enumerate() {
        let mut replica = Automerge::new().with_actor(automerge::ActorId::from([10 + i as u8; 16]));
        let mut tx = replica.transaction();
        tx.put(automerge::ROOT, "title", format!("mission {i}"))
            .unwrap();
        tx.put(automerge::ROOT, "n", i as i64).unwrap();
        tx.commit();
        let mut state = sync::State::new();
        sync_with_server(
            &mut server,
            &mut disk,
            1,
            "c1",
            doc,
            &mut replica,
            &mut state,
        );
        assert_eq!(
            server.document(&doc).unwrap().get_heads(),
            replica.get_heads()
        );
        replicas.push(replica);
    }
    let mut c3 = Automerge::new().with_actor(automerge::ActorId::from([3; 16]));
    sync_with_server(
        &mut server,
        &mut disk,
        2,
        "c3",
        shared,
        &mut c3,
        &mut sync::State::new(),
    );
    assert_eq!(c3.get_heads(), replicas[1].get_heads());

    // c1 leaves: the document only it held goes at once, the shared one stays.
    server.handle(Millis(3), Event::PeerDisconnected { peer: peer("c1") });
    assert!(
        server.document(&alone).is_none(),
        "unheld: evicted on disconnect"
    );
    assert!(server.document(&shared).is_some(), "still held by c3");
    server.handle(Millis(4), Event::PeerDisconnected { peer: peer("c3") });
    assert_eq!(server.loaded_documents().count(), 0);

    // c2 asks for the first one: it reloads from storage, whole.
    let mut c2 = Automerge::new().with_actor(automerge::ActorId::from([2; 16]));
    let mut c2_state = sync::State::new();
    let request = c2.generate_sync_message(&mut c2_state).unwrap();
    let effects = server.handle(
        Millis(5),
        Event::Received {
            from: peer("c2"),
            message: Message::Request {
                sender_id: peer("c2"),
                target_id: peer("server"),
                document_id: alone,
                data: request.encode(),
            },
            may_write: true,
        },
    );
    for reply in syncs_to(&settle(&mut server, &mut disk, 5, effects), "c2") {
        c2.receive_sync_message(&mut c2_state, reply).unwrap();
    }
    sync_with_server(
        &mut server,
        &mut disk,
        6,
        "c2",
        alone,
        &mut c2,
        &mut c2_state,
    );
    assert_eq!(c2.get_heads(), replicas[0].get_heads());
    assert_eq!(
        c2.get(automerge::ROOT, "title")
            .unwrap()
            .unwrap()
            .0
            .as_str(),
        Some("mission 0")
    );
    // A document with changes not yet durable is kept until they are.
    let mut tx = c2.transaction();
    tx.put(automerge::ROOT, "n", 7).unwrap();
    tx.commit();
    let edit = c2.generate_sync_message(&mut c2_state).unwrap();
    let effects = server.handle(
        Millis(7),
        Event::Received {
            from: peer("c2"),
            message: Message::Sync {
                sender_id: peer("c2"),
                target_id: peer("server"),
                document_id: alone,
                data: edit.encode(),
            },
            may_write: true,
        },
    );
    let appends: Vec<_> = effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Storage(task) => Some(task),
            _ => None,
        })
        .collect();
    assert!(!appends.is_empty(), "the edit is stored");
    server.handle(Millis(8), Event::PeerDisconnected { peer: peer("c2") });
    assert!(server.document(&alone).is_some(), "not durable yet: kept");
    for task in appends {
        let result = disk.run(task);
        let effects = server.handle(Millis(9), Event::Storage(result));
        settle(&mut server, &mut disk, 9, effects);
    }
    server.handle(Millis(10), Event::Tick);
    assert!(
        server.document(&alone).is_none(),
        "durable and unheld: evicted"
    );
    let effects = server.open(Millis(11), alone);
    settle(&mut server, &mut disk, 11, effects);
    assert_eq!(server.document(&alone).unwrap().get_heads(), c2.get_heads());
}

#[test]
fn without_evict_when_unheld_a_leaving_peers_documents_stay_until_idle() {
    let mut config = EngineConfig::new(peer("client"));
    config.seed = 12;
    config.evict_idle_after_ms = 60_000;
    let mut client = Engine::new(config);
    let mut disk = Disk::default();
    client.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("server"),
            role: PeerRole::Announce,
        },
    );
    let (doc, effects) = client.create_document(Millis(0));
    settle(&mut client, &mut disk, 0, effects);
    client.handle(
        Millis(1),
        Event::PeerDisconnected {
            peer: peer("server"),
        },
    );
    client.handle(Millis(2), Event::Tick);
    assert!(client.document(&doc).is_some());
    client.handle(Millis(60_002), Event::Tick);
    assert!(client.document(&doc).is_none());
}

#[test]
fn a_batch_delta_is_answered_only_once_durable() {
    use passerelle_core::{DeltaOutcome, DeltaRequest};
    let mut server = engine("server", 10);
    let mut disk = Disk::default();
    let doc_id = DocumentId::random();
    let mut laptop = Automerge::new();
    let mut tx = laptop.transaction();
    tx.put(automerge::ROOT, "title", "Mission").unwrap();
    tx.commit();
    let delta = |changes: Vec<u8>, heads, may_write| {
        Event::Delta(DeltaRequest {
            request: 1,
            from: peer("laptop"),
            document_id: doc_id,
            heads,
            changes,
            may_write,
        })
    };
    // The load, then the append: no reply before the append is answered.
    let effects = server.handle(Millis(0), delta(laptop.save(), laptop.get_heads(), true));
    let load = effects
        .iter()
        .find_map(|e| match e {
            Effect::Storage(task) => Some(task.clone()),
            _ => None,
        })
        .unwrap();
    let effects = server.handle(Millis(0), Event::Storage(disk.run(load)));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::DeltaReply { .. }))
    );
    let effects = settle(&mut server, &mut disk, 0, effects);
    let reply = effects.iter().find_map(|e| match e {
        Effect::DeltaReply { outcome, .. } => Some(outcome.clone()),
        _ => None,
    });
    match reply {
        Some(DeltaOutcome::Synced {
            heads,
            changes,
            missing,
            refused,
        }) => {
            assert_eq!(heads, laptop.get_heads());
            assert!(changes.is_empty() && missing.is_empty() && !refused);
        }
        other => panic!("{other:?}"),
    }
    assert!(disk.0.contains_key(&doc_id));
    // A reader's changes are refused and not applied.
    let mut tx = laptop.transaction();
    tx.put(automerge::ROOT, "title", "Changed").unwrap();
    tx.commit();
    let effects = server.handle(
        Millis(1),
        delta(laptop.save_after(&[]), laptop.get_heads(), false),
    );
    let effects = settle(&mut server, &mut disk, 1, effects);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::DeltaReply {
            outcome: DeltaOutcome::Synced { refused: true, .. },
            ..
        }
    )));
    assert_ne!(
        server.document(&doc_id).unwrap().get_heads(),
        laptop.get_heads()
    );
}

fn syncs_to(effects: &[Effect], to: &str) -> Vec<sync::Message> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: t,
                message: Message::Sync { data, .. },
            } if *t == peer(to) => Some(sync::Message::decode(data).unwrap()),
            _ => None,
        })
        .collect()
}
fn receive_from(
    server: &mut Engine,
    disk: &mut Disk,
    now: u64,
    from: &str,
    doc: DocumentId,
    m: &sync::Message,
    may_write: bool,
) -> Vec<Effect> {
    let effects = server.handle(
        Millis(now),
        Event::Received {
            from: peer(from),
            message: Message::Sync {
                sender_id: peer(from),
                target_id: peer("server"),
                document_id: doc,
                data: m.clone().encode(),
            },
            may_write,
        },
    );
    settle(server, disk, now, effects)
}

/// A reader holding a refused change asks (need) for a change the server's last message
/// announced in its heads but did not carry (what a bloom filter false positive does).
#[test]
fn a_reader_with_refused_changes_gets_what_it_needs() {
    let mut disk = Disk::default();
    let mut author = engine("author", 6);
    let (doc, effects) = author.create_document(Millis(0));
    settle(&mut author, &mut disk, 0, effects);
    let effects = author
        .change(Millis(0), doc, |tx| {
            tx.put(automerge::ROOT, "title", ScalarValue::Int(1))
        })
        .unwrap()
        .1;
    settle(&mut author, &mut disk, 0, effects);
    let mut server = engine("server", 7);
    for name in ["reader", "writer"] {
        server.handle(
            Millis(0),
            Event::PeerConnected {
                peer: peer(name),
                role: PeerRole::OnRequest,
            },
        );
    }
    // The reader syncs to the server's copy.
    let mut reader = Automerge::new();
    let mut rs = sync::State::new();
    let mut pending = vec![reader.generate_sync_message(&mut rs).unwrap()];
    while let Some(m) = pending.pop() {
        for reply in syncs_to(
            &receive_from(&mut server, &mut disk, 0, "reader", doc, &m, false),
            "reader",
        ) {
            reader.receive_sync_message(&mut rs, reply).unwrap();
            if let Some(next) = reader.generate_sync_message(&mut rs) {
                pending.push(next);
            }
        }
    }
    assert_eq!(
        reader.get_heads(),
        server.document(&doc).unwrap().get_heads()
    );
    // The reader edits: refused.
    let mut tx = reader.transaction();
    tx.put(automerge::ROOT, "reader", 1).unwrap();
    tx.commit();
    let attempt = reader.generate_sync_message(&mut rs).unwrap();
    let effects = receive_from(&mut server, &mut disk, 1, "reader", doc, &attempt, false);
    assert!(effects.iter().any(|e| matches!(e, Effect::Refused { .. })));

    // A writer changes the document through the server.
    let mut writer = server.document(&doc).unwrap().fork();
    let mut tx = writer.transaction();
    tx.put(automerge::ROOT, "writer", 2).unwrap();
    tx.commit();
    let writer_heads = writer.get_heads();
    let mut ws = sync::State::new();
    let mut to_reader = Vec::new();
    let mut pending = vec![writer.generate_sync_message(&mut ws).unwrap()];
    let mut rounds = 0;
    while let Some(m) = pending.pop() {
        rounds += 1;
        assert!(rounds < 20);
        let effects = receive_from(&mut server, &mut disk, 2, "writer", doc, &m, true);
        to_reader.extend(syncs_to(&effects, "reader"));
        for reply in syncs_to(&effects, "writer") {
            writer.receive_sync_message(&mut ws, reply).unwrap();
            if let Some(next) = writer.generate_sync_message(&mut ws) {
                pending.push(next);
            }
        }
    }
    assert_eq!(server.document(&doc).unwrap().get_heads(), writer_heads);
    assert_eq!(
        to_reader.len(),
        1,
        "the server tells the reader of the writer's change"
    );
    // As if the reader's bloom filter had a false positive for the writer's change: the
    // server's message announces the new heads but carries no change.
    let mut announced = to_reader.pop().unwrap();
    announced.changes = Vec::<Vec<u8>>::new().into();
    reader.receive_sync_message(&mut rs, announced).unwrap();
    let ask = reader
        .generate_sync_message(&mut rs)
        .expect("the reader asks for what it misses");
    assert_eq!(ask.need, writer_heads);
    let effects = receive_from(&mut server, &mut disk, 3, "reader", doc, &ask, false);
    let replies = syncs_to(&effects, "reader");
    let mut tick_replies = 0;
    for t in [10_000u64, 20_000, 40_000, 80_000] {
        let effects = server.handle(Millis(t), Event::Tick);
        tick_replies += syncs_to(&settle(&mut server, &mut disk, t, effects), "reader").len();
    }
    assert!(
        !replies.is_empty() || tick_replies > 0,
        "the server never answers the reader's need"
    );
}

/// Two server engines over one disk (two instances on one database): a change stored by one
/// reaches a client of the other that asked about the document, even after the other evicted
/// it, once the runtime tells it (`wake_subscribers`); a document nobody asked about is left
/// alone.
#[test]
fn a_change_stored_elsewhere_wakes_the_documents_subscribers() {
    let mut disk = Disk::default();
    let new_server = |name: &str, seed: u64| {
        let mut config = EngineConfig::new(peer(name));
        config.seed = seed;
        config.evict_idle_after_ms = 1_000;
        Engine::new(config)
    };
    let mut a = new_server("server", 21);
    let mut b = new_server("server", 22);
    let doc = DocumentId::from_bytes([7; 16]);
    b.handle(
        Millis(0),
        Event::PeerConnected {
            peer: peer("c1"),
            role: PeerRole::OnRequest,
        },
    );
    let mut client = Automerge::new().with_actor(automerge::ActorId::from([30; 16]));
    let mut tx = client.transaction();
    tx.put(automerge::ROOT, "title", "visite").unwrap();
    tx.commit();
    let mut state = sync::State::new();
    sync_with_server(&mut b, &mut disk, 1, "c1", doc, &mut client, &mut state);
    b.handle(Millis(5_000), Event::Tick);
    assert!(b.document(&doc).is_none(), "idle and converged: evicted");
    assert!(b.has_subscribers(&doc));

    // Instance A changes the document in the shared storage.
    let effects = a.open(Millis(5_000), doc);
    settle(&mut a, &mut disk, 5_000, effects);
    let effects = put(&mut a, 5_001, doc, "status", 2);
    settle(&mut a, &mut disk, 5_001, effects);
    let expected = a.document(&doc).unwrap().get_heads();
    assert_ne!(client.get_heads(), expected);

    let effects = b.wake_subscribers(Millis(5_002), doc);
    let effects = settle(&mut b, &mut disk, 5_002, effects);
    let mut pending = syncs_to(&effects, "c1");
    assert!(!pending.is_empty(), "the subscriber hears of the document");
    let mut rounds = 0;
    while let Some(m) = pending.pop() {
        rounds += 1;
        assert!(rounds < 20, "the sync does not converge");
        client.receive_sync_message(&mut state, m).unwrap();
        if let Some(reply) = client.generate_sync_message(&mut state) {
            let effects = receive_from(&mut b, &mut disk, 5_003, "c1", doc, &reply, true);
            pending.extend(syncs_to(&effects, "c1"));
        }
    }
    assert_eq!(client.get_heads(), expected);

    let other = DocumentId::from_bytes([8; 16]);
    assert!(b.wake_subscribers(Millis(5_004), other).is_empty());
    assert!(!b.is_loading(&other) && b.document(&other).is_none());
}

//! The cost of checking incoming changes (`passerelle_core::validate`) on a stream like
//! benchmark workload 1, beside the cost of applying them.
//!
//! The stream: 1,000 new small documents (the JS driver's `{title, n, tags: [..], done}`), each
//! created in one change and then edited twice (a key overwritten, an element inserted after
//! one the first change made), then one text of 10,000 characters imported in one change and
//! typed into (150 one-character insertions, 50 deletions). The first message of a new
//! document is the whole document (`save()`), as automerge's JS sync sends it to a peer that has
//! nothing; each later change is one message.
//!
//! Two replays:
//! - `check`: each message checked (`check_changes_with`) against the document as it is, with
//!   the document's [`DocOps`] kept between messages as the engine keeps it, then applied;
//! - `engine`: the small documents' messages as automerge-repo sync messages through the real
//!   [`Engine`] (with an in-memory disk), which checks, applies and stores them.
//!
//! `cargo bench -p passerelle-core --bench validation_replay` prints medians of wall time.
//! For instruction counts (stable on a shared machine), run the binary once under callgrind,
//! counting only inside the check (or inside the engine):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*validation_replay::check*' \
//!     target/release/deps/validation_replay-HASH --once [small|text]
//! valgrind --tool=callgrind --toggle-collect='*validation_replay::engine_round*' \
//!     target/release/deps/validation_replay-HASH --once engine
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use automerge::sync;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ChangeHash, ObjType, ReadDoc};
use passerelle_core::validate::{DocOps, check_changes_with};
use passerelle_core::{
    DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis, PeerId, PeerRole,
    StorageResult, StorageTask,
};

/// One document's messages, in order: the bytes of the changes, and the heads after them.
struct DocStream {
    messages: Vec<Vec<u8>>,
    heads: Vec<Vec<ChangeHash>>,
}

fn commit(tx: automerge::transaction::Transaction<'_>) {
    tx.commit_with(CommitOptions::default().with_time(0));
}

fn last_change(doc: &mut Automerge) -> Vec<u8> {
    doc.get_last_local_change()
        .expect("a change")
        .raw_bytes()
        .to_vec()
}

fn small_doc(i: u32) -> DocStream {
    let mut actor = [0u8; 16];
    actor[..4].copy_from_slice(&i.to_be_bytes());
    actor[15] = 1;
    let mut doc = Automerge::new().with_actor(ActorId::from(&actor[..]));
    let (mut messages, mut heads) = (Vec::new(), Vec::new());
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "title", format!("Document {i}"))
        .unwrap();
    tx.put(automerge::ROOT, "n", i64::from(i)).unwrap();
    let tags = tx
        .put_object(automerge::ROOT, "tags", ObjType::List)
        .unwrap();
    tx.insert(&tags, 0, "bench").unwrap();
    tx.insert(&tags, 1, "small").unwrap();
    tx.put(automerge::ROOT, "done", false).unwrap();
    commit(tx);
    messages.push(doc.save());
    heads.push(doc.get_heads());
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "done", true).unwrap();
    commit(tx);
    messages.push(last_change(&mut doc));
    heads.push(doc.get_heads());
    let mut tx = doc.transaction();
    tx.insert(&tags, 1, "edited").unwrap();
    commit(tx);
    messages.push(last_change(&mut doc));
    heads.push(doc.get_heads());
    DocStream { messages, heads }
}

fn text_doc() -> DocStream {
    let mut doc = Automerge::new().with_actor(ActorId::from(&[0xEE; 16][..]));
    let (mut messages, mut heads) = (Vec::new(), Vec::new());
    let mut tx = doc.transaction();
    let text = tx
        .put_object(automerge::ROOT, "notes", ObjType::Text)
        .unwrap();
    tx.splice_text(&text, 0, 0, &"abcdefghij".repeat(1_000))
        .unwrap();
    commit(tx);
    messages.push(doc.save());
    heads.push(doc.get_heads());
    // A deterministic walk over the text: mostly typing, some deleting.
    let mut position = 7_000usize;
    for k in 0..200u32 {
        let mut tx = doc.transaction();
        if k % 4 == 3 {
            tx.splice_text(&text, position - 1, 1, "").unwrap();
            position -= 1;
        } else {
            tx.splice_text(&text, position, 0, "y").unwrap();
            position += 1;
        }
        commit(tx);
        messages.push(last_change(&mut doc));
        heads.push(doc.get_heads());
        if k % 50 == 49 {
            position = 1 + (position * 7) % doc.length(&text).max(1);
        }
    }
    DocStream { messages, heads }
}

/// The measured check, kept out of line so that callgrind can count it alone.
#[inline(never)]
fn check(doc: &Automerge, doc_ops: &mut DocOps, message: &[u8]) {
    check_changes_with(doc, doc_ops, message).expect("a valid change");
}

#[inline(never)]
fn apply(doc: &mut Automerge, message: &[u8]) {
    doc.load_incremental(message).expect("applies");
}

/// One replay of `streams` from empty documents: (time checking, time applying).
fn replay(streams: &[DocStream]) -> (Duration, Duration) {
    let (mut checking, mut applying) = (Duration::ZERO, Duration::ZERO);
    for stream in streams {
        let mut doc = Automerge::new();
        let mut doc_ops = DocOps::default();
        for message in &stream.messages {
            let start = Instant::now();
            check(&doc, &mut doc_ops, black_box(message));
            checking += start.elapsed();
            let start = Instant::now();
            apply(&mut doc, message);
            applying += start.elapsed();
        }
    }
    (checking, applying)
}

/// The server's storage, in memory: a document is its appended chunks.
#[derive(Default)]
struct Disk(BTreeMap<DocumentId, Vec<u8>>);

impl Disk {
    fn run(&mut self, task: StorageTask) -> StorageResult {
        match task {
            StorageTask::Load { task, document_id } => StorageResult::Loaded {
                task,
                document_id,
                data: self.0.get(&document_id).cloned(),
            },
            StorageTask::Append {
                task,
                document_id,
                chunk,
            } => {
                self.0.entry(document_id).or_default().extend(chunk);
                StorageResult::Appended { task, document_id }
            }
        }
    }
}

/// One event through the engine, and every storage task it leads to.
#[inline(never)]
fn engine_round(engine: &mut Engine, disk: &mut Disk, now: Millis, event: Event) -> usize {
    let mut effects = engine.handle(now, event);
    let mut errors = 0;
    while !effects.is_empty() {
        let mut next = Vec::new();
        for effect in effects {
            match effect {
                Effect::Storage(task) => {
                    next.extend(engine.handle(now, Event::Storage(disk.run(task))));
                }
                Effect::PeerError { .. } => errors += 1,
                _ => {}
            }
        }
        effects = next;
    }
    errors
}

/// The small documents' messages through the engine, as a JS client sends them: time spent.
fn replay_engine(streams: &[DocStream]) -> Duration {
    let client = "bench-client".parse::<PeerId>().unwrap();
    let mut config = EngineConfig::new("server".parse::<PeerId>().unwrap());
    config.seed = 1;
    let mut engine = Engine::new(config);
    let mut disk = Disk::default();
    let mut now = 0;
    let mut elapsed = Duration::ZERO;
    engine_round(
        &mut engine,
        &mut disk,
        Millis(now),
        Event::PeerConnected {
            peer: client.clone(),
            role: PeerRole::OnRequest,
        },
    );
    for (index, stream) in streams.iter().enumerate() {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(index as u64 + 1).to_be_bytes());
        let document_id = DocumentId::from_bytes(bytes);
        for (message, heads) in stream.messages.iter().zip(&stream.heads) {
            now += 1;
            let data = sync::Message {
                heads: heads.clone(),
                need: Vec::new(),
                have: Vec::new(),
                changes: vec![message.clone()].into(),
                flags: None,
                version: sync::MessageVersion::V1,
            }
            .encode();
            let event = Event::Received {
                from: client.clone(),
                message: Message::Sync {
                    sender_id: client.clone(),
                    target_id: "server".parse::<PeerId>().unwrap(),
                    document_id,
                    data,
                },
                may_write: true,
            };
            let start = Instant::now();
            let errors = engine_round(&mut engine, &mut disk, Millis(now), event);
            elapsed += start.elapsed();
            assert_eq!(errors, 0, "a valid message refused");
        }
    }
    assert_eq!(disk.0.len(), streams.len(), "every document stored");
    elapsed
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let once = args.iter().any(|arg| arg == "--once");
    let wanted = |part: &str| {
        let named: Vec<&String> = args[1..]
            .iter()
            .filter(|a| ["small", "text", "engine"].contains(&a.as_str()))
            .collect();
        named.is_empty() || named.iter().any(|a| a.as_str() == part)
    };
    let runs = if once { 1 } else { 11 };
    let small: Vec<DocStream> = (0..1_000).map(small_doc).collect();
    let text = vec![text_doc()];
    let parts = [
        ("small", "1,000 new small documents, 3 changes each", &small),
        (
            "text",
            "a 10,000-character text, then 200 keystrokes",
            &text,
        ),
    ];
    for (part, name, streams) in parts {
        if !wanted(part) {
            continue;
        }
        let messages: usize = streams.iter().map(|s| s.messages.len()).sum();
        let (mut checks, mut applies) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (checking, applying) = replay(streams);
            checks.push(checking);
            applies.push(applying);
        }
        checks.sort();
        applies.sort();
        let (checking, applying) = (checks[runs / 2], applies[runs / 2]);
        println!(
            "check, {name} ({messages} messages): check {checking:?} ({:.1} µs a message), \
             apply {applying:?}; check / apply {:.2}; medians of {runs} (check {:?}–{:?})",
            checking.as_secs_f64() * 1e6 / messages as f64,
            checking.as_secs_f64() / applying.as_secs_f64(),
            checks[0],
            checks[runs - 1],
        );
    }
    if wanted("engine") {
        let mut times: Vec<Duration> = (0..runs).map(|_| replay_engine(&small)).collect();
        times.sort();
        println!(
            "engine, 1,000 new small documents as sync messages (3,000): {:?} ({:.1} µs a \
             document); median of {runs} ({:?}–{:?})",
            times[runs / 2],
            times[runs / 2].as_secs_f64() * 1e6 / small.len() as f64,
            times[0],
            times[runs - 1],
        );
    }
}

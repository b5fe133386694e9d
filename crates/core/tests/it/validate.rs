//! Incoming changes are checked op by op before automerge applies them (`validate.rs`).
//!
//! automerge 0.12 checks ops only with `debug_assert!`s: in a release build, each malformed
//! change below is applied and stored, and the document then fails to load or reads back
//! differently. Run these tests with `--release` too: that is the case that matters.
//!
//! - the malformed changes are refused by `check_changes` with the reason, and by the engine
//!   (sync message: an error for the sender; batch delta: `Failed`), with nothing stored;
//! - valid changes are never refused: random concurrent edits of three actors (maps, lists,
//!   text, marks, counters, objects deleted while others edit them), change by change and as
//!   whole saves;
//! - a malformed change held for a missing dependency is caught when the dependency arrives.

use crate::support;
use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};
use support::Disk;

use automerge::legacy::{ElementId, Key, MarkData, ObjectId, Op, OpId, OpType, SortedVec};
use automerge::marks::{ExpandMark, Mark};
use automerge::sync;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ExpandedChange, ObjId, ObjType, ReadDoc, ScalarValue};
use passerelle_core::validate::{DocOps, check_changes, check_changes_with};
use passerelle_core::{
    DeltaOutcome, DeltaRequest, DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis,
    PeerId, PeerRole,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BASE_ACTOR: [u8; 16] = [0xA1; 16];
const ATTACKER: [u8; 16] = [0xBA; 16];

/// A document with a bit of everything: map keys, a list with an overwritten element, a text,
/// a counter, a nested map, and a list that was made and then deleted.
fn base() -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(&BASE_ACTOR[..]));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "title", "Mission Oujda").unwrap();
    let entries = tx
        .put_object(automerge::ROOT, "entries", ObjType::List)
        .unwrap();
    for i in 0..3 {
        tx.insert(&entries, i, i as i64).unwrap();
    }
    let notes = tx
        .put_object(automerge::ROOT, "notes", ObjType::Text)
        .unwrap();
    tx.splice_text(&notes, 0, 0, "bonjour").unwrap();
    tx.put(automerge::ROOT, "count", ScalarValue::counter(1))
        .unwrap();
    let meta = tx
        .put_object(automerge::ROOT, "meta", ObjType::Map)
        .unwrap();
    tx.put(&meta, "owner", "lille").unwrap();
    let old = tx
        .put_object(automerge::ROOT, "old", ObjType::List)
        .unwrap();
    tx.insert(&old, 0, "gone").unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    let mut tx = doc.transaction();
    tx.put(&entries, 1, 10).unwrap();
    tx.delete(automerge::ROOT, "old").unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    doc
}

fn legacy(id: &ObjId) -> OpId {
    match id {
        ObjId::Id(counter, actor, _) => OpId(*counter, actor.clone()),
        ObjId::Root => panic!("the root is no op"),
    }
}

fn obj(doc: &Automerge, key: &str) -> OpId {
    legacy(&doc.get(automerge::ROOT, key).unwrap().unwrap().1)
}

fn max_op(doc: &Automerge) -> u64 {
    doc.get_changes(&[])
        .iter()
        .map(|c| c.max_op())
        .max()
        .unwrap_or(0)
}

/// A change of `ops` by the attacker, on `doc`'s heads, numbered as automerge would.
fn change_on(doc: &Automerge, ops: Vec<Op>) -> Change {
    change_with(doc, ops, max_op(doc) + 1, ActorId::from(&ATTACKER[..]), 1)
}

fn change_with(doc: &Automerge, ops: Vec<Op>, start_op: u64, actor: ActorId, seq: u64) -> Change {
    Change::from(ExpandedChange {
        operations: ops,
        actor_id: actor,
        hash: None,
        seq,
        start_op: NonZeroU64::new(start_op).unwrap(),
        time: 0,
        message: None,
        deps: doc.get_heads(),
        extra_bytes: Vec::new(),
        author: None,
    })
}

fn put(obj: ObjectId, key: Key, pred: Vec<OpId>) -> Op {
    Op {
        action: OpType::Put(ScalarValue::Int(5)),
        obj,
        key,
        pred: SortedVec::from(pred),
        insert: false,
    }
}

fn insert(obj: ObjectId, after: ElementId) -> Op {
    Op {
        insert: true,
        ..put(obj, Key::Seq(after), Vec::new())
    }
}

fn prop(name: &str) -> Key {
    Key::Map(name.into())
}

/// Each change is malformed in one way, on top of `doc` (a [`base`]).
fn malformed(doc: &Automerge) -> Vec<(&'static str, Change)> {
    let base_actor = ActorId::from(&BASE_ACTOR[..]);
    let attacker = ActorId::from(&ATTACKER[..]);
    let title = obj(doc, "title");
    let count = obj(doc, "count");
    let entries = ObjectId::Id(obj(doc, "entries"));
    let notes = ObjectId::Id(obj(doc, "notes"));
    let root = || ObjectId::Root;
    let first_entry = legacy(&doc.get_all(obj_id(&entries), 0).unwrap()[0].1);
    // Entry 1 was overwritten: its current value is an update op, not an element.
    let overwrite = legacy(&doc.get_all(obj_id(&entries), 1).unwrap()[0].1);
    let a_char = legacy(&doc.get_all(obj_id(&notes), 2).unwrap()[0].1);
    let next = max_op(doc) + 1;
    let unknown_op = OpId(next + 50, base_actor.clone());
    let unknown_actor_op = OpId(7, ActorId::from(&[0xEE; 16][..]));
    let own = OpId(next, attacker.clone());
    let elem = |id: &OpId| ElementId::Id(id.clone());
    let seq_key = |id: &OpId| Key::Seq(ElementId::Id(id.clone()));
    let mut cases = vec![
        (
            "a map key in a list",
            vec![put(entries.clone(), prop("a"), vec![])],
        ),
        (
            "a map key in a text",
            vec![put(notes.clone(), prop("a"), vec![])],
        ),
        (
            "a list element as a map key",
            vec![put(root(), seq_key(&first_entry), vec![])],
        ),
        (
            "a list head as a map key",
            vec![put(root(), Key::Seq(ElementId::Head), vec![])],
        ),
        (
            "an insertion into a map",
            vec![Op {
                insert: true,
                ..put(root(), prop("a"), vec![])
            }],
        ),
        (
            "an update of a list's head",
            vec![put(entries.clone(), Key::Seq(ElementId::Head), vec![])],
        ),
        (
            "an object that does not exist",
            vec![put(ObjectId::Id(unknown_op.clone()), prop("a"), vec![])],
        ),
        (
            "an object of an unknown actor",
            vec![put(
                ObjectId::Id(unknown_actor_op.clone()),
                prop("a"),
                vec![],
            )],
        ),
        (
            "an object that is a value",
            vec![put(ObjectId::Id(title.clone()), prop("a"), vec![])],
        ),
        (
            "an object made later in the same change",
            vec![
                put(
                    ObjectId::Id(OpId(next + 1, attacker.clone())),
                    prop("a"),
                    vec![],
                ),
                Op {
                    action: OpType::Make(ObjType::Map),
                    ..put(root(), prop("m"), vec![])
                },
            ],
        ),
        (
            "an object that is the op itself",
            vec![Op {
                action: OpType::Make(ObjType::Map),
                ..put(ObjectId::Id(own.clone()), prop("m"), vec![])
            }],
        ),
        (
            "an insertion after an element that does not exist",
            vec![insert(entries.clone(), elem(&unknown_op))],
        ),
        (
            "an insertion after an element of another list",
            vec![insert(entries.clone(), elem(&a_char))],
        ),
        (
            "an insertion after a map value",
            vec![insert(entries.clone(), elem(&title))],
        ),
        (
            "an insertion after an update",
            vec![insert(entries.clone(), elem(&overwrite))],
        ),
        (
            "an insertion after itself",
            vec![insert(entries.clone(), elem(&own))],
        ),
        (
            "an update of an element of another list",
            vec![put(entries.clone(), seq_key(&a_char), vec![a_char.clone()])],
        ),
        (
            "an overwrite of an op that does not exist",
            vec![put(root(), prop("title"), vec![unknown_op.clone()])],
        ),
        (
            "an overwrite of an op of an unknown actor",
            vec![put(root(), prop("title"), vec![unknown_actor_op])],
        ),
        (
            "an overwrite of an op at another key",
            vec![put(root(), prop("title"), vec![count.clone()])],
        ),
        (
            "an overwrite of an op in another object",
            vec![put(root(), prop("title"), vec![first_entry.clone()])],
        ),
        (
            "an overwrite of another element",
            vec![put(
                entries.clone(),
                seq_key(&first_entry),
                vec![overwrite.clone()],
            )],
        ),
        (
            "an overwrite of itself",
            vec![Op {
                action: OpType::Delete,
                ..put(root(), prop("title"), vec![own.clone()])
            }],
        ),
        (
            "an insertion that overwrites",
            vec![Op {
                pred: SortedVec::from(vec![first_entry.clone()]),
                ..insert(entries.clone(), ElementId::Head)
            }],
        ),
        (
            "a mark in a map",
            vec![Op {
                action: OpType::MarkBegin(MarkData {
                    name: "bold".into(),
                    value: ScalarValue::Boolean(true),
                    expand: false,
                }),
                ..put(root(), prop("a"), vec![])
            }],
        ),
    ]
    .into_iter()
    .map(|(name, ops)| (name, change_on(doc, ops)))
    .collect::<Vec<_>>();
    let fine = vec![put(root(), prop("fresh"), vec![])];
    cases.push((
        "op ids below those of its dependencies",
        change_with(doc, fine.clone(), 3, attacker.clone(), 1),
    ));
    let mut no_deps = change_with(doc, fine, 1, base_actor, 3).decode();
    no_deps.deps = Vec::new();
    cases.push(("op ids that are taken", Change::from(no_deps)));
    cases
}

fn obj_id(obj: &ObjectId) -> ObjId {
    match obj {
        ObjectId::Root => automerge::ROOT,
        ObjectId::Id(id) => ObjId::Id(id.counter(), id.actor().clone(), 0),
    }
}

/// In a release build, automerge applies each of these changes and the document no longer
/// loads (or reads back differently): what the validation is for. (In a debug build some
/// of them trip a `debug_assert!` instead, or panic.)
#[test]
fn each_malformed_change_is_refused_with_its_reason() {
    let doc = base();
    for (name, change) in malformed(&doc) {
        let error = check_changes(&doc, change.raw_bytes())
            .expect_err(&format!("{name}: accepted"))
            .to_string();
        assert!(
            error.contains(&change.hash().to_string()),
            "{name}: {error}"
        );
        println!("{name}: {error}");
    }
}

#[test]
fn a_message_is_refused_whole_even_when_only_a_later_change_is_malformed() {
    let doc = base();
    let mut fork = doc.fork().with_actor(ActorId::from(&[0x60; 16][..]));
    let mut tx = fork.transaction();
    let list = tx
        .put_object(automerge::ROOT, "new list", ObjType::List)
        .unwrap();
    tx.insert(&list, 0, "first").unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    let good = fork.get_last_local_change().unwrap().clone();
    check_changes(&doc, good.raw_bytes()).expect("a valid change passes");
    // The second change uses the list the first one made, with a map key.
    let bad = change_on(
        &fork,
        vec![put(ObjectId::Id(legacy(&list)), prop("a"), vec![])],
    );
    let message = [good.raw_bytes(), bad.raw_bytes()].concat();
    let error = check_changes(&doc, &message).unwrap_err().to_string();
    assert!(error.contains("a map key in object"), "{error}");
    // In the reverse order too: changes are checked dependencies first.
    let message = [bad.raw_bytes(), good.raw_bytes()].concat();
    assert!(check_changes(&doc, &message).is_err());
}

// ---------------------------------------------------------------------------------------
// No false refusals.

/// Random edits by three actors, who sync now and then: every change any of them receives
/// passes the check against the receiver's document first, change by change and as a whole
/// save. `PASSERELLE_VALIDATE_SEED` replays one seed.
#[test]
fn valid_concurrent_edits_are_never_refused() {
    let seeds: Vec<u64> = match std::env::var("PASSERELLE_VALIDATE_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => (0..24).collect(),
    };
    for seed in seeds {
        run_random_edits(seed);
    }
}

fn run_random_edits(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut docs: Vec<Automerge> = (0..3u8)
        .map(|i| Automerge::new().with_actor(ActorId::from(&[0x10 + i; 16][..])))
        .collect();
    // A shared start, made by the first actor after an empty change (as the engine and
    // automerge-repo create documents).
    docs[0].empty_commit(CommitOptions::default().with_time(0));
    let mut tx = docs[0].transaction();
    tx.put_object(automerge::ROOT, "list", ObjType::List)
        .unwrap();
    let text = tx
        .put_object(automerge::ROOT, "text", ObjType::Text)
        .unwrap();
    tx.splice_text(&text, 0, 0, "hello world").unwrap();
    tx.put(automerge::ROOT, "counter", ScalarValue::counter(0))
        .unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    let start = docs[0].get_changes(&[]);
    for doc in &mut docs[1..] {
        receive(doc, &start, seed);
    }
    for _round in 0..30 {
        for doc in &mut docs {
            for _ in 0..rng.gen_range(1..4) {
                random_change(doc, &mut rng);
            }
        }
        // Some pairs sync, in a random direction.
        for _ in 0..rng.gen_range(0..3) {
            let from = rng.gen_range(0..3);
            let to = (from + rng.gen_range(1..3)) % 3;
            let theirs = docs[to].get_heads();
            let missing = docs[from].get_changes(&theirs);
            let receiver = &mut docs[to];
            if rng.gen_bool(0.2) {
                // As a whole save, as a batch-sync client sends it.
                let save = docs[from].save();
                check_changes(&docs[to], &save)
                    .unwrap_or_else(|e| panic!("seed {seed}: a valid save was refused: {e}"));
                docs[to].load_incremental(&save).unwrap();
            } else {
                receive(receiver, &missing, seed);
            }
        }
    }
    // Everything to everyone, and a whole save into an empty document.
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                let missing = docs[from].get_changes(&docs[to].get_heads());
                receive(&mut docs[to], &missing, seed);
            }
        }
    }
    check_changes(&Automerge::new(), &docs[0].save())
        .unwrap_or_else(|e| panic!("seed {seed}: a whole document was refused: {e}"));
    assert_eq!(docs[0].get_heads(), docs[1].get_heads());
}

/// Checks then applies `changes`, all in one message.
fn receive(doc: &mut Automerge, changes: &[Change], seed: u64) {
    let bytes: Vec<u8> = changes
        .iter()
        .flat_map(|c| c.raw_bytes().to_vec())
        .collect();
    if let Err(error) = check_changes(doc, &bytes) {
        panic!("seed {seed}: valid changes were refused: {error}");
    }
    doc.apply_changes(changes.iter().cloned()).unwrap();
}

fn random_change(doc: &mut Automerge, rng: &mut StdRng) {
    if rng.gen_bool(0.05) {
        doc.empty_commit(CommitOptions::default().with_time(0));
        return;
    }
    let mut tx = doc.transaction();
    for _ in 0..rng.gen_range(1..6) {
        let list = tx.get(automerge::ROOT, "list").unwrap();
        let text = tx.get(automerge::ROOT, "text").unwrap();
        match rng.gen_range(0..12) {
            0 => {
                let key = format!("k{}", rng.gen_range(0..4));
                tx.put(automerge::ROOT, key, rng.gen_range(0..100i64))
                    .unwrap();
            }
            1 => {
                let key = format!("k{}", rng.gen_range(0..4));
                let _ = tx.delete(automerge::ROOT, key);
            }
            2 => {
                // A nested map, or a fresh list in place of the old one (others may still be
                // editing the old one).
                if rng.gen_bool(0.5) {
                    let map = tx
                        .put_object(automerge::ROOT, "nested", ObjType::Map)
                        .unwrap();
                    tx.put(&map, "x", 1).unwrap();
                } else {
                    let list = tx
                        .put_object(automerge::ROOT, "list", ObjType::List)
                        .unwrap();
                    tx.insert(&list, 0, "fresh").unwrap();
                }
            }
            3 | 4 => {
                if let Some((_, list)) = list {
                    let len = tx.length(&list);
                    let at = rng.gen_range(0..=len);
                    if rng.gen_bool(0.3) {
                        let inner = tx.insert_object(&list, at, ObjType::Map).unwrap();
                        tx.put(&inner, "v", 1).unwrap();
                    } else {
                        tx.insert(&list, at, rng.gen_range(0..100i64)).unwrap();
                    }
                }
            }
            5 => {
                if let Some((_, list)) = list {
                    let len = tx.length(&list);
                    if len > 0 {
                        let at = rng.gen_range(0..len);
                        if rng.gen_bool(0.5) {
                            tx.delete(&list, at).unwrap();
                        } else {
                            tx.put(&list, at, rng.gen_range(0..100i64)).unwrap();
                        }
                    }
                }
            }
            6 | 7 => {
                if let Some((_, text)) = text {
                    let len = tx.length(&text);
                    let at = rng.gen_range(0..=len);
                    let delete = rng.gen_range(0..=(len - at).min(3)) as isize;
                    let words = ["é", "ab", "🙂", " mot", ""];
                    let insert = words[rng.gen_range(0..words.len())];
                    tx.splice_text(&text, at, delete, insert).unwrap();
                }
            }
            8 => {
                if let Some((_, text)) = text {
                    let len = tx.length(&text);
                    if len > 1 {
                        let from = rng.gen_range(0..len - 1);
                        let to = rng.gen_range(from + 1..=len);
                        let mark = Mark::new("bold".into(), true, from, to);
                        tx.mark(&text, mark, ExpandMark::After).unwrap();
                    }
                }
            }
            9 => {
                let _ = tx.increment(automerge::ROOT, "counter", 1);
            }
            10 => {
                if rng.gen_bool(0.2) {
                    tx.put(automerge::ROOT, "counter", ScalarValue::counter(0))
                        .unwrap();
                } else if let Some((_, nested)) = tx.get(automerge::ROOT, "nested").unwrap()
                    && tx.object_type(&nested).ok() == Some(ObjType::Map)
                {
                    tx.put(&nested, "y", rng.gen_range(0..9i64)).unwrap();
                }
            }
            _ => {
                if rng.gen_bool(0.3) {
                    let _ = tx.delete(automerge::ROOT, "nested");
                }
            }
        }
    }
    tx.commit_with(CommitOptions::default().with_time(0));
}

// ---------------------------------------------------------------------------------------
// Through the engine.

fn peer(name: &str) -> PeerId {
    name.parse().unwrap()
}

struct Server {
    engine: Engine,
    disk: Disk,
    doc: DocumentId,
    now: u64,
}

impl Server {
    /// A server whose store holds a [`base`] document, with an attacker and a good peer
    /// connected.
    fn new() -> Self {
        let doc = DocumentId::from_bytes([0x5A; 16]);
        let mut disk = Disk::default();
        disk.0.insert(doc, base().save());
        let mut config = EngineConfig::new(peer("server"));
        config.seed = 3;
        let mut engine = Engine::new(config);
        for name in ["attacker", "good"] {
            engine.handle(
                Millis(0),
                Event::PeerConnected {
                    peer: peer(name),
                    role: PeerRole::OnRequest,
                },
            );
        }
        Self {
            engine,
            disk,
            doc,
            now: 0,
        }
    }

    fn settle(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut queue = effects;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for effect in queue {
                match effect {
                    Effect::Storage(task) => {
                        let result = self.disk.run(task);
                        next.extend(self.engine.handle(Millis(self.now), Event::Storage(result)));
                    }
                    other => out.push(other),
                }
            }
            queue = next;
        }
        out
    }

    /// `changes` from `from`, in a sync message that claims their hashes as heads.
    fn sync(&mut self, from: &str, changes: &[&Change]) -> Vec<Effect> {
        self.now += 1;
        let message = sync::Message {
            heads: changes.iter().map(|c| c.hash()).collect(),
            need: Vec::new(),
            have: Vec::new(),
            changes: changes
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect::<Vec<_>>()
                .into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let effects = self.engine.handle(
            Millis(self.now),
            Event::Received {
                from: peer(from),
                message: Message::Sync {
                    sender_id: peer(from),
                    target_id: peer("server"),
                    document_id: self.doc,
                    data: message.encode(),
                },
                may_write: true,
            },
        );
        self.settle(effects)
    }

    fn delta(
        &mut self,
        from: &str,
        changes: Vec<u8>,
        heads: Vec<automerge::ChangeHash>,
    ) -> Vec<Effect> {
        self.now += 1;
        let effects = self.engine.handle(
            Millis(self.now),
            Event::Delta(DeltaRequest {
                request: self.now,
                from: peer(from),
                document_id: self.doc,
                heads,
                changes,
                may_write: true,
            }),
        );
        self.settle(effects)
    }

    /// What the store holds, loaded as a restarted server would.
    fn stored(&self) -> Automerge {
        Automerge::load(&self.disk.0[&self.doc]).expect("the stored document loads")
    }
}

fn peer_error(effects: &[Effect], who: &str) -> Option<String> {
    effects.iter().find_map(|effect| match effect {
        Effect::PeerError { peer: p, error, .. } if *p == peer(who) => Some(error.clone()),
        _ => None,
    })
}

fn delta_failure(effects: &[Effect]) -> Option<String> {
    effects.iter().find_map(|effect| match effect {
        Effect::DeltaReply {
            outcome: DeltaOutcome::Failed(reason),
            ..
        } => Some(reason.clone()),
        _ => None,
    })
}

/// Each malformed change, in a sync message and in a batch delta: refused with the reason
/// (not automerge's panic, which the engine also contains), nothing stored, and the stored
/// document loads and reads as before.
#[test]
fn the_engine_refuses_each_malformed_change_and_stores_nothing() {
    let reference = base();
    let mut failures = Vec::new();
    for (name, change) in malformed(&reference) {
        for problem in engine_problems(&reference, &change) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A new document arriving whole (one document chunk, as automerge's sync sends it to a peer
/// with nothing) takes the engine's other path: automerge applies it to a copy of the empty
/// document, and the check runs on the copy. A document holding a malformed change is refused
/// there too, and nothing is stored. (automerge builds such a document only when its own
/// `debug_assert!`s are off or let the change through: the cases it panics on are skipped,
/// and in a release build nearly all run.)
#[test]
fn a_new_document_sent_whole_with_a_malformed_change_is_refused() {
    let reference = base();
    let mut built = 0;
    let mut failures = Vec::new();
    for (name, change) in malformed(&reference) {
        let whole = catch_unwind(AssertUnwindSafe(|| {
            let mut doc = reference.clone();
            doc.apply_changes([change.clone()]).ok()?;
            doc.get_change_by_hash(&change.hash())?;
            Some((doc.save(), doc.get_heads()))
        }));
        let Ok(Some((chunk, heads))) = whole else {
            continue;
        };
        if Automerge::load(&chunk).is_err() {
            // automerge itself would refuse it.
            continue;
        }
        built += 1;
        let mut server = Server::new();
        server.doc = DocumentId::from_bytes([0x77; 16]);
        server.now += 1;
        let message = sync::Message {
            heads,
            need: Vec::new(),
            have: Vec::new(),
            changes: vec![chunk].into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let effects = server.engine.handle(
            Millis(server.now),
            Event::Received {
                from: peer("attacker"),
                message: Message::Sync {
                    sender_id: peer("attacker"),
                    target_id: peer("server"),
                    document_id: server.doc,
                    data: message.encode(),
                },
                may_write: true,
            },
        );
        let effects = server.settle(effects);
        match peer_error(&effects, "attacker") {
            Some(error) if error.contains(&change.hash().to_string()) => {}
            other => failures.push(format!("{name}: not refused with its hash: {other:?}")),
        }
        if server
            .disk
            .0
            .get(&server.doc)
            .is_some_and(|data| !data.is_empty())
        {
            failures.push(format!("{name}: stored"));
        }
        if let Some(doc) = server.engine.document(&server.doc)
            && !doc.get_heads().is_empty()
        {
            failures.push(format!("{name}: applied"));
        }
    }
    assert!(built > 0, "no malformed document could be built");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{built} malformed documents refused");
}

/// What goes wrong when the engine receives `change` (malformed) on top of `reference`, once
/// in a sync message and once in a batch delta. Collected rather than asserted, so that a
/// run without the validation lists every case that is stored or corrupts the document.
fn engine_problems(reference: &Automerge, change: &Change) -> Vec<String> {
    let expected = reference.hydrate(None);
    let mut problems = Vec::new();
    let mut server = Server::new();
    let stored_before = server.disk.0[&server.doc].clone();
    let effects = server.sync("attacker", &[change]);
    match peer_error(&effects, "attacker") {
        Some(error) if error.starts_with("malformed sync message: change ") => {}
        Some(error) => problems.push(format!("sync: refused, not by the validation: {error}")),
        None => problems.push("sync: accepted".into()),
    }
    if effects
        .iter()
        .any(|e| matches!(e, Effect::ChangesApplied { .. }))
    {
        problems.push("sync: applied".into());
    }
    let effects = server.delta("laptop", change.raw_bytes().to_vec(), vec![change.hash()]);
    match delta_failure(&effects) {
        Some(reason) if reason.starts_with("malformed changes: change ") => {}
        Some(reason) => problems.push(format!("delta: refused, not by the validation: {reason}")),
        None => problems.push("delta: accepted".into()),
    }
    if server.disk.0[&server.doc] != stored_before {
        problems.push("something was stored".into());
    }
    match server.engine.document(&server.doc) {
        Some(served) if served.get_heads() == reference.get_heads() => {}
        Some(_) => problems.push("the served document changed".into()),
        None => problems.push("the document is not served".into()),
    }
    // What a restarted server would read, and the same once compacted.
    let reloaded = std::panic::catch_unwind(|| {
        let stored = Automerge::load(&server.disk.0[&server.doc]).map_err(|e| e.to_string())?;
        let compacted = Automerge::load(&stored.save()).map_err(|e| e.to_string())?;
        Ok::<_, String>((stored.hydrate(None), compacted.hydrate(None)))
    });
    match reloaded {
        Ok(Ok((stored, compacted))) => {
            if stored != expected || compacted != expected {
                problems.push("the stored document reads differently".into());
            }
        }
        Ok(Err(error)) => problems.push(format!("the stored document does not load: {error}")),
        Err(_) => problems.push("loading the stored document panics".into()),
    }
    problems
}

/// A malformed change whose dependency the server lacks is held by automerge, unchecked, until
/// the dependency arrives, maybe from someone else. Then it is checked: the server drops it
/// (reloading the document), tells its sender, and applies the good peer's change.
#[test]
fn a_malformed_change_held_for_its_dependency_is_caught_when_it_arrives() {
    let reference = base();
    let mut fork = reference.fork().with_actor(ActorId::from(&[0x60; 16][..]));
    let mut tx = fork.transaction();
    tx.put(automerge::ROOT, "title", "Mission Oujda, mars")
        .unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    let dependency = fork.get_last_local_change().unwrap().clone();
    let entries = ObjectId::Id(obj(&reference, "entries"));
    let bad = change_on(&fork, vec![put(entries, prop("a"), vec![])]);
    for via_delta in [false, true] {
        let mut server = Server::new();
        let stored_before = server.disk.0[&server.doc].clone();
        let effects = server.sync("attacker", &[&bad]);
        assert!(
            peer_error(&effects, "attacker").is_none(),
            "held, not checked yet: {effects:?}"
        );
        assert_eq!(server.disk.0[&server.doc], stored_before);
        let effects = if via_delta {
            server.delta(
                "laptop",
                dependency.raw_bytes().to_vec(),
                vec![dependency.hash()],
            )
        } else {
            server.sync("good", &[&dependency])
        };
        let error = peer_error(&effects, "attacker").unwrap_or_else(|| panic!("{effects:?}"));
        assert!(error.contains("held for its dependencies"), "{error}");
        assert!(peer_error(&effects, "good").is_none(), "{effects:?}");
        if via_delta {
            assert!(
                effects.iter().any(|e| matches!(
                    e,
                    Effect::DeltaReply {
                        outcome: DeltaOutcome::Synced { .. },
                        ..
                    }
                )),
                "the delta is answered after the reload: {effects:?}"
            );
        }
        let stored = server.stored();
        assert!(stored.get_change_by_hash(&dependency.hash()).is_some());
        assert!(stored.get_change_by_hash(&bad.hash()).is_none());
        let served = server.engine.document(&server.doc).expect("served again");
        assert_eq!(served.get_heads(), vec![dependency.hash()]);
        Automerge::load(&stored.save()).expect("loads");
    }
}

/// A valid change that waited for its dependency is applied with it, without any error.
#[test]
fn a_valid_change_held_for_its_dependency_is_applied_when_it_arrives() {
    let reference = base();
    let mut fork = reference.fork().with_actor(ActorId::from(&[0x60; 16][..]));
    let mut tx = fork.transaction();
    let list = tx
        .put_object(automerge::ROOT, "later", ObjType::List)
        .unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    let dependency = fork.get_last_local_change().unwrap().clone();
    let mut tx = fork.transaction();
    tx.insert(&list, 0, "x").unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    let waiting = fork.get_last_local_change().unwrap().clone();
    let mut server = Server::new();
    let effects = server.sync("attacker", &[&waiting]);
    assert!(peer_error(&effects, "attacker").is_none(), "{effects:?}");
    let effects = server.sync("good", &[&dependency]);
    assert!(peer_error(&effects, "attacker").is_none(), "{effects:?}");
    assert!(peer_error(&effects, "good").is_none(), "{effects:?}");
    let stored = server.stored();
    assert_eq!(stored.get_heads(), vec![waiting.hash()]);
}

/// An edit of a benchmark's document.
type Edit = Box<dyn Fn(&mut automerge::transaction::Transaction<'_>)>;

/// The cost of the check, release build: `cargo test --release -p passerelle-core --test
/// validate -- --ignored --nocapture validation_cost`. Prints medians; asserts nothing about
/// time.
#[test]
#[ignore = "a benchmark: run by hand, in release"]
fn validation_cost() {
    // A text of 20,000 characters and a map of 5,000 keys, each made in one change.
    let mut doc = Automerge::new().with_actor(ActorId::from(&[1; 16][..]));
    let mut tx = doc.transaction();
    let text = tx
        .put_object(automerge::ROOT, "text", ObjType::Text)
        .unwrap();
    tx.splice_text(&text, 0, 0, &"abcdefghij".repeat(2_000))
        .unwrap();
    let map = tx.put_object(automerge::ROOT, "map", ObjType::Map).unwrap();
    for i in 0..5_000 {
        tx.put(&map, format!("key {i}"), i as i64).unwrap();
    }
    tx.commit_with(CommitOptions::default().with_time(0));
    let scenarios: Vec<(&str, Edit)> = vec![
        (
            "10,000 characters typed into the text",
            Box::new(|tx| {
                let text = tx.get(automerge::ROOT, "text").unwrap().unwrap().1;
                tx.splice_text(&text, 10_000, 0, &"z".repeat(10_000))
                    .unwrap();
            }),
        ),
        (
            "5,000 characters deleted and 5,000 map keys overwritten",
            Box::new(|tx| {
                let text = tx.get(automerge::ROOT, "text").unwrap().unwrap().1;
                tx.splice_text(&text, 5_000, 5_000, "").unwrap();
                let map = tx.get(automerge::ROOT, "map").unwrap().unwrap().1;
                for i in 0..5_000 {
                    tx.put(&map, format!("key {i}"), -1).unwrap();
                }
            }),
        ),
    ];
    // A one-character edit of the big text, as every keystroke message is.
    let keystroke: (&str, Edit) = (
        "one character typed into the text",
        Box::new(|tx| {
            let text = tx.get(automerge::ROOT, "text").unwrap().unwrap().1;
            tx.splice_text(&text, 7_000, 0, "y").unwrap();
        }),
    );
    for (name, edit) in scenarios.into_iter().chain([keystroke]) {
        let mut author = doc.fork();
        let mut tx = author.transaction();
        edit(&mut tx);
        tx.commit();
        let change = author.get_last_local_change().unwrap().clone();
        let bytes = change.raw_bytes().to_vec();
        let runs = 9;
        let (mut apply, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
        // What the engine keeps of the document between messages, filled by one earlier
        // message that named the same old change.
        let mut doc_ops = DocOps::default();
        check_changes_with(&doc, &mut doc_ops, &bytes).unwrap();
        for _ in 0..runs {
            let mut target = doc.clone();
            let start = std::time::Instant::now();
            target.load_incremental(&bytes).unwrap();
            apply.push(start.elapsed());
            let start = std::time::Instant::now();
            check_changes(&doc, &bytes).unwrap();
            cold.push(start.elapsed());
            let start = std::time::Instant::now();
            check_changes_with(&doc, &mut doc_ops, &bytes).unwrap();
            warm.push(start.elapsed());
        }
        let median = |mut times: Vec<std::time::Duration>| {
            times.sort();
            times[runs / 2]
        };
        let (apply, cold, warm) = (median(apply), median(cold), median(warm));
        let percent =
            |check: std::time::Duration| 100.0 * check.as_secs_f64() / apply.as_secs_f64();
        println!(
            "{name} ({} ops): apply {apply:?}; check {cold:?} (+{:.0}%), with what the engine \
             kept from earlier messages {warm:?} (+{:.0}%); medians of {runs}",
            change.len(),
            percent(cold),
            percent(warm),
        );
    }
}

//! The properties the fuzz targets check (`fuzz/fuzz_targets/`), shared with the regression
//! test that replays their corpora on stable Rust (`tests/fuzz_regressions.rs`).
//!
//! Each check takes arbitrary bytes and panics when a property fails, which is what a fuzzer
//! reports. Only built with the `fuzzing` feature; not part of the crate's API.
//!
//! - [`wire_decode`]: [`Message::decode`] never panics, and what it accepts re-encodes to a
//!   frame that decodes to the same message (and re-encodes to the same bytes).
//! - [`batch_decode`]: the same for the CBOR bodies of `POST /v1/sync`.
//! - [`engine_receive`]: an [`Engine`] serving a document to a well-behaved peer receives a
//!   sequence of arbitrary `sync`/`request` payloads and batch deltas from another peer. It
//!   never panics (automerge's own panics are contained by the engine), what it stores always
//!   loads, and afterwards it still syncs a new change with the well-behaved peer, on the
//!   attacked document and on another one.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::OnceLock;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ChangeHash, ExpandedChange, ObjType, ReadDoc};

use crate::batch::{self, SyncRequest, SyncResponse};
use crate::{
    DecodeLimits, DeltaRequest, DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis,
    PeerId, PeerRole, StorageResult, StorageTask,
};

/// Checks [`Message::decode`] on arbitrary bytes.
pub fn wire_decode(data: &[u8]) {
    // Small limits too, so that the limit checks themselves are exercised by small inputs.
    let small = DecodeLimits {
        max_message_bytes: 512,
        max_string_bytes: 64,
        max_list_items: 4,
    };
    for limits in [DecodeLimits::default(), small] {
        let Ok(message) = Message::decode(data, &limits) else {
            continue;
        };
        let encoded = message.encode();
        let again = Message::decode(&encoded, &DecodeLimits::default()).unwrap_or_else(|e| {
            panic!("a decoded message re-encodes to an undecodable frame: {e}")
        });
        assert_eq!(again, message, "decode(encode(m)) != m");
        assert_eq!(again.encode(), encoded, "encoding is not stable");
    }
}

/// Checks the batch-sync body decoders ([`batch::decode`]) on arbitrary bytes.
pub fn batch_decode(data: &[u8]) {
    if let Ok(request) = batch::decode::<SyncRequest>(data) {
        let again: SyncRequest = batch::decode(&batch::encode(&request))
            .unwrap_or_else(|e| panic!("a decoded request re-encodes to garbage: {e}"));
        assert_eq!(again, request);
    }
    if let Ok(response) = batch::decode::<SyncResponse>(data) {
        let again: SyncResponse = batch::decode(&batch::encode(&response))
            .unwrap_or_else(|e| panic!("a decoded response re-encodes to garbage: {e}"));
        assert_eq!(again, response);
    }
}

/// The attacked document's id bytes.
const DOC_A_BYTES: [u8; 16] = [0xA1; 16];
/// The id bytes of another document the well-behaved peer uses.
const DOC_B_BYTES: [u8; 16] = [0xB2; 16];

/// The document an [`engine_receive`] frame is about.
pub fn document(doc_b: bool) -> DocumentId {
    DocumentId::from_bytes(if doc_b { DOC_B_BYTES } else { DOC_A_BYTES })
}

/// The stored content of both documents when a run starts: the same bytes on every run
/// (fixed actors, time 0), so corpus entries can carry changes that depend on them.
pub fn base_document(document_id: DocumentId) -> Automerge {
    static BYTES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (a, b) = BYTES.get_or_init(|| (build_base(0xA1).save(), build_base(0xB2).save()));
    let bytes = if document_id == document(false) { a } else { b };
    Automerge::load(bytes).expect("the base document loads")
}

fn build_base(seed: u8) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(&[seed; 16][..]));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "title", "Mission Oujda").unwrap();
    let list = tx
        .put_object(automerge::ROOT, "entries", ObjType::List)
        .unwrap();
    for i in 0..3 {
        tx.insert(&list, i, i as i64).unwrap();
    }
    let text = tx
        .put_object(automerge::ROOT, "notes", ObjType::Text)
        .unwrap();
    tx.splice_text(&text, 0, 0, "bonjour").unwrap();
    tx.put(automerge::ROOT, "count", automerge::ScalarValue::counter(1))
        .unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    doc
}

/// What one [`engine_receive`] run saw; the fuzz targets ignore it, tests assert on it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EngineReport {
    /// Messages and deltas delivered from the attacker.
    pub delivered: usize,
    /// `PeerError`s the attacker got (each one closes its connection; it reconnects).
    pub peer_errors: usize,
    /// Batch deltas answered `Failed`.
    pub delta_failures: usize,
}

/// The frame format of [`engine_receive`] input: a sequence of `[header, len_lo, len_hi,
/// payload…]` (a short last frame takes what is left). The header's bits: 0 set = the
/// attacker has read access only; 1-2 = what the payload is ([`FrameKind`]); 3 = which
/// document (the attacked one, or the other one: [`document`]); 7 = ten seconds pass (a tick) first.
pub fn engine_frame(
    kind: FrameKind,
    read_only: bool,
    doc_b: bool,
    tick: bool,
    payload: &[u8],
) -> Vec<u8> {
    let header =
        u8::from(read_only) | (kind as u8) << 1 | u8::from(doc_b) << 3 | u8::from(tick) << 7;
    let len = u16::try_from(payload.len()).expect("a frame payload is at most 64 KiB");
    let mut out = vec![header];
    out.extend(len.to_le_bytes());
    out.extend(payload);
    out
}

/// What an [`engine_receive`] frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The `data` of a `sync` message: an encoded automerge sync message.
    Sync = 0,
    /// The `data` of a `request` message.
    Request = 1,
    /// Change bytes, sent inside a well-formed automerge sync message (so the fuzzer spends
    /// its time in change parsing and application rather than in the envelope).
    ChangesInSync = 2,
    /// Change bytes, as the `changes` of one document of `POST /v1/sync`.
    Delta = 3,
}

/// Checks the engine against a hostile peer; see the module documentation.
pub fn engine_receive(input: &[u8]) -> EngineReport {
    let mut run = EngineRun::new();
    run.good_syncs(document(false));
    run.good_syncs(document(true));
    let mut report = EngineReport::default();
    let mut rest = input;
    while let Some((&header, tail)) = rest.split_first() {
        let (len, tail) = match tail {
            [lo, hi, tail @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), tail),
            _ => (tail.len(), &[][..]),
        };
        let (payload, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        if header & 0x80 != 0 {
            run.now += 10_000;
            let effects = run.engine.handle(Millis(run.now), Event::Tick);
            run.settle(effects, &mut report);
        }
        let may_write = header & 1 == 0;
        let document_id = document(header & 0x08 != 0);
        let event = match (header >> 1) & 3 {
            0 => run.attacker_message(document_id, payload.to_vec(), false, may_write),
            1 => run.attacker_message(document_id, payload.to_vec(), true, may_write),
            2 => run.attacker_message(document_id, changes_in_sync(payload), false, may_write),
            _ => Event::Delta(DeltaRequest {
                request: report.delivered as u64,
                from: attacker(),
                document_id,
                heads: Change::try_from(payload)
                    .map(|c| vec![c.hash()])
                    .unwrap_or_default(),
                changes: payload.to_vec(),
                may_write,
            }),
        };
        report.delivered += 1;
        let effects = run.engine.handle(Millis(run.now), event);
        run.settle(effects, &mut report);
    }
    // Whatever happened, the well-behaved peer's next change goes through, both ways, on both
    // documents, and everything the engine holds is durable and loads from storage.
    for document_id in [document(false), document(true)] {
        run.good_changes_and_syncs(document_id);
        run.check_storage(document_id);
    }
    report
}

fn server() -> PeerId {
    "server".parse().unwrap()
}

fn good() -> PeerId {
    "good-peer".parse().unwrap()
}

fn attacker() -> PeerId {
    "attacker".parse().unwrap()
}

/// A well-formed automerge sync message carrying `changes` and claiming the change's hash (if
/// it parses as one) as its heads.
fn changes_in_sync(changes: &[u8]) -> Vec<u8> {
    let heads = Change::try_from(changes)
        .map(|c| vec![c.hash()])
        .unwrap_or_default();
    sync::Message {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![changes.to_vec()].into(),
        flags: None,
        version: sync::MessageVersion::V1,
    }
    .encode()
}

struct GoodPeer {
    docs: BTreeMap<DocumentId, (Automerge, sync::State)>,
    changes_made: i64,
}

struct EngineRun {
    engine: Engine,
    disk: BTreeMap<DocumentId, Vec<u8>>,
    good: GoodPeer,
    now: u64,
    /// Messages the engine sent the good peer, not yet received.
    good_inbox: Vec<Message>,
}

impl EngineRun {
    fn new() -> Self {
        let mut config = EngineConfig::new(server());
        config.seed = 7;
        let mut engine = Engine::new(config);
        let disk = [document(false), document(true)]
            .into_iter()
            .map(|id| (id, base_document(id).save()))
            .collect();
        let good_docs = [document(false), document(true)]
            .into_iter()
            .map(|id| {
                let doc = base_document(id).with_actor(ActorId::from(&[0x60; 16][..]));
                (id, (doc, sync::State::new()))
            })
            .collect();
        for peer in [good(), attacker()] {
            let effects = engine.handle(
                Millis(0),
                Event::PeerConnected {
                    peer,
                    role: PeerRole::OnRequest,
                },
            );
            assert!(effects.is_empty(), "{effects:?}");
        }
        Self {
            engine,
            disk,
            good: GoodPeer {
                docs: good_docs,
                changes_made: 0,
            },
            now: 0,
            good_inbox: Vec::new(),
        }
    }

    fn attacker_message(
        &self,
        document_id: DocumentId,
        data: Vec<u8>,
        request: bool,
        may_write: bool,
    ) -> Event {
        let (sender_id, target_id) = (attacker(), server());
        let message = if request {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        };
        Event::Received {
            from: attacker(),
            message,
            may_write,
        }
    }

    /// Runs storage tasks until none is left; routes messages to the good peer's inbox and
    /// reconnects the attacker after each error, as the server does (it closes the connection,
    /// and the peer may come back).
    fn settle(&mut self, effects: Vec<Effect>, report: &mut EngineReport) {
        let mut queue = effects;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for effect in queue {
                match effect {
                    Effect::Storage(task) => {
                        let result = self.run_storage(task);
                        next.extend(self.engine.handle(Millis(self.now), Event::Storage(result)));
                    }
                    Effect::Send { to, message } if to == good() => self.good_inbox.push(message),
                    Effect::PeerError { peer, error, .. } => {
                        assert_eq!(
                            peer,
                            attacker(),
                            "the well-behaved peer got an error: {error}"
                        );
                        report.peer_errors += 1;
                        next.extend(self.engine.handle(
                            Millis(self.now),
                            Event::PeerDisconnected { peer: peer.clone() },
                        ));
                        next.extend(self.engine.handle(
                            Millis(self.now),
                            Event::PeerConnected {
                                peer,
                                role: PeerRole::OnRequest,
                            },
                        ));
                    }
                    Effect::DeltaReply {
                        outcome: crate::DeltaOutcome::Failed(_),
                        ..
                    } => report.delta_failures += 1,
                    Effect::StorageFailed {
                        document_id,
                        reason,
                    } => {
                        panic!("storage failed for {document_id}: {reason}")
                    }
                    _ => {}
                }
            }
            queue = next;
        }
    }

    fn run_storage(&mut self, task: StorageTask) -> StorageResult {
        match task {
            StorageTask::Load { task, document_id } => StorageResult::Loaded {
                task,
                document_id,
                data: self.disk.get(&document_id).cloned(),
            },
            StorageTask::Append {
                task,
                document_id,
                chunk,
            } => {
                self.disk.entry(document_id).or_default().extend(chunk);
                StorageResult::Appended { task, document_id }
            }
        }
    }

    /// The good peer sends its sync message for `document_id` and answers the engine until
    /// neither has anything left to say.
    fn good_syncs(&mut self, document_id: DocumentId) {
        let mut report = EngineReport::default();
        for _round in 0..64 {
            for message in std::mem::take(&mut self.good_inbox) {
                if let Message::Sync {
                    data,
                    document_id: about,
                    ..
                }
                | Message::Request {
                    data,
                    document_id: about,
                    ..
                } = message
                {
                    let (doc, state) = self.good.docs.get_mut(&about).unwrap();
                    let message =
                        sync::Message::decode(&data).expect("the engine sends valid sync messages");
                    doc.receive_sync_message(state, message)
                        .expect("the engine's changes apply");
                }
            }
            let (doc, state) = self.good.docs.get_mut(&document_id).unwrap();
            let Some(message) = doc.generate_sync_message(state) else {
                return;
            };
            let event = Event::Received {
                from: good(),
                message: Message::Sync {
                    sender_id: good(),
                    target_id: server(),
                    document_id,
                    data: message.encode(),
                },
                may_write: true,
            };
            let effects = self.engine.handle(Millis(self.now), event);
            self.settle(effects, &mut report);
        }
        panic!("the good peer's sync of {document_id} did not settle in 64 rounds");
    }

    fn good_changes_and_syncs(&mut self, document_id: DocumentId) {
        self.good.changes_made += 1;
        let value = self.good.changes_made;
        let (doc, _) = self.good.docs.get_mut(&document_id).unwrap();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "after-attack", value).unwrap();
        let hash = tx
            .commit_with(CommitOptions::default().with_time(0))
            .0
            .expect("a change");
        self.good_syncs(document_id);
        let effects = self.engine.open(Millis(self.now), document_id);
        self.settle(effects, &mut EngineReport::default());
        let (good_doc, _) = &self.good.docs[&document_id];
        let served = self
            .engine
            .document(&document_id)
            .unwrap_or_else(|| panic!("{document_id} is not served after the attack"));
        assert!(
            served.get_change_by_hash(&hash).is_some(),
            "the good peer's change did not reach the engine"
        );
        assert_eq!(
            served.get_heads(),
            good_doc.get_heads(),
            "the good peer and the engine did not converge"
        );
    }

    fn check_storage(&self, document_id: DocumentId) {
        assert!(self.engine.is_durable(&document_id));
        let stored = Automerge::load(&self.disk[&document_id])
            .unwrap_or_else(|e| panic!("what the engine stored does not load: {e}"));
        let served = self.engine.document(&document_id).unwrap();
        let mut stored_heads: Vec<ChangeHash> = stored.get_heads();
        let mut served_heads = served.get_heads();
        stored_heads.sort();
        served_heads.sort();
        assert_eq!(stored_heads, served_heads, "storage and memory disagree");
        let (good_doc, _) = &self.good.docs[&document_id];
        let last = good_doc
            .get_last_local_change()
            .expect("the good peer made a change");
        assert!(
            stored.get_change_by_hash(&last.hash()).is_some(),
            "the good peer's change is not stored"
        );
    }
}

/// Changes that automerge 0.12 applies to `doc` without complaint, and then panics when they
/// are read back (`get_changes`, `save_after`); `Automerge::save` writes a document that does not
/// load. Each has an op whose key is of the wrong kind for its object (a map key in a list or a
/// text, or a list element that is not an insertion). `doc` must be a [`base_document`].
pub fn changes_panicking_on_read_back(doc: &Automerge) -> Vec<(&'static str, Vec<u8>)> {
    use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType, SortedVec};
    let base_actor = doc
        .get_changes(&[])
        .first()
        .expect("the base document has a change")
        .actor_id()
        .clone();
    // The base document's ops: title (1), entries (2), three list items, notes (6), ...
    let entries = ObjectId::Id(OpId(2, base_actor.clone()));
    let notes = ObjectId::Id(OpId(6, base_actor));
    let put = |obj: ObjectId, key: Key| Op {
        action: OpType::Put(automerge::ScalarValue::Int(5)),
        obj,
        key,
        pred: SortedVec::new(),
        insert: false,
    };
    let cases = vec![
        (
            "a map key in a list",
            put(entries.clone(), Key::Map("a".into())),
        ),
        ("a map key in a text", put(notes, Key::Map("a".into()))),
        (
            "a list element that is not an insertion",
            put(entries, Key::Seq(ElementId::Head)),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, op)| (name, change_of(doc, op)))
        .collect()
}

fn change_of(doc: &Automerge, op: automerge::legacy::Op) -> Vec<u8> {
    Change::from(ExpandedChange {
        operations: vec![op],
        actor_id: ActorId::from(&[0xBA; 16][..]),
        hash: None,
        seq: 1,
        start_op: NonZeroU64::MIN.saturating_add(1_000),
        time: 0,
        message: None,
        deps: doc.get_heads(),
        extra_bytes: Vec::new(),
        author: None,
    })
    .raw_bytes()
    .to_vec()
}

/// Changes that make automerge 0.12 panic when `doc` applies them (in `load_incremental`,
/// hence also in `receive_sync_message`): each names something that does not exist, which
/// automerge's change parser does not check and its op application `unwrap`s. Named, for
/// messages. They depend on `doc`'s heads, so they are applied, not queued.
pub fn panicking_changes(doc: &Automerge) -> Vec<(&'static str, Vec<u8>)> {
    use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType, SortedVec};
    let unknown = OpId(7, ActorId::from(&[0xEE; 16][..]));
    let put = |obj: ObjectId, key: Key| Op {
        action: OpType::Put(automerge::ScalarValue::Int(5)),
        obj,
        key,
        pred: SortedVec::new(),
        insert: false,
    };
    let cases = vec![
        (
            "an op in an object that does not exist",
            put(ObjectId::Id(unknown.clone()), Key::Map("a".into())),
        ),
        (
            "an insertion after an element that does not exist",
            Op {
                insert: true,
                ..put(ObjectId::Root, Key::Seq(ElementId::Id(unknown.clone())))
            },
        ),
        (
            "a list key in the root map",
            put(ObjectId::Root, Key::Seq(ElementId::Head)),
        ),
        (
            "an overwrite of an op that does not exist",
            Op {
                pred: vec![unknown].into(),
                ..put(ObjectId::Root, Key::Map("title".into()))
            },
        ),
    ];
    cases
        .into_iter()
        .map(|(name, op)| (name, change_of(doc, op)))
        .collect()
}

/// Starting points for the `engine_receive` fuzzer: valid sync exchanges with changes built on
/// the base documents, and the changes of [`panicking_changes`], in each frame kind.
pub fn engine_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for document_id in [document(false), document(true)] {
        let doc_b = document_id == document(true);
        let base = base_document(document_id);
        // A peer with a few changes of its own, syncing from scratch, from a copy, and from
        // nothing at all (a `request`).
        let mut theirs = base_document(document_id).with_actor(ActorId::from(&[0x70; 16][..]));
        let mut tx = theirs.transaction();
        tx.put(automerge::ROOT, "title", "Mission Oujda, mars")
            .unwrap();
        let list = tx.get(automerge::ROOT, "entries").unwrap().unwrap().1;
        tx.insert(&list, 1, "inserted").unwrap();
        tx.delete(&list, 0).unwrap();
        let text = tx.get(automerge::ROOT, "notes").unwrap().unwrap().1;
        tx.splice_text(&text, 7, 0, " à tous").unwrap();
        tx.increment(automerge::ROOT, "count", 2).unwrap();
        tx.commit_with(CommitOptions::default().with_time(0));
        let change = theirs.get_last_local_change().unwrap().raw_bytes().to_vec();

        let mut state = sync::State::new();
        let first = theirs.generate_sync_message(&mut state).unwrap().encode();
        let mut ours_state = sync::State::new();
        let mut ours = base_document(document_id);
        ours.receive_sync_message(&mut ours_state, sync::Message::decode(&first).unwrap())
            .unwrap();
        let reply = ours.generate_sync_message(&mut ours_state).unwrap();
        theirs.receive_sync_message(&mut state, reply).unwrap();
        let second = theirs.generate_sync_message(&mut state).unwrap().encode();
        let name = if doc_b { "b" } else { "a" };
        seeds.push((
            format!("sync-exchange-{name}"),
            [
                engine_frame(FrameKind::Sync, false, doc_b, false, &first),
                engine_frame(FrameKind::Sync, false, doc_b, false, &second),
            ]
            .concat(),
        ));
        seeds.push((
            format!("sync-read-only-{name}"),
            [
                engine_frame(FrameKind::Sync, true, doc_b, false, &first),
                engine_frame(FrameKind::Sync, true, doc_b, true, &second),
            ]
            .concat(),
        ));
        let empty_request = Automerge::new()
            .generate_sync_message(&mut sync::State::new())
            .unwrap()
            .encode();
        seeds.push((
            format!("request-{name}"),
            engine_frame(FrameKind::Request, false, doc_b, false, &empty_request),
        ));
        seeds.push((
            format!("change-in-sync-{name}"),
            engine_frame(FrameKind::ChangesInSync, false, doc_b, false, &change),
        ));
        seeds.push((
            format!("delta-{name}"),
            engine_frame(FrameKind::Delta, false, doc_b, false, &change),
        ));
        seeds.push((
            format!("delta-save-{name}"),
            engine_frame(FrameKind::Delta, false, doc_b, false, &theirs.save()),
        ));
        let bad_changes = panicking_changes(&base)
            .into_iter()
            .chain(changes_panicking_on_read_back(&base));
        for (index, (_, bad)) in bad_changes.enumerate() {
            seeds.push((
                format!("panic-{index}-in-sync-then-valid-{name}"),
                [
                    engine_frame(FrameKind::ChangesInSync, false, doc_b, false, &bad),
                    engine_frame(FrameKind::ChangesInSync, false, doc_b, false, &change),
                ]
                .concat(),
            ));
            seeds.push((
                format!("panic-{index}-delta-{name}"),
                engine_frame(FrameKind::Delta, false, doc_b, false, &bad),
            ));
        }
    }
    seeds
}

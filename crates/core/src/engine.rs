//! [`Engine`]: the sans-IO sync engine. It holds documents in memory, speaks the document
//! half of the automerge-repo protocol with many peers at once, and asks for storage as data.
//!
//! # Invariants
//! - **No sync message leaves the engine while the document holds changes that are not yet
//!   durable.** Every change (local or received) becomes a storage append at once; messages
//!   for that document are generated only after every append has been answered. So a peer
//!   that sees our heads move can rely on them surviving a crash, and a server's reply that
//!   acknowledges a client's changes means they are on disk.
//! - **Sync state never outlives a connection.** A peer that (re)connects starts from a fresh
//!   `sync::State`, and a sync that has not converged is restarted from a fresh state after a
//!   timeout. automerge's `in_flight` flag otherwise leaves two peers silent while diverged
//!   when their messages were lost.
//! - **A loaded document gets a new actor id.** Reusing one after a crash could produce two
//!   different changes with the same (actor, seq) ("duplicate seq" errors on every peer).
//! - **Incoming ops are validated before they are applied** (`validate`): automerge 0.12
//!   checks them only in debug builds, and a release build would store a change that leaves
//!   the document unloadable. One malformed op refuses the whole message.
//! - **A malformed message hurts only its sender.** Decoding errors and panics inside
//!   automerge are contained per message; the document is reloaded from storage if a panic may
//!   have left it half-updated, and every other peer is served on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash, ReadDoc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::effect::{DeltaOutcome, DeltaRequest, Effect, Event, Millis, PeerRole};
use crate::validate::{self, DocOps, HeldChange, Verdict};
use crate::{DocumentId, Message, PeerId, StorageResult, StorageTask, TaskId};

/// Past this many bytes of individual changes, a batch-sync reply is compared with a whole
/// `save()` and the smaller is sent.
const SAVE_AFTER_COMPARE_BYTES: usize = 1024;

/// Tunables of the [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Our own peer id, the `senderId` of every message we send.
    pub peer_id: PeerId,
    /// Seeds the engine's randomness (actor ids), so a simulation replays exactly.
    pub seed: u64,
    /// How long a sync may stay unanswered and unconverged before it restarts from a fresh
    /// state. Doubles on each retry up to `max_retry_after_ms`.
    pub retry_after_ms: u64,
    /// The cap of the retry backoff.
    pub max_retry_after_ms: u64,
    /// A document untouched for this long, with nothing pending and every peer converged, is
    /// dropped from memory (it reloads from storage on demand).
    pub evict_idle_after_ms: u64,
    /// At most this many documents in memory; past it, the least recently used documents that
    /// can be evicted are, at the next tick.
    pub max_loaded_documents: usize,
    /// Also evict a document as soon as the last peer syncing it disconnects and nothing is
    /// pending for it (else at the first tick after that), without waiting
    /// `evict_idle_after_ms`. A server wants this: a client that went away leaves its
    /// documents in memory otherwise, and reloading one is cheap. A client does not.
    pub evict_when_unheld: bool,
}

impl EngineConfig {
    /// Defaults suited to a server or a client on a real network.
    pub fn new(peer_id: PeerId) -> Self {
        Self {
            peer_id,
            seed: rand::random(),
            retry_after_ms: 5_000,
            max_retry_after_ms: 60_000,
            evict_idle_after_ms: 60_000,
            max_loaded_documents: 10_000,
            evict_when_unheld: false,
        }
    }
}

/// A caller error: what was asked cannot be done in the engine's current state.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The document is not in memory; `open` it and wait for [`Effect::Ready`].
    #[error("document {0} is not loaded")]
    NotLoaded(DocumentId),
    /// The document is being reloaded after a fault, or its storage failed.
    #[error("document {0} is unavailable: {1}")]
    Unavailable(DocumentId, String),
    /// The change itself failed; nothing was committed.
    #[error("the change failed: {0}")]
    Change(#[from] AutomergeError),
}

/// The sync engine. See the module documentation for its invariants.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    rng: StdRng,
    now: Millis,
    next_task: u64,
    docs: BTreeMap<DocumentId, DocSlot>,
    peers: BTreeMap<PeerId, PeerRole>,
    /// The connected peers that asked about each document. A document may be evicted and
    /// reloaded while they stay connected: when its heads move, they hear of it again.
    subscribers: BTreeMap<DocumentId, BTreeSet<PeerId>>,
    effects: Vec<Effect>,
}

#[derive(Debug)]
enum DocSlot {
    Loading { task: TaskId, queued: Vec<Queued> },
    Ready(Box<DocState>),
    Failed { reason: String },
}

#[derive(Debug)]
enum Queued {
    Received {
        from: PeerId,
        message: Message,
        may_write: bool,
    },
    Delta(DeltaRequest),
    /// Offer the document to its subscribers once loaded ([`Engine::wake_subscribers`]).
    Wake,
}

#[derive(Debug)]
struct PendingAppend {
    task: TaskId,
    heads: Vec<ChangeHash>,
    chunk: Vec<u8>,
    done: bool,
    failed: bool,
}

#[derive(Debug)]
struct DocState {
    doc: Automerge,
    /// The heads covered by the chunks handed to storage so far.
    chunked_heads: Vec<ChangeHash>,
    /// The heads covered by chunks storage has acknowledged, in order.
    durable_heads: Vec<ChangeHash>,
    /// Appends in the order they were emitted; popped from the front once answered.
    appends: VecDeque<PendingAppend>,
    peers: BTreeMap<PeerId, PeerDoc>,
    /// A panic inside automerge may have left the document half-updated: it is reloaded from
    /// storage as soon as the pending appends are answered.
    poisoned: bool,
    queued: Vec<Queued>,
    last_used: Millis,
    /// Highest ephemeral `count` seen per session id, so relayed messages are never looped.
    ephemeral_seen: BTreeMap<String, u64>,
    told_unavailable: bool,
    /// Batch-sync replies waiting for the document to be durable: request, client heads,
    /// whether the client's changes were refused.
    pending_deltas: Vec<(u64, Vec<ChangeHash>, bool)>,
    /// The received changes automerge holds until their dependencies arrive: not yet checked
    /// (`validate`), so checked with the message that completes them.
    held: Vec<HeldChange>,
    /// What the validation has read of the document's ops, kept for the next message.
    doc_ops: DocOps,
    /// The last peer syncing it disconnected ([`EngineConfig::evict_when_unheld`]).
    unheld: bool,
}

#[derive(Debug)]
struct PeerDoc {
    sync: sync::State,
    last_activity: Millis,
    retry_after_ms: u64,
    /// The peer said it has no copy.
    unavailable: bool,
    /// The peer may not write and holds changes we refused: send only when our heads move,
    /// or the two of us would exchange empty messages forever.
    refused_heads: Option<Vec<ChangeHash>>,
}

impl PeerDoc {
    fn new(now: Millis, retry_after_ms: u64) -> Self {
        Self {
            sync: sync::State::new(),
            last_activity: now,
            retry_after_ms,
            unavailable: false,
            refused_heads: None,
        }
    }
}

impl Engine {
    /// A new engine with no documents and no peers.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            now: Millis(0),
            next_task: 0,
            docs: BTreeMap::new(),
            peers: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            effects: Vec::new(),
        }
    }

    /// Our peer id.
    pub fn peer_id(&self) -> &PeerId {
        &self.config.peer_id
    }

    /// Reacts to one event at time `now`.
    pub fn handle(&mut self, now: Millis, event: Event) -> Vec<Effect> {
        self.now = self.now.max(now);
        match event {
            Event::PeerConnected { peer, role } => self.peer_connected(peer, role),
            Event::PeerDisconnected { peer } => self.peer_disconnected(&peer),
            Event::Received {
                from,
                message,
                may_write,
            } => self.received(from, message, may_write),
            Event::Storage(result) => self.storage_result(result),
            Event::Tick => self.tick(),
            Event::Delta(delta) => self.delta(delta),
        }
        std::mem::take(&mut self.effects)
    }

    /// Creates a new, empty document (with one empty change, so that it exists on the wire as
    /// automerge-repo's documents do) and starts storing it.
    pub fn create_document(&mut self, now: Millis) -> (DocumentId, Vec<Effect>) {
        self.now = self.now.max(now);
        let document_id = DocumentId::from_bytes(self.rng.r#gen());
        let mut doc = Automerge::new().with_actor(self.new_actor());
        doc.empty_commit(automerge::transaction::CommitOptions::default());
        let state = DocState::new(doc, Vec::new(), self.now);
        self.docs
            .insert(document_id, DocSlot::Ready(Box::new(state)));
        self.effects.push(Effect::Ready {
            document_id,
            exists: true,
        });
        self.after_change(document_id, Vec::new());
        self.offer_to_announce_peers(document_id);
        (document_id, std::mem::take(&mut self.effects))
    }

    /// Makes sure the document is in memory (loading it from storage if needed) and, once it
    /// is, syncs it with the peers we announce to. [`Effect::Ready`] tells when it is.
    pub fn open(&mut self, now: Millis, document_id: DocumentId) -> Vec<Effect> {
        self.now = self.now.max(now);
        match self.docs.get_mut(&document_id) {
            Some(DocSlot::Ready(state)) => {
                state.last_used = self.now;
                let exists = !state.doc.get_heads().is_empty();
                self.effects.push(Effect::Ready {
                    document_id,
                    exists,
                });
            }
            Some(DocSlot::Loading { .. }) => {}
            Some(DocSlot::Failed { .. }) | None => self.start_load(document_id, Vec::new()),
        }
        std::mem::take(&mut self.effects)
    }

    /// Applies a local change through `f`. The change is in memory at once and durable after
    /// the [`Effect::Durable`] that covers its heads.
    pub fn change<O>(
        &mut self,
        now: Millis,
        document_id: DocumentId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<O, AutomergeError>,
    ) -> Result<(O, Vec<Effect>), EngineError> {
        self.now = self.now.max(now);
        let now = self.now;
        let state = self.ready_mut(document_id)?;
        let before = state.doc.get_heads();
        let mut tx = state.doc.transaction();
        let output = match f(&mut tx) {
            Ok(output) => output,
            Err(error) => {
                tx.rollback();
                return Err(EngineError::Change(error));
            }
        };
        tx.commit();
        state.last_used = now;
        self.after_change(document_id, before);
        self.flush_document(document_id);
        Ok((output, std::mem::take(&mut self.effects)))
    }

    /// The document, if it is in memory.
    pub fn document(&self, document_id: &DocumentId) -> Option<&Automerge> {
        match self.docs.get(document_id) {
            Some(DocSlot::Ready(state)) if !state.poisoned => Some(&state.doc),
            _ => None,
        }
    }

    /// Whether every change of the in-memory document is durable.
    pub fn is_durable(&self, document_id: &DocumentId) -> bool {
        match self.docs.get(document_id) {
            Some(DocSlot::Ready(state)) => state.appends.is_empty(),
            _ => true,
        }
    }

    /// Whether `peer` last told us it holds exactly our heads of this document.
    pub fn is_in_sync_with(&self, document_id: &DocumentId, peer: &PeerId) -> bool {
        match self.docs.get(document_id) {
            Some(DocSlot::Ready(state)) => state.peers.get(peer).is_some_and(|peer_doc| {
                peer_doc.sync.their_heads.as_deref() == Some(&state.doc.get_heads())
            }),
            _ => false,
        }
    }

    /// Whether the document is being loaded from storage.
    pub fn is_loading(&self, document_id: &DocumentId) -> bool {
        matches!(self.docs.get(document_id), Some(DocSlot::Loading { .. }))
    }

    /// Whether a connected peer asked about the document (it hears of the document's changes
    /// even while the document is not in memory).
    pub fn has_subscribers(&self, document_id: &DocumentId) -> bool {
        self.subscribers.contains_key(document_id)
    }

    /// The documents that connected peers asked about, in memory or not.
    pub fn subscribed_documents(&self) -> impl Iterator<Item = DocumentId> + '_ {
        self.subscribers.keys().copied()
    }

    /// Another process sharing the storage stored changes of this document (several server
    /// instances on one database). The peers that asked about it must hear of them: if the
    /// document is not in memory, it is loaded (with those changes) and offered to each of
    /// them from a fresh sync state, as [`Engine`] does for a change made here. A document in
    /// memory lacks the changes: the runtime reads them from storage and hands them over as a
    /// [`DeltaRequest`], which applies and relays them like any peer's. Nothing happens for a
    /// document no peer asked about.
    pub fn wake_subscribers(&mut self, now: Millis, document_id: DocumentId) -> Vec<Effect> {
        self.now = self.now.max(now);
        if self.subscribers.contains_key(&document_id) {
            match self.docs.get_mut(&document_id) {
                Some(DocSlot::Loading { queued, .. }) => queued.push(Queued::Wake),
                Some(DocSlot::Ready(state)) if state.poisoned => state.queued.push(Queued::Wake),
                Some(DocSlot::Ready(_)) => self.offer_to_subscribers(document_id),
                Some(DocSlot::Failed { .. }) => {}
                None => self.start_load(document_id, vec![Queued::Wake]),
            }
        }
        std::mem::take(&mut self.effects)
    }

    /// Syncs the document with every peer that asked about it, from a fresh sync state for
    /// those that have none.
    fn offer_to_subscribers(&mut self, document_id: DocumentId) {
        let (now, retry) = (self.now, self.config.retry_after_ms);
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        for peer in self.subscribers.get(&document_id).into_iter().flatten() {
            state
                .peers
                .entry(peer.clone())
                .or_insert_with(|| PeerDoc::new(now, retry));
        }
        self.flush_document(document_id);
    }

    /// The documents currently in memory.
    pub fn loaded_documents(&self) -> impl Iterator<Item = DocumentId> + '_ {
        self.docs.iter().filter_map(|(id, slot)| match slot {
            DocSlot::Ready(_) => Some(*id),
            _ => None,
        })
    }

    /// Drops the document from memory with every peer's sync state and subscription, as if it
    /// had never been loaded (erasure: the runtime deletes its storage). Answers of storage
    /// tasks still running for it are then ignored, and a batch-sync reply still waiting for
    /// it is answered [`DeltaOutcome::Unavailable`]. A peer that asks again afterwards starts
    /// from nothing: the runtime must refuse it (a tombstone) or the document comes back.
    pub fn forget_document(&mut self, now: Millis, document_id: DocumentId) -> Vec<Effect> {
        self.now = self.now.max(now);
        self.subscribers.remove(&document_id);
        let (mut requests, queued) = match self.docs.remove(&document_id) {
            Some(DocSlot::Ready(state)) => (
                state.pending_deltas.iter().map(|(r, _, _)| *r).collect(),
                state.queued,
            ),
            Some(DocSlot::Loading { queued, .. }) => (Vec::new(), queued),
            Some(DocSlot::Failed { .. }) | None => (Vec::new(), Vec::new()),
        };
        requests.extend(queued.into_iter().filter_map(|queued| match queued {
            Queued::Delta(delta) => Some(delta.request),
            Queued::Received { .. } | Queued::Wake => None,
        }));
        for request in requests {
            self.effects.push(Effect::DeltaReply {
                request,
                document_id,
                outcome: DeltaOutcome::Unavailable,
            });
        }
        std::mem::take(&mut self.effects)
    }

    /// Whether there is nothing left to do but wait for new input: no storage task unanswered.
    pub fn is_idle(&self) -> bool {
        self.docs.values().all(|slot| match slot {
            DocSlot::Loading { .. } => false,
            DocSlot::Ready(state) => state.appends.is_empty(),
            DocSlot::Failed { .. } => true,
        })
    }

    fn new_actor(&mut self) -> ActorId {
        let bytes: [u8; 16] = self.rng.r#gen();
        ActorId::from(&bytes[..])
    }

    fn next_task(&mut self) -> TaskId {
        self.next_task += 1;
        TaskId(self.next_task)
    }

    fn ready_mut(&mut self, document_id: DocumentId) -> Result<&mut DocState, EngineError> {
        match self.docs.get_mut(&document_id) {
            Some(DocSlot::Ready(state)) if !state.poisoned => Ok(state),
            Some(DocSlot::Ready(_)) => Err(EngineError::Unavailable(
                document_id,
                "reloading after a fault".into(),
            )),
            Some(DocSlot::Failed { reason }) => {
                Err(EngineError::Unavailable(document_id, reason.clone()))
            }
            Some(DocSlot::Loading { .. }) | None => Err(EngineError::NotLoaded(document_id)),
        }
    }

    fn start_load(&mut self, document_id: DocumentId, queued: Vec<Queued>) {
        let task = self.next_task();
        self.docs
            .insert(document_id, DocSlot::Loading { task, queued });
        self.effects
            .push(Effect::Storage(StorageTask::Load { task, document_id }));
    }

    fn peer_connected(&mut self, peer: PeerId, role: PeerRole) {
        self.forget_peer(&peer);
        self.peers.insert(peer.clone(), role);
        if role == PeerRole::Announce {
            let ids: Vec<DocumentId> = self.loaded_documents().collect();
            for document_id in ids {
                self.offer_to(document_id, &peer);
            }
        }
    }

    fn peer_disconnected(&mut self, peer: &PeerId) {
        if self.config.evict_when_unheld {
            for slot in self.docs.values_mut() {
                if let DocSlot::Ready(state) = slot
                    && state.peers.contains_key(peer)
                    && state.peers.len() == 1
                {
                    state.unheld = true;
                }
            }
        }
        self.forget_peer(peer);
        self.peers.remove(peer);
        if self.config.evict_when_unheld {
            self.evict();
        }
    }

    fn forget_peer(&mut self, peer: &PeerId) {
        self.subscribers.retain(|_, peers| {
            peers.remove(peer);
            !peers.is_empty()
        });
        for slot in self.docs.values_mut() {
            if let DocSlot::Ready(state) = slot {
                state.peers.remove(peer);
            }
        }
    }

    /// Starts syncing a loaded document with every peer we announce to.
    fn offer_to_announce_peers(&mut self, document_id: DocumentId) {
        let peers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, role)| **role == PeerRole::Announce)
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in peers {
            self.offer_to(document_id, &peer);
        }
    }

    fn offer_to(&mut self, document_id: DocumentId, peer: &PeerId) {
        let (now, retry) = (self.now, self.config.retry_after_ms);
        if let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) {
            state
                .peers
                .entry(peer.clone())
                .or_insert_with(|| PeerDoc::new(now, retry));
        }
        self.flush_document(document_id);
    }

    fn received(&mut self, from: PeerId, message: Message, may_write: bool) {
        if !self.peers.contains_key(&from) {
            // A message from a peer the runtime never connected: ignore rather than guess.
            return;
        }
        let Some(document_id) = message.document_id() else {
            self.effects.push(Effect::PeerError {
                peer: from,
                document_id: None,
                error: format!(
                    "a `{}` message is not a document message",
                    message.type_name()
                ),
            });
            return;
        };
        if let Message::Ephemeral { .. } = message {
            self.relay_ephemeral(document_id, &from, message);
            return;
        }
        if matches!(message, Message::Sync { .. } | Message::Request { .. }) {
            self.subscribers
                .entry(document_id)
                .or_default()
                .insert(from.clone());
        }
        match self.docs.get_mut(&document_id) {
            Some(DocSlot::Loading { queued, .. }) => queued.push(Queued::Received {
                from,
                message,
                may_write,
            }),
            Some(DocSlot::Ready(state)) if state.poisoned => state.queued.push(Queued::Received {
                from,
                message,
                may_write,
            }),
            Some(DocSlot::Ready(_)) => self.apply_received(document_id, from, message, may_write),
            Some(DocSlot::Failed { .. }) => {
                if matches!(message, Message::Sync { .. } | Message::Request { .. }) {
                    self.send_unavailable(document_id, from);
                }
            }
            None => self.start_load(
                document_id,
                vec![Queued::Received {
                    from,
                    message,
                    may_write,
                }],
            ),
        }
    }

    fn send_unavailable(&mut self, document_id: DocumentId, to: PeerId) {
        let message = Message::DocUnavailable {
            sender_id: self.config.peer_id.clone(),
            target_id: to.clone(),
            document_id,
        };
        self.effects.push(Effect::Send { to, message });
    }

    fn apply_received(
        &mut self,
        document_id: DocumentId,
        from: PeerId,
        message: Message,
        may_write: bool,
    ) {
        let (now, retry) = (self.now, self.config.retry_after_ms);
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        state.last_used = now;
        let (data, is_request) = match &message {
            Message::Sync { data, .. } => (data, false),
            Message::Request { data, .. } => (data, true),
            Message::DocUnavailable { .. } => {
                if let Some(peer_doc) = state.peers.get_mut(&from) {
                    peer_doc.unavailable = true;
                    peer_doc.last_activity = now;
                }
                self.check_unavailable(document_id);
                return;
            }
            _ => return,
        };
        let decoded = sync::Message::decode(data).map_err(|e| e.to_string());
        let sync_message = match decoded.and_then(check_blooms) {
            Ok(sync_message) => sync_message,
            Err(error) => {
                self.effects.push(Effect::PeerError {
                    peer: from,
                    document_id: Some(document_id),
                    error: format!("malformed sync message: {error}"),
                });
                return;
            }
        };
        // automerge ignores the changes of a peer that may not write.
        let mut wait = Vec::new();
        // A new document sent whole, applied and checked in a copy (see `try_new_document`).
        let mut prepared = None;
        let checked = may_write && !sync_message.changes.is_empty();
        let changes: Vec<u8> = if checked {
            sync_message.changes.iter().flatten().copied().collect()
        } else {
            Vec::new()
        };
        // The reason the message is refused, from either check.
        let mut refusal = None;
        if checked {
            match DocState::try_new_document(state, &from, &sync_message, &changes, retry) {
                Some(Ok(new_document)) => prepared = Some(new_document),
                Some(Err(reason)) => refusal = Some(reason),
                None => {}
            }
        }
        if checked && prepared.is_none() && refusal.is_none() {
            match validate::check_incoming(&state.doc, &state.held, &mut state.doc_ops, &changes) {
                Verdict::Apply { wait: waiting } => wait = waiting,
                Verdict::Refuse(reason) => refusal = Some(reason),
                Verdict::HeldMalformed {
                    from: culprit,
                    reason,
                } => {
                    let requeue = (culprit != from).then_some(Queued::Received {
                        from,
                        message,
                        may_write,
                    });
                    self.drop_held_changes(document_id, culprit, reason, requeue);
                    return;
                }
            }
        }
        if let Some(reason) = refusal {
            self.effects.push(Effect::PeerError {
                peer: from,
                document_id: Some(document_id),
                error: format!("malformed sync message: {reason}"),
            });
            return;
        }
        let peer_doc = state
            .peers
            .entry(from.clone())
            .or_insert_with(|| PeerDoc::new(now, retry));
        peer_doc.last_activity = now;
        peer_doc.unavailable = false;
        peer_doc.retry_after_ms = retry;
        peer_doc.sync.read_only = !may_write;
        if !may_write {
            let missing = state.doc.get_missing_deps(&sync_message.heads);
            if !missing.is_empty() {
                if peer_doc.refused_heads.as_ref() != Some(&sync_message.heads) {
                    self.effects.push(Effect::Refused {
                        peer: from.clone(),
                        document_id,
                        reason: "you have read-only access to this document; your changes were not accepted".into(),
                    });
                }
                peer_doc.refused_heads = Some(sync_message.heads.clone());
            } else {
                peer_doc.refused_heads = None;
            }
        }
        let before = state.doc.get_heads();
        let doc = &mut state.doc;
        let sync_state = &mut peer_doc.sync;
        // automerge 0.12 applies some malformed changes without complaint (an op with a map key
        // in a list, for one) and panics only when they are read back (`get_changes`,
        // `save_after`): read them back here, where the panic is contained, and not later in
        // `after_change`, where it would kill the runtime's task.
        let outcome = match prepared {
            Some(NewDocument {
                doc: new_doc,
                sync: new_sync,
                hashes,
            }) => {
                *doc = new_doc;
                *sync_state = new_sync;
                Ok((Ok(()), hashes))
            }
            None => catch_unwind(AssertUnwindSafe(|| {
                let applied = doc.receive_sync_message(sync_state, sync_message);
                (applied, hashes_since(doc, &before))
            })),
        };
        if outcome.is_ok() {
            DocState::hold(&mut state.held, &state.doc, &from, wait);
        }
        let hashes = match outcome {
            Ok((Ok(()), hashes)) => {
                // automerge never sends a change twice in one sync session (`sent_hashes`). A
                // peer that asks for one we already sent did not get it (a lost message or a
                // lost HTTP response): forget that we sent it, or it never arrives.
                if let Some(need) = peer_doc.sync.their_need.as_ref() {
                    for hash in need {
                        peer_doc.sync.sent_hashes.remove(hash);
                    }
                }
                hashes
            }
            Ok((Err(error), _)) => {
                state.peers.remove(&from);
                self.effects.push(Effect::PeerError {
                    peer: from,
                    document_id: Some(document_id),
                    error: format!("could not apply sync message: {error}"),
                });
                // automerge checks a message before applying it, but be safe: keep whatever
                // changed durable, and carry on.
                self.after_change(document_id, before);
                return;
            }
            Err(_panic) => {
                state.peers.remove(&from);
                state.poisoned = true;
                self.effects.push(Effect::PeerError {
                    peer: from,
                    document_id: Some(document_id),
                    error: "the sync message could not be applied (automerge rejected it)".into(),
                });
                self.reload_if_poisoned(document_id);
                return;
            }
        };
        let after = state.doc.get_heads();
        if after != before {
            self.effects.push(Effect::ChangesApplied {
                document_id,
                from: from.clone(),
                hashes,
            });
            self.after_change(document_id, before);
        }
        let has_copy = !after.is_empty();
        if is_request && !has_copy {
            self.send_unavailable(document_id, from);
            return;
        }
        self.flush_document(document_id);
    }

    fn delta(&mut self, delta: DeltaRequest) {
        let document_id = delta.document_id;
        match self.docs.get_mut(&document_id) {
            Some(DocSlot::Loading { queued, .. }) => queued.push(Queued::Delta(delta)),
            Some(DocSlot::Ready(state)) if state.poisoned => {
                state.queued.push(Queued::Delta(delta))
            }
            Some(DocSlot::Ready(_)) => self.apply_delta(delta),
            Some(DocSlot::Failed { .. }) => self.effects.push(Effect::DeltaReply {
                request: delta.request,
                document_id,
                outcome: DeltaOutcome::Failed(UNREADABLE.to_owned()),
            }),
            None => self.start_load(document_id, vec![Queued::Delta(delta)]),
        }
    }

    fn apply_delta(&mut self, delta: DeltaRequest) {
        let now = self.now;
        let DeltaRequest {
            request,
            from,
            document_id,
            heads: client_heads,
            changes,
            may_write,
        } = delta;
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        state.last_used = now;
        let before = state.doc.get_heads();
        if before.is_empty() && changes.is_empty() {
            self.effects.push(Effect::DeltaReply {
                request,
                document_id,
                outcome: DeltaOutcome::Unavailable,
            });
            return;
        }
        let mut refused = false;
        let mut hashes = Vec::new();
        if !changes.is_empty() {
            if may_write {
                let checked =
                    validate::check_incoming(&state.doc, &state.held, &mut state.doc_ops, &changes);
                let wait = match checked {
                    Verdict::Apply { wait } => wait,
                    Verdict::Refuse(reason) => {
                        self.effects.push(Effect::DeltaReply {
                            request,
                            document_id,
                            outcome: DeltaOutcome::Failed(format!("malformed changes: {reason}")),
                        });
                        return;
                    }
                    Verdict::HeldMalformed {
                        from: culprit,
                        reason,
                    } => {
                        // The delta itself is sound and must be answered: after the reload.
                        let requeue = Queued::Delta(DeltaRequest {
                            request,
                            from,
                            document_id,
                            heads: client_heads,
                            changes,
                            may_write,
                        });
                        self.drop_held_changes(document_id, culprit, reason, Some(requeue));
                        return;
                    }
                };
                let doc = &mut state.doc;
                // Read the changes back inside the guard too: see `apply_received`.
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    let applied = doc.load_incremental(&changes);
                    (applied, hashes_since(doc, &before))
                }));
                if outcome.is_ok() {
                    DocState::hold(&mut state.held, &state.doc, &from, wait);
                }
                match outcome {
                    Ok((Ok(_), applied)) => hashes = applied,
                    Ok((Err(error), _)) => {
                        self.effects.push(Effect::DeltaReply {
                            request,
                            document_id,
                            outcome: DeltaOutcome::Failed(format!("malformed changes: {error}")),
                        });
                        self.after_change(document_id, before);
                        return;
                    }
                    Err(_panic) => {
                        state.poisoned = true;
                        self.effects.push(Effect::DeltaReply {
                            request,
                            document_id,
                            outcome: DeltaOutcome::Failed(
                                "malformed changes (automerge rejected them)".into(),
                            ),
                        });
                        self.reload_if_poisoned(document_id);
                        return;
                    }
                }
            } else {
                refused = !state.doc.get_missing_deps(&client_heads).is_empty();
            }
        }
        let after = state.doc.get_heads();
        if may_write
            && !changes.is_empty()
            && after == before
            && !state.doc.get_missing_deps(&client_heads).is_empty()
        {
            // automerge skips what it cannot parse; say so rather than answer "ok".
            self.effects.push(Effect::DeltaReply {
                request,
                document_id,
                outcome: DeltaOutcome::Failed(
                    "nothing could be applied from these changes (malformed, or built on \
                     changes this server lacks): send the whole document"
                        .into(),
                ),
            });
            return;
        }
        state.pending_deltas.push((request, client_heads, refused));
        if after != before {
            self.effects.push(Effect::ChangesApplied {
                document_id,
                from,
                hashes,
            });
            self.after_change(document_id, before);
        }
        self.flush_document(document_id);
    }

    fn relay_ephemeral(&mut self, document_id: DocumentId, from: &PeerId, message: Message) {
        let Message::Ephemeral {
            sender_id,
            count,
            session_id,
            data,
            ..
        } = message
        else {
            return;
        };
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        if state
            .ephemeral_seen
            .get(&session_id)
            .is_some_and(|seen| count <= *seen)
        {
            return;
        }
        state.ephemeral_seen.insert(session_id.clone(), count);
        let targets: Vec<PeerId> = state.peers.keys().filter(|p| *p != from).cloned().collect();
        for to in targets {
            self.effects.push(Effect::Send {
                message: Message::Ephemeral {
                    sender_id: sender_id.clone(),
                    target_id: to.clone(),
                    count,
                    session_id: session_id.clone(),
                    document_id,
                    data: data.clone(),
                },
                to,
            });
        }
    }

    fn check_unavailable(&mut self, document_id: DocumentId) {
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        if !state.doc.get_heads().is_empty() || state.told_unavailable {
            return;
        }
        let announce: Vec<&PeerId> = self
            .peers
            .iter()
            .filter(|(_, role)| **role == PeerRole::Announce)
            .map(|(peer, _)| peer)
            .collect();
        let all_said_no = !announce.is_empty()
            && announce
                .iter()
                .all(|peer| state.peers.get(*peer).is_some_and(|p| p.unavailable));
        if all_said_no {
            state.told_unavailable = true;
            self.effects.push(Effect::Unavailable { document_id });
        }
    }

    /// Turns whatever changed since `before` into one storage append.
    fn after_change(&mut self, document_id: DocumentId, before: Vec<ChangeHash>) {
        let task = TaskId(self.next_task + 1);
        let (now, retry) = (self.now, self.config.retry_after_ms);
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        let heads = state.doc.get_heads();
        if heads == before || heads == state.chunked_heads {
            return;
        }
        // Everyone who asked about this document hears of the change, even if the document
        // was evicted (and their sync state with it) since they asked.
        let interested = self
            .subscribers
            .get(&document_id)
            .into_iter()
            .flatten()
            .chain(
                self.peers
                    .iter()
                    .filter(|(_, role)| **role == PeerRole::Announce)
                    .map(|(peer, _)| peer),
            );
        for peer in interested {
            state
                .peers
                .entry(peer.clone())
                .or_insert_with(|| PeerDoc::new(now, retry));
        }
        // Each chunk holds every change since the last durable point, not only those since
        // the previous chunk: appends may land in any order and a crash may keep a later one
        // without an earlier one, so every chunk must load on top of what is durable.
        let chunk = state.doc.save_after(&state.durable_heads);
        state.chunked_heads = heads.clone();
        state.told_unavailable = false;
        self.next_task += 1;
        state.appends.push_back(PendingAppend {
            task,
            heads,
            chunk: chunk.clone(),
            done: false,
            failed: false,
        });
        self.effects.push(Effect::Storage(StorageTask::Append {
            task,
            document_id,
            chunk,
        }));
    }

    /// Generates sync messages for every peer of the document, unless changes are still on
    /// their way to storage (then this runs again when they are durable).
    fn flush_document(&mut self, document_id: DocumentId) {
        let now = self.now;
        let sender = self.config.peer_id.clone();
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        if !state.appends.is_empty() || state.poisoned {
            return;
        }
        let heads = state.doc.get_heads();
        let has_copy = !heads.is_empty();
        for (request, client_heads, refused) in std::mem::take(&mut state.pending_deltas) {
            let missing = state.doc.get_missing_deps(&client_heads);
            let known: Vec<ChangeHash> = client_heads
                .iter()
                .filter(|head| !missing.contains(head))
                .copied()
                .collect();
            let changes = if known.is_empty() {
                state.doc.save()
            } else if known == heads {
                Vec::new()
            } else {
                // Individual changes carry a header each and are not compressed together;
                // past a few, the whole document in Automerge's columnar format is often
                // smaller. Both load the same way on the client.
                let after = state.doc.save_after(&known);
                if after.len() > SAVE_AFTER_COMPARE_BYTES {
                    let whole = state.doc.save();
                    if whole.len() < after.len() {
                        whole
                    } else {
                        after
                    }
                } else {
                    after
                }
            };
            self.effects.push(Effect::DeltaReply {
                request,
                document_id,
                outcome: DeltaOutcome::Synced {
                    heads: heads.clone(),
                    changes,
                    missing,
                    refused,
                },
            });
        }
        let mut failed = Vec::new();
        for (peer, peer_doc) in state.peers.iter_mut() {
            if !has_copy && peer_doc.unavailable {
                continue;
            }
            // A reader holding refused changes hears from us only when our heads move or it
            // asks for something (a bloom filter false positive makes it ask).
            if peer_doc.refused_heads.is_some()
                && peer_doc.sync.last_sent_heads == heads
                && peer_doc.sync.their_need.as_ref().is_none_or(Vec::is_empty)
            {
                continue;
            }
            // A peer's sync state holds what it told us (its heads, needs, bloom filters), and
            // automerge may panic on it: that costs this peer its sync, not the runtime its task.
            let doc = &state.doc;
            let sync_state = &mut peer_doc.sync;
            let generated =
                catch_unwind(AssertUnwindSafe(|| doc.generate_sync_message(sync_state)));
            let Ok(generated) = generated else {
                failed.push(peer.clone());
                continue;
            };
            if let Some(message) = generated {
                peer_doc.last_activity = now;
                let data = message.encode();
                // `request` asks a peer for a copy; a peer that is offering one gets `sync`.
                let peer_has_copy = peer_doc
                    .sync
                    .their_heads
                    .as_ref()
                    .is_some_and(|heads| !heads.is_empty());
                let message = if has_copy || peer_has_copy {
                    Message::Sync {
                        sender_id: sender.clone(),
                        target_id: peer.clone(),
                        document_id,
                        data,
                    }
                } else {
                    Message::Request {
                        sender_id: sender.clone(),
                        target_id: peer.clone(),
                        document_id,
                        data,
                    }
                };
                self.effects.push(Effect::Send {
                    to: peer.clone(),
                    message,
                });
            }
        }
        for peer in failed {
            state.peers.remove(&peer);
            self.effects.push(Effect::PeerError {
                peer,
                document_id: Some(document_id),
                error: "could not answer your sync message (automerge failed on it)".into(),
            });
        }
    }

    fn storage_result(&mut self, result: StorageResult) {
        match result {
            StorageResult::Loaded {
                task,
                document_id,
                data,
            } => self.loaded(task, document_id, data.map(Ok)),
            StorageResult::Appended { task, document_id } => self.appended(document_id, task),
            StorageResult::Failed {
                task,
                document_id,
                reason,
            } => match self.docs.get_mut(&document_id) {
                Some(DocSlot::Loading { task: loading, .. }) if *loading == task => {
                    self.loaded(task, document_id, Some(Err(reason)))
                }
                Some(DocSlot::Ready(state)) => {
                    if let Some(append) = state.appends.iter_mut().find(|a| a.task == task) {
                        append.failed = true;
                    }
                    self.effects.push(Effect::StorageFailed {
                        document_id,
                        reason,
                    });
                }
                _ => {}
            },
        }
    }

    fn loaded(
        &mut self,
        task: TaskId,
        document_id: DocumentId,
        data: Option<Result<Vec<u8>, String>>,
    ) {
        let queued = match self.docs.get_mut(&document_id) {
            Some(DocSlot::Loading {
                task: loading,
                queued,
            }) if *loading == task => std::mem::take(queued),
            _ => return,
        };
        let actor = self.new_actor();
        let doc = match data {
            None => Ok(Automerge::new()),
            Some(Err(reason)) => Err(reason),
            Some(Ok(bytes)) => match catch_unwind(|| Automerge::load(&bytes)) {
                Ok(Ok(doc)) => Ok(doc),
                Ok(Err(error)) => Err(format!("stored document does not load: {error}")),
                Err(_) => Err("stored document does not load (automerge panicked)".into()),
            },
        };
        let doc = match doc {
            Ok(doc) => doc.with_actor(actor),
            Err(reason) => {
                self.effects.push(Effect::StorageFailed {
                    document_id,
                    reason: reason.clone(),
                });
                self.docs.insert(document_id, DocSlot::Failed { reason });
                for queued in queued {
                    match queued {
                        Queued::Received { from, message, .. } => {
                            if matches!(message, Message::Sync { .. } | Message::Request { .. }) {
                                self.send_unavailable(document_id, from);
                            }
                        }
                        Queued::Delta(delta) => self.effects.push(Effect::DeltaReply {
                            request: delta.request,
                            document_id,
                            outcome: DeltaOutcome::Failed(UNREADABLE.to_owned()),
                        }),
                        Queued::Wake => {}
                    }
                }
                return;
            }
        };
        let heads = doc.get_heads();
        let exists = !heads.is_empty();
        self.docs.insert(
            document_id,
            DocSlot::Ready(Box::new(DocState::new(doc, heads, self.now))),
        );
        self.effects.push(Effect::Ready {
            document_id,
            exists,
        });
        self.offer_to_announce_peers(document_id);
        for queued in queued {
            match queued {
                Queued::Received {
                    from,
                    message,
                    may_write,
                } => self.received(from, message, may_write),
                Queued::Delta(delta) => self.delta(delta),
                Queued::Wake => self.offer_to_subscribers(document_id),
            }
        }
    }

    fn appended(&mut self, document_id: DocumentId, task: TaskId) {
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        if let Some(append) = state.appends.iter_mut().find(|a| a.task == task) {
            append.done = true;
            append.failed = false;
        }
        let mut durable = None;
        while state.appends.front().is_some_and(|a| a.done) {
            durable = state.appends.pop_front().map(|a| a.heads);
        }
        if let Some(heads) = durable {
            state.durable_heads.clone_from(&heads);
            self.effects.push(Effect::Durable { document_id, heads });
        }
        if state.appends.is_empty() {
            if state.poisoned {
                self.reload_if_poisoned(document_id);
            } else {
                self.flush_document(document_id);
            }
        }
    }

    /// A held change (see `DocState::held`) is malformed, and the message at hand would make
    /// automerge apply it: reload the document from storage, which drops automerge's queue
    /// (nothing held was ever stored), then handle `requeue` again. The sender of the held
    /// change hears why, if still connected.
    fn drop_held_changes(
        &mut self,
        document_id: DocumentId,
        culprit: PeerId,
        reason: String,
        requeue: Option<Queued>,
    ) {
        let Some(DocSlot::Ready(state)) = self.docs.get_mut(&document_id) else {
            return;
        };
        state.poisoned = true;
        state.peers.remove(&culprit);
        state.queued.extend(requeue);
        if self.peers.contains_key(&culprit) {
            self.effects.push(Effect::PeerError {
                peer: culprit,
                document_id: Some(document_id),
                error: format!(
                    "malformed sync message (sent earlier, held for its dependencies): {reason}"
                ),
            });
        }
        self.reload_if_poisoned(document_id);
    }

    fn reload_if_poisoned(&mut self, document_id: DocumentId) {
        let queued = match self.docs.get_mut(&document_id) {
            Some(DocSlot::Ready(state)) if state.poisoned && state.appends.is_empty() => {
                std::mem::take(&mut state.queued)
            }
            _ => return,
        };
        self.start_load(document_id, queued);
    }

    fn tick(&mut self) {
        let now = self.now;
        let max_retry = self.config.max_retry_after_ms;
        let mut to_flush = Vec::new();
        let mut retried_appends = Vec::new();
        for (document_id, slot) in self.docs.iter_mut() {
            let DocSlot::Ready(state) = slot else {
                continue;
            };
            for append in state.appends.iter_mut().filter(|a| a.failed) {
                append.failed = false;
                retried_appends.push(StorageTask::Append {
                    task: append.task,
                    document_id: *document_id,
                    chunk: append.chunk.clone(),
                });
            }
            if !state.appends.is_empty() || state.poisoned {
                continue;
            }
            let heads = state.doc.get_heads();
            let mut retry = false;
            for peer_doc in state.peers.values_mut() {
                let converged = peer_doc.sync.their_heads.as_deref() == Some(&heads);
                let hopeless =
                    (heads.is_empty() && peer_doc.unavailable) || peer_doc.refused_heads.is_some();
                if converged || hopeless {
                    continue;
                }
                if now.since(peer_doc.last_activity) >= peer_doc.retry_after_ms {
                    let read_only = peer_doc.sync.read_only;
                    peer_doc.sync = sync::State::new();
                    peer_doc.sync.read_only = read_only;
                    peer_doc.last_activity = now;
                    peer_doc.retry_after_ms = (peer_doc.retry_after_ms * 2).min(max_retry);
                    retry = true;
                }
            }
            if retry {
                to_flush.push(*document_id);
            }
        }
        self.effects
            .extend(retried_appends.into_iter().map(Effect::Storage));
        for document_id in to_flush {
            self.flush_document(document_id);
        }
        self.docs
            .retain(|_, slot| !matches!(slot, DocSlot::Failed { .. }));
        self.evict();
    }

    fn evict(&mut self) {
        let now = self.now;
        let idle_after = self.config.evict_idle_after_ms;
        // Unheld: no peer has synced it since its last one left (a peer that comes back
        // for it reloads it).
        let mut evictable: Vec<(Millis, DocumentId, bool)> = self
            .docs
            .iter()
            .filter_map(|(id, slot)| match slot {
                DocSlot::Ready(state) if state.can_evict() => {
                    Some((state.last_used, *id, state.unheld && state.peers.is_empty()))
                }
                _ => None,
            })
            .collect();
        evictable.sort();
        let over_budget = self
            .docs
            .len()
            .saturating_sub(self.config.max_loaded_documents);
        for (index, (last_used, document_id, unheld)) in evictable.into_iter().enumerate() {
            if index < over_budget || unheld || now.since(last_used) >= idle_after {
                self.docs.remove(&document_id);
            }
        }
    }
}

/// What a batch client hears about a document whose stored copy does not load: an error, so
/// that it keeps its pending changes and says the sync is incomplete. (Telling it the document
/// does not exist would make it give up on them.) The details go to the server's log, through
/// [`Effect::StorageFailed`].
const UNREADABLE: &str = "the server could not read its stored copy of this document \
     (damaged storage; its operator can run `passerelle-server check`); your changes are kept \
     and will be sent again";

/// The most probes a peer's bloom filter may ask for (automerge uses 7).
const MAX_BLOOM_PROBES: u64 = 64;

/// Refuses the bloom filters that automerge 0.12 cannot survive: one with entries but no bits
/// divides by zero, and one asking for billions of probes allocates and loops for each of
/// them, when we generate our next message for this peer (outside any guard).
fn check_blooms(message: sync::Message) -> Result<sync::Message, String> {
    for have in &message.have {
        // An empty filter (no entries) has no bytes at all.
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue;
        }
        let mut rest = &bytes[..];
        let mut header = [0u64; 3];
        for field in &mut header {
            *field = read_leb128(&mut rest).ok_or("a bloom filter's header is truncated")?;
        }
        let [entries, _bits_per_entry, probes] = header;
        if entries > 0 && rest.is_empty() {
            return Err("a bloom filter has entries but no bits".into());
        }
        if probes > MAX_BLOOM_PROBES {
            return Err(format!(
                "a bloom filter asks for {probes} probes; at most {MAX_BLOOM_PROBES}"
            ));
        }
    }
    Ok(message)
}

/// One unsigned LEB128 number (at most 10 bytes), advancing `input`.
fn read_leb128(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (index, byte) in input.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Some(value);
        }
    }
    None
}

/// The hashes of the changes `doc` holds beyond `before`.
fn hashes_since(doc: &Automerge, before: &[ChangeHash]) -> Vec<ChangeHash> {
    doc.get_changes(before)
        .iter()
        .map(|change| change.hash())
        .collect()
}

/// A document that had nothing, after a sync message that sent it whole: applied by automerge
/// in a copy and checked (`DocState::try_new_document`).
struct NewDocument {
    doc: Automerge,
    sync: sync::State,
    /// The changes it now has, oldest first.
    hashes: Vec<ChangeHash>,
}

impl DocState {
    /// The usual path for a message with changes reads them twice: once to check them
    /// (`validate::check_incoming`, which loads a whole-document chunk on its own), once when
    /// automerge applies them. For the message that creates a document (no changes here yet,
    /// none held, one whole-document chunk), apply it first, in a copy of the empty document
    /// and of the peer's sync state, then check what automerge made of it: the chunk is read
    /// once. `None`: not such a message, or automerge failed on it; take the usual path, which
    /// refuses or fails it exactly as before.
    fn try_new_document(
        state: &DocState,
        from: &PeerId,
        message: &sync::Message,
        changes: &[u8],
        retry_after_ms: u64,
    ) -> Option<Result<NewDocument, String>> {
        if !state.held.is_empty()
            || !state.doc.get_heads().is_empty()
            || !validate::is_one_document_chunk(changes)
        {
            return None;
        }
        let mut sync = match state.peers.get(from) {
            Some(peer_doc) => peer_doc.sync.clone(),
            None => PeerDoc::new(Millis(0), retry_after_ms).sync,
        };
        // What `apply_received` sets before applying, for a peer that may write.
        sync.read_only = false;
        let mut doc = state.doc.clone();
        let applied = catch_unwind(AssertUnwindSafe(|| {
            doc.receive_sync_message(&mut sync, message.clone())
        }));
        if !matches!(applied, Ok(Ok(()))) {
            return None;
        }
        Some(validate::check_new_document(&doc)?.map(|hashes| NewDocument { doc, sync, hashes }))
    }

    fn new(doc: Automerge, chunked_heads: Vec<ChangeHash>, now: Millis) -> Self {
        Self {
            doc,
            durable_heads: chunked_heads.clone(),
            chunked_heads,
            appends: VecDeque::new(),
            peers: BTreeMap::new(),
            poisoned: false,
            queued: Vec::new(),
            last_used: now,
            ephemeral_seen: BTreeMap::new(),
            told_unavailable: false,
            pending_deltas: Vec::new(),
            held: Vec::new(),
            doc_ops: DocOps::default(),
            unheld: false,
        }
    }

    /// Keeps `wait`, changes from `from` automerge now holds for their dependencies, and
    /// forgets the held changes automerge has applied.
    fn hold(
        held: &mut Vec<HeldChange>,
        doc: &Automerge,
        from: &PeerId,
        wait: Vec<automerge::Change>,
    ) {
        held.extend(wait.into_iter().map(|change| HeldChange {
            from: from.clone(),
            change,
        }));
        held.retain(|held| doc.get_change_meta_by_hash(&held.change.hash()).is_none());
    }

    /// Nothing would be lost or stalled by dropping this document from memory.
    fn can_evict(&self) -> bool {
        if !self.appends.is_empty()
            || self.poisoned
            || !self.queued.is_empty()
            || !self.pending_deltas.is_empty()
        {
            return false;
        }
        let heads = self.doc.get_heads();
        self.peers
            .values()
            .all(|peer_doc| peer_doc.sync.their_heads.as_deref() == Some(&heads))
    }
}

//! [`Replica`]: the local, offline-first copy of a user's documents, in a sled directory.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transaction;
use automerge::{Automerge, AutomergeError, ChangeHash, ObjType, ROOT, ReadDoc};
use passerelle_core::{
    DeltaOutcome, DeltaRequest, DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis,
    PeerId, PeerRole,
};
use passerelle_store::{Batch, DocStore, SledStorage, Storage, StorageError, StorageKey};
use serde_json::Value as Json;

use crate::doc_path::{resolve_list, resolve_slot};
use crate::json::{self, json_kind};
use crate::sync_records;
use crate::{ClientError, DocPath, DocSummary, ServerConfig, SyncStatus};

// The first component of the replica's own records in its store, `CLIENT_PREFIX`
// ("client"), is not a document id (those are at least 20 characters) and not one of the
// words the store reserves (`docs`, `auth`, `acl`). The sync records are listed in
// `sync_records`.
/// `["client", "peer-id"]`: the replica's peer id, UTF-8.
const PEER_ID_RECORD: &str = "peer-id";
/// `["client", "server"]`: the [`ServerConfig`], as JSON `{url, token}`.
const SERVER_RECORD: &str = "server";
/// The document metadata entry where replicas of the first version kept the heads the
/// server last confirmed (JSON list of hex hashes); read when `client/confirmed/DOC` is
/// absent. They now live with the other sync records, written in one batch per request.
const CONFIRMED_HEADS_META: &str = "confirmed-heads";
/// The file in the replica directory rewritten after every local edit: a cheap signal for a
/// running `passerelle watch` (another process) that there is something to send. A hint
/// only; the durable record is the `dirty` set.
pub(crate) const EDIT_HINT_FILE: &str = "last-edit";
/// The peer id the server's changes are applied as (see [`Replica::apply_remote`]).
const SERVER_PEER: &str = "server";
/// The subdirectory of the replica directory that holds the sled database, so that the
/// replica directory can hold other files later (logs, a lock for a background sync).
const STORE_DIRECTORY: &str = "store";
/// The peer id of the in-process peer that [`Replica::import_automerge`] syncs from.
const IMPORT_PEER: &str = "local-import";
/// How long [`Replica::open`] waits for another holder of the replica directory to let go
/// before it reports [`ClientError::ReplicaBusy`].
const LOCK_WAIT: Duration = Duration::from_millis(1500);
/// How many message exchanges an import may take; automerge's sync converges in a handful.
const MAX_IMPORT_ROUNDS: usize = 64;
/// At most this many documents in memory: a sync pass over thousands of documents ticks
/// the engine between requests, which evicts the least recently used.
const MAX_LOADED_DOCUMENTS: usize = 1_000;

/// A local replica: every document the user holds, in a sled directory, with the sync
/// [`Engine`] that keeps them.
///
/// Everything works with no network at all. **Every change is durable before the call that
/// made it returns**: the engine turns the change into a storage append, the replica runs it
/// (sled applies it and fsyncs), and the call returns only once the engine reports
/// [`Effect::Durable`] for the change's heads; otherwise it fails with
/// [`ClientError::NotSaved`]. A `kill -9` after a call returned loses nothing.
///
/// The engine's storage tasks run synchronously, on the calling thread: the CLI is a
/// short-lived process that does one thing and must not return before its change is on disk,
/// so waiting inline is both the simplest and the exact behaviour wanted, and there is no
/// socket to keep serving meanwhile. Syncing is synchronous too ([`Replica::sync`], over a
/// blocking [`Transport`](crate::Transport)); the long-lived [`SyncLoop`](crate::SyncLoop)
/// opens the replica for each pass and runs only its long poll on a thread of its own.
///
/// Changes received from the server go through the engine like any peer's (see
/// `apply_remote`): applied, appended, durable before the heads the server confirmed are
/// recorded. Every local change first marks its document `dirty` (see `sync_records`), so
/// a sync pass loads only the documents that changed.
///
/// Each opening loads documents with a fresh Automerge actor id (the engine's invariant: a
/// reloaded document never reuses an actor, so a crash cannot produce two different changes
/// with the same actor and sequence number). The replica's [`PeerId`] is stored on first
/// open and kept across runs; the engine's random seed is not.
///
/// One process at a time: sled locks the directory, and a second open waits briefly (see
/// `open_store`) and then fails with [`ClientError::ReplicaBusy`].
pub struct Replica {
    /// `None` for a replica opened on a given storage ([`Replica::open_with_storage`]).
    directory: Option<PathBuf>,
    storage: Arc<dyn Storage>,
    docs: DocStore,
    engine: Engine,
    /// The engine's clock.
    clock: Clock,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("directory", &self.directory)
            .field("docs", &self.docs)
            .field("engine", &self.engine)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Where the engine's time comes from: the time since the replica was opened, or a clock
/// given by a simulation.
enum Clock {
    Since(Instant),
    Given(Box<dyn Fn() -> Millis + Send + Sync>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Since(started) => f.debug_tuple("Since").field(started).finish(),
            Self::Given(_) => f.write_str("Given"),
        }
    }
}

/// How [`Replica::open_with_storage`] sets up a replica that a simulation must replay
/// exactly.
pub struct ReplicaSetup {
    /// Seeds the engine (actor ids, new document ids) and, on first open, the peer id.
    pub seed: u64,
    /// The engine's clock, in milliseconds (simulated time).
    pub clock: Box<dyn Fn() -> Millis + Send + Sync>,
}

impl std::fmt::Debug for ReplicaSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaSetup")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What running a batch of effects to completion produced, besides storage work.
#[derive(Debug, Default)]
struct Settled {
    /// `Effect::Ready`: the documents now in memory, and whether they exist.
    ready: BTreeMap<DocumentId, bool>,
    /// `Effect::Durable`: the last durable heads reported per document.
    durable: BTreeMap<DocumentId, Vec<ChangeHash>>,
    /// `Effect::StorageFailed`: the last failure per document.
    failed: BTreeMap<DocumentId, String>,
    /// `Effect::Send`: messages for peers (only the in-process import peer, for now).
    sent: Vec<(PeerId, Message)>,
    /// `Effect::PeerError`: what a peer sent that the engine could not use.
    peer_errors: Vec<String>,
    /// `Effect::DeltaReply`: the outcome of changes from the server, per document.
    deltas: BTreeMap<DocumentId, DeltaOutcome>,
}

impl Replica {
    /// Opens the replica in `directory`, creating it (and the directory) if needed.
    pub fn open(directory: impl AsRef<Path>) -> Result<Self, ClientError> {
        let directory = directory.as_ref().to_path_buf();
        fs::create_dir_all(&directory).map_err(|source| ClientError::CreateDirectory {
            path: directory.clone(),
            source,
        })?;
        let storage: Arc<dyn Storage> = Arc::new(open_store(&directory)?);
        let peer_id = load_or_create_peer_id(storage.as_ref(), PeerId::random)?;
        let mut replica = Self::with_engine(storage, EngineConfig::new(peer_id));
        replica.directory = Some(directory);
        replica.clock = Clock::Since(Instant::now());
        Ok(replica)
    }

    /// A replica over `storage` instead of a directory: no lock, no edit hint file, and
    /// randomness and time taken from `setup`, so that a simulation (`tests/sim.rs`) replays
    /// exactly and can crash the storage under it. The storage must keep the contract of
    /// [`Storage`] (a write is durable once `apply` returns).
    pub fn open_with_storage(
        storage: Arc<dyn Storage>,
        setup: ReplicaSetup,
    ) -> Result<Self, ClientError> {
        let ReplicaSetup { seed, clock } = setup;
        let peer_id = load_or_create_peer_id(storage.as_ref(), || {
            format!("peer-{seed:016x}")
                .parse()
                .expect("a valid peer id")
        })?;
        let mut config = EngineConfig::new(peer_id);
        config.seed = seed;
        let mut replica = Self::with_engine(storage, config);
        replica.clock = Clock::Given(clock);
        Ok(replica)
    }

    fn with_engine(storage: Arc<dyn Storage>, mut config: EngineConfig) -> Self {
        config.max_loaded_documents = MAX_LOADED_DOCUMENTS;
        Self {
            directory: None,
            docs: DocStore::new(Arc::clone(&storage)),
            storage,
            engine: Engine::new(config),
            clock: Clock::Since(Instant::now()),
        }
    }

    /// The replica directory (`None` for a replica opened on a given storage).
    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_deref()
    }

    /// The replica's peer id, the same on every run.
    pub fn peer_id(&self) -> &PeerId {
        self.engine.peer_id()
    }

    /// Creates a document whose root holds the fields of `object` (a JSON object; see the
    /// `json` module for how values map), durably, and returns its id.
    pub fn create(&mut self, object: &Json) -> Result<DocumentId, ClientError> {
        let Json::Object(fields) = object else {
            return Err(ClientError::NotAnObject {
                found: json_kind(object),
            });
        };
        let now = self.now();
        let (document_id, effects) = self.engine.create_document(now);
        // Before anything of it is stored: see `sync_records` (dirty before the change).
        sync_records::mark_dirty(self.storage.as_ref(), &document_id)?;
        let before = Vec::new();
        self.settle_change(document_id, &before, effects)?;
        self.change_loaded(document_id, |tx| json::write_fields(tx, &ROOT, fields))?;
        self.hint_edit();
        Ok(document_id)
    }

    /// The document as JSON (see the `json` module for how values map).
    pub fn get_json(&mut self, document_id: DocumentId) -> Result<Json, ClientError> {
        let doc = self.document(document_id)?;
        Ok(json::to_json(doc, &ROOT, ObjType::Map))
    }

    /// Sets the field or list item at `path` to `value`, durably. Every segment but the last
    /// must exist; the last names a map key (new or existing) or an existing list index.
    pub fn set(
        &mut self,
        document_id: DocumentId,
        path: &DocPath,
        value: &Json,
    ) -> Result<(), ClientError> {
        let slot = resolve_slot(self.document(document_id)?, path)?;
        sync_records::mark_dirty(self.storage.as_ref(), &document_id)?;
        self.change_loaded(document_id, |tx| {
            json::put(tx, &slot.parent, slot.prop.clone(), value)
        })?;
        self.hint_edit();
        Ok(())
    }

    /// Appends `value` to the list at `path`, durably, and returns the new item's index.
    pub fn append(
        &mut self,
        document_id: DocumentId,
        path: &DocPath,
        value: &Json,
    ) -> Result<usize, ClientError> {
        let list = resolve_list(self.document(document_id)?, path)?;
        sync_records::mark_dirty(self.storage.as_ref(), &document_id)?;
        let index = self.change_loaded(document_id, |tx| {
            let index = automerge::ReadDoc::length(tx, &list);
            json::insert(tx, &list, index, value)?;
            Ok(index)
        })?;
        self.hint_edit();
        Ok(index)
    }

    /// Every document in the replica, ordered by id, with its type and title. A document that
    /// cannot be read is listed with the reason in [`DocSummary::problem`].
    pub fn list(&mut self) -> Result<Vec<DocSummary>, ClientError> {
        let mut summaries = Vec::new();
        for document_id in self.docs.list_documents()? {
            match self.document(document_id) {
                Ok(doc) => summaries.push(DocSummary::of(document_id, doc)),
                // A marker with nothing loadable under it (metadata only): not a document
                // the user holds.
                Err(ClientError::UnknownDocument(_)) => {}
                Err(error) => {
                    summaries.push(DocSummary::unreadable(document_id, error.to_string()))
                }
            }
        }
        Ok(summaries)
    }

    /// The whole document in Automerge's binary format (`Automerge::save`), which any
    /// Automerge implementation loads.
    pub fn export_automerge(&mut self, document_id: DocumentId) -> Result<Vec<u8>, ClientError> {
        Ok(self.document(document_id)?.save())
    }

    /// Merges a document in Automerge's binary format (from [`Replica::export_automerge`] or
    /// any Automerge implementation) into the document `document_id`, creating it if the
    /// replica does not hold it. Durable when this returns.
    ///
    /// The bytes are not written to storage directly: they are loaded into an in-process
    /// peer that syncs with the engine through the ordinary sync protocol, so the changes go
    /// through the same path (applied, appended, made durable) as changes from a server.
    pub fn import_automerge(
        &mut self,
        document_id: DocumentId,
        bytes: &[u8],
    ) -> Result<(), ClientError> {
        let mut source =
            Automerge::load(bytes).map_err(|e| ClientError::InvalidAutomerge(e.to_string()))?;
        let wanted = source.get_heads();
        if wanted.is_empty() {
            return Err(ClientError::InvalidAutomerge(
                "it holds no change".to_owned(),
            ));
        }
        let peer: PeerId = IMPORT_PEER.parse().expect("a valid peer id");
        sync_records::mark_dirty(self.storage.as_ref(), &document_id)?;
        let now = self.now();
        let effects = self.engine.handle(
            now,
            Event::PeerConnected {
                peer: peer.clone(),
                role: PeerRole::OnRequest,
            },
        );
        self.settle(effects);
        let outcome = self.sync_from(&mut source, &peer, document_id);
        let now = self.now();
        let effects = self
            .engine
            .handle(now, Event::PeerDisconnected { peer: peer.clone() });
        self.settle(effects);
        outcome?;
        let doc = self.document(document_id)?;
        if let Some(missing) = wanted.iter().find(|h| doc.get_change_by_hash(h).is_none()) {
            return Err(ClientError::NotSaved {
                document_id,
                reason: format!("the import did not converge: change {missing} is missing"),
            });
        }
        if !self.engine.is_durable(&document_id) {
            return Err(ClientError::NotSaved {
                document_id,
                reason: "the imported changes are not all durable".to_owned(),
            });
        }
        self.hint_edit();
        Ok(())
    }

    /// Records the heads the server confirmed holding for this document (the sync code calls
    /// it; durable when this returns).
    pub fn record_confirmed_heads(
        &self,
        document_id: DocumentId,
        heads: &[ChangeHash],
    ) -> Result<(), ClientError> {
        let mut batch = Batch::new();
        sync_records::put_confirmed(&mut batch, &document_id, heads);
        self.storage.apply(batch)?;
        Ok(())
    }

    /// The heads the server last confirmed for this document, if it ever did.
    pub fn confirmed_heads(
        &self,
        document_id: DocumentId,
    ) -> Result<Option<Vec<ChangeHash>>, ClientError> {
        if let Some(heads) = sync_records::confirmed(self.storage.as_ref(), &document_id)? {
            return Ok(Some(heads));
        }
        let Some(value) = self.docs.get_meta(&document_id, CONFIRMED_HEADS_META)? else {
            return Ok(None);
        };
        let key = StorageKey::try_new([
            document_id.to_string().as_str(),
            "meta",
            CONFIRMED_HEADS_META,
        ])?;
        sync_records::decode_heads(&key, &value).map(Some)
    }

    /// Where the document stands with the server: see [`SyncStatus`].
    pub fn sync_status(&mut self, document_id: DocumentId) -> Result<SyncStatus, ClientError> {
        let confirmed_heads = self.confirmed_heads(document_id)?;
        let doc = self.document(document_id)?;
        let pending_changes = match &confirmed_heads {
            None => doc.get_changes(&[]).len(),
            Some(confirmed) => {
                // Heads the server holds and we do not (yet) are not ours to send: count
                // what our history adds to the part of theirs that we know.
                let known: Vec<ChangeHash> = confirmed
                    .iter()
                    .filter(|h| doc.get_change_by_hash(h).is_some())
                    .copied()
                    .collect();
                doc.get_changes(&known).len()
            }
        };
        let heads = doc.get_heads();
        let rejection = sync_records::rejection(self.storage.as_ref(), &document_id)?;
        Ok(SyncStatus {
            document_id,
            heads,
            confirmed_heads,
            pending_changes,
            rejection,
        })
    }

    /// [`Replica::sync_status`] of every document the replica holds, ordered by id.
    pub fn sync_statuses(&mut self) -> Result<Vec<SyncStatus>, ClientError> {
        let mut statuses = Vec::new();
        for document_id in self.docs.list_documents()? {
            match self.sync_status(document_id) {
                Ok(status) => statuses.push(status),
                Err(ClientError::UnknownDocument(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(statuses)
    }

    /// Stores the server to sync with and the token to present (durable when this returns).
    /// Nothing is contacted: this works offline.
    ///
    /// Configuring a different server URL than before makes the replica forget what the old
    /// server confirmed: every document is sent in full at the next sync.
    pub fn configure_server(&self, config: &ServerConfig) -> Result<(), ClientError> {
        let previous = self.server().ok().flatten();
        if previous.is_some_and(|previous| previous.url() != config.url()) {
            sync_records::forget_server(self.storage.as_ref())?;
        }
        let value = serde_json::json!({
            "url": config.url().as_str(),
            "token": config.token(),
        });
        let mut batch = Batch::new();
        batch.put(
            client_key(SERVER_RECORD),
            serde_json::to_vec(&value).expect("JSON serialises"),
        );
        self.storage.apply(batch)?;
        Ok(())
    }

    /// The server configured with [`Replica::configure_server`], if any.
    pub fn server(&self) -> Result<Option<ServerConfig>, ClientError> {
        let key = client_key(SERVER_RECORD);
        let Some(value) = self.storage.get(&key)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| ClientError::CorruptRecord {
            key: key.to_string(),
            reason,
        };
        let value: Json = serde_json::from_slice(&value).map_err(|e| corrupt(e.to_string()))?;
        let (Some(url), Some(token)) = (value["url"].as_str(), value["token"].as_str()) else {
            return Err(corrupt("expected {url, token}".to_owned()));
        };
        ServerConfig::new(url, token)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    /// The store, for the sync records.
    pub(crate) fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// Every document with something stored.
    pub(crate) fn stored_documents(&self) -> Result<Vec<DocumentId>, ClientError> {
        Ok(self.docs.list_documents()?)
    }

    /// The document if the replica holds it, `None` if it does not.
    pub(crate) fn document_if_any(
        &mut self,
        document_id: DocumentId,
    ) -> Result<Option<&Automerge>, ClientError> {
        match self.load(document_id) {
            Ok(()) => Ok(self.engine.document(&document_id)),
            Err(ClientError::UnknownDocument(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Applies changes from the server (`save_after` or `save` bytes) through the engine,
    /// exactly as changes from any peer: applied, appended, durable when this returns `Ok`.
    /// `Ok(false)` when nothing of them could be applied (they build on changes this replica
    /// lacks); the caller then asks for the whole document.
    pub(crate) fn apply_remote(
        &mut self,
        document_id: DocumentId,
        server_heads: Vec<ChangeHash>,
        changes: Vec<u8>,
    ) -> Result<bool, ClientError> {
        let now = self.now();
        let effects = self.engine.handle(
            now,
            Event::Delta(DeltaRequest {
                request: 0,
                from: SERVER_PEER.parse().expect("a valid peer id"),
                document_id,
                heads: server_heads,
                changes,
                may_write: true,
            }),
        );
        let settled = self.settle(effects);
        if let Some(reason) = settled.failed.get(&document_id) {
            return Err(ClientError::NotSaved {
                document_id,
                reason: reason.clone(),
            });
        }
        let applied = match settled.deltas.get(&document_id) {
            Some(DeltaOutcome::Synced { .. }) => true,
            Some(DeltaOutcome::Failed(reason)) => {
                tracing::warn!(document = %document_id, %reason, "server changes not applied");
                false
            }
            Some(DeltaOutcome::Unavailable) | None => false,
        };
        if !self.engine.is_durable(&document_id) {
            return Err(ClientError::NotSaved {
                document_id,
                reason: "storage did not confirm the changes received from the server".to_owned(),
            });
        }
        Ok(applied)
    }

    /// Erasure: drops the document from the engine and deletes every stored key of it, with
    /// `also` (the sync records about it) in the same atomic, flushed batch. Returns how many
    /// document keys were deleted. See `erasure.rs`.
    pub(crate) fn erase_local(
        &mut self,
        document_id: DocumentId,
        also: Batch,
    ) -> Result<usize, ClientError> {
        let now = self.now();
        let effects = self.engine.forget_document(now, document_id);
        self.settle(effects);
        Ok(self.docs.delete_document_with(&document_id, also)?)
    }

    /// Lets the engine evict documents past its memory budget.
    pub(crate) fn tick(&mut self) {
        let now = self.now();
        let effects = self.engine.handle(now, Event::Tick);
        self.settle(effects);
    }

    /// Rewrites the edit hint file (see [`EDIT_HINT_FILE`]); failures are only logged.
    fn hint_edit(&self) {
        let Some(directory) = &self.directory else {
            return;
        };
        let stamp = format!("{}\n", sync_records::now_ms());
        if let Err(error) = fs::write(directory.join(EDIT_HINT_FILE), stamp) {
            tracing::debug!(%error, "cannot write the edit hint file");
        }
    }

    /// The engine's clock: milliseconds since the replica was opened, or the given clock.
    fn now(&self) -> Millis {
        match &self.clock {
            Clock::Since(started) => {
                Millis(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX))
            }
            Clock::Given(clock) => clock(),
        }
    }

    /// The document, loaded from storage if it is not in memory.
    fn document(&mut self, document_id: DocumentId) -> Result<&Automerge, ClientError> {
        self.load(document_id)?;
        self.engine
            .document(&document_id)
            .ok_or_else(|| ClientError::Unreadable {
                document_id,
                reason: "the sync engine does not hold it after loading".to_owned(),
            })
    }

    /// Makes sure the document is in memory; [`ClientError::UnknownDocument`] when storage
    /// holds nothing for it.
    fn load(&mut self, document_id: DocumentId) -> Result<(), ClientError> {
        let now = self.now();
        let effects = self.engine.open(now, document_id);
        let settled = self.settle(effects);
        if let Some(reason) = settled.failed.get(&document_id) {
            return Err(ClientError::Unreadable {
                document_id,
                reason: reason.clone(),
            });
        }
        match settled.ready.get(&document_id) {
            Some(true) => Ok(()),
            Some(false) => Err(ClientError::UnknownDocument(document_id)),
            None => Err(ClientError::Unreadable {
                document_id,
                reason: "the sync engine did not finish loading it".to_owned(),
            }),
        }
    }

    /// Applies `f` to the (loaded) document as one change, and returns once it is durable.
    fn change_loaded<O>(
        &mut self,
        document_id: DocumentId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<O, AutomergeError>,
    ) -> Result<O, ClientError> {
        if !self.engine.is_durable(&document_id) {
            // An earlier append failed: the engine retries failed appends on a tick. The
            // change below is durable only once they are (durability is in order).
            let now = self.now();
            let effects = self.engine.handle(now, Event::Tick);
            self.settle(effects);
        }
        let before = self
            .engine
            .document(&document_id)
            .map(Automerge::get_heads)
            .unwrap_or_default();
        let now = self.now();
        let (output, effects) = self.engine.change(now, document_id, f)?;
        self.settle_change(document_id, &before, effects)?;
        Ok(output)
    }

    /// Runs the effects of a change, then checks the change is durable: every append of the
    /// document answered, and the last `Durable` effect naming the document's heads.
    fn settle_change(
        &mut self,
        document_id: DocumentId,
        before: &[ChangeHash],
        effects: Vec<Effect>,
    ) -> Result<(), ClientError> {
        let settled = self.settle(effects);
        if let Some(reason) = settled.failed.get(&document_id) {
            return Err(ClientError::NotSaved {
                document_id,
                reason: reason.clone(),
            });
        }
        let heads = self
            .engine
            .document(&document_id)
            .map(Automerge::get_heads)
            .unwrap_or_default();
        let covered = heads == before || settled.durable.get(&document_id) == Some(&heads);
        if !covered || !self.engine.is_durable(&document_id) {
            return Err(ClientError::NotSaved {
                document_id,
                reason: "storage did not confirm the change".to_owned(),
            });
        }
        Ok(())
    }

    /// Runs every storage task among `effects`, and those that their answers bring, until
    /// none is left; returns what else the engine said.
    fn settle(&mut self, effects: Vec<Effect>) -> Settled {
        let mut settled = Settled::default();
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Storage(task) => {
                    let result = self.docs.run(task);
                    let now = self.now();
                    queue.extend(self.engine.handle(now, Event::Storage(result)));
                }
                Effect::Ready {
                    document_id,
                    exists,
                } => {
                    settled.ready.insert(document_id, exists);
                }
                Effect::Durable { document_id, heads } => {
                    settled.durable.insert(document_id, heads);
                }
                Effect::StorageFailed {
                    document_id,
                    reason,
                } => {
                    tracing::warn!(document = %document_id, %reason, "storage failed");
                    settled.failed.insert(document_id, reason);
                }
                Effect::Send { to, message } => settled.sent.push((to, message)),
                Effect::PeerError { peer, error, .. } => {
                    settled.peer_errors.push(format!("{peer}: {error}"));
                }
                Effect::Refused { reason, .. } => settled.peer_errors.push(reason),
                Effect::DeltaReply {
                    document_id,
                    outcome,
                    ..
                } => {
                    settled.deltas.insert(document_id, outcome);
                }
                // The rest concern peers the offline replica does not have (it never
                // connects to a server yet), or are for information only. Durability rests
                // on the arms above, which are matched by name.
                other => tracing::trace!(?other, "effect not used by the offline replica"),
            }
        }
        settled
    }

    /// Syncs the engine's copy of `document_id` with `source` (an in-process peer) until
    /// neither has anything more to say.
    fn sync_from(
        &mut self,
        source: &mut Automerge,
        peer: &PeerId,
        document_id: DocumentId,
    ) -> Result<(), ClientError> {
        let mut state = sync::State::new();
        let me = self.engine.peer_id().clone();
        for _ in 0..MAX_IMPORT_ROUNDS {
            let Some(outgoing) = source.generate_sync_message(&mut state) else {
                return Ok(());
            };
            let now = self.now();
            let effects = self.engine.handle(
                now,
                Event::Received {
                    from: peer.clone(),
                    message: Message::Sync {
                        sender_id: peer.clone(),
                        target_id: me.clone(),
                        document_id,
                        data: outgoing.encode(),
                    },
                    may_write: true,
                },
            );
            let settled = self.settle(effects);
            if let Some(reason) = settled.failed.get(&document_id) {
                return Err(ClientError::NotSaved {
                    document_id,
                    reason: reason.clone(),
                });
            }
            if let Some(error) = settled.peer_errors.first() {
                return Err(ClientError::InvalidAutomerge(error.clone()));
            }
            for (to, message) in settled.sent {
                if &to != peer {
                    continue;
                }
                if let Message::Sync { data, .. } | Message::Request { data, .. } = message {
                    let incoming = sync::Message::decode(&data)
                        .map_err(|e| ClientError::InvalidAutomerge(e.to_string()))?;
                    source
                        .receive_sync_message(&mut state, incoming)
                        .map_err(|e| ClientError::InvalidAutomerge(e.to_string()))?;
                }
            }
        }
        Err(ClientError::NotSaved {
            document_id,
            reason: format!("the import did not converge in {MAX_IMPORT_ROUNDS} exchanges"),
        })
    }
}

/// Opens the sled database of the replica, waiting up to [`LOCK_WAIT`] for a process that
/// holds it to let go.
///
/// A lock can outlive its holder briefly: sled's threads release it a few milliseconds after
/// the database is dropped, and a process that forks (to spawn a command) while a lock is
/// held or probed passes it to the child until the child calls `exec`. A script that runs
/// `passerelle` commands back to back, or a test that edits and spawns, would otherwise see
/// "busy" at random.
fn open_store(directory: &Path) -> Result<SledStorage, ClientError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        match SledStorage::open(directory.join(STORE_DIRECTORY)) {
            Ok(storage) => return Ok(storage),
            Err(StorageError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(StorageError::Locked { .. }) => {
                return Err(ClientError::ReplicaBusy {
                    path: directory.to_path_buf(),
                });
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// `["client", name]`.
fn client_key(name: &str) -> StorageKey {
    sync_records::key(&[name])
}

/// The stored peer id, or a new one (`new_id`), stored before it is returned.
fn load_or_create_peer_id(
    storage: &dyn Storage,
    new_id: impl FnOnce() -> PeerId,
) -> Result<PeerId, ClientError> {
    let key = client_key(PEER_ID_RECORD);
    if let Some(bytes) = storage.get(&key)? {
        let corrupt = |reason: String| ClientError::CorruptRecord {
            key: key.to_string(),
            reason,
        };
        let text = String::from_utf8(bytes).map_err(|e| corrupt(e.to_string()))?;
        return text
            .parse()
            .map_err(|e: passerelle_core::PeerIdError| corrupt(e.to_string()));
    }
    let peer_id = new_id();
    let mut batch = Batch::new();
    batch.put(key, peer_id.as_str().as_bytes().to_vec());
    storage.apply(batch)?;
    Ok(peer_id)
}

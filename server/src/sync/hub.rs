//! [`Hub`]: the one task that owns the sync [`Engine`] and carries out its effects.
//!
//! Connections talk to the hub through a bounded channel of [`Command`]s; the hub answers
//! each connection through that connection's own bounded outbox. Storage tasks run on the
//! [`Writer`] thread, which flushes once for everything queued (group commit): sled calls
//! block on the disk, and a slow disk must never stall the sockets. Their results come back
//! to the hub as commands, so the engine itself is only ever touched by this one task.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use automerge::{ChangeHash, ReadDoc};
use passerelle_core::{
    DeltaOutcome, DeltaRequest, DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis,
    PeerId, PeerRole,
};
use passerelle_store::DocStore;
use tokio::sync::{mpsc, oneshot};
// tokio's clock (the system's, except under a paused or simulated runtime), so that a
// simulation drives the engine's time too.
use tokio::time::Instant;

use crate::auth::{AuthStore, AuthorshipRecord, Principal};
use crate::sync::feed::ChangeFeed;
use crate::sync::metrics::Metrics;
use crate::sync::writer::{Job, Writer};

/// Authorship records stated by a federation peer for changes it delivers, by change.
pub(crate) type Claimed = HashMap<crate::auth::ChangeHash, AuthorshipRecord>;

/// What the hub sends to one connection.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A protocol message for this connection's peer (its `targetId` is the engine's name
    /// for the peer: the connection rewrites it to the peer's own id).
    Message(Message),
    /// Tell the peer something went wrong, and keep the connection.
    Error(String),
    /// Tell the peer why, then close the connection.
    Close(String),
}

/// A request to the hub.
#[derive(Debug)]
pub(crate) enum Command {
    Connect {
        connection: u64,
        peer: PeerId,
        principal: Principal,
        outbox: mpsc::Sender<Outgoing>,
    },
    Disconnect {
        connection: u64,
        peer: PeerId,
    },
    Received {
        connection: u64,
        peer: PeerId,
        message: Message,
        may_write: bool,
    },
    /// The results of a group of storage tasks, durable together.
    Storage(Vec<passerelle_core::StorageResult>),
    /// One document of an HTTP batch sync; the outcome goes to `reply` once durable.
    Delta {
        delta: DeltaRequest,
        principal: Principal,
        /// Authors a federation peer stated for changes of this delta (see
        /// [`crate::federation::claims`]), recorded instead of `principal` for those changes.
        authors: Claimed,
        reply: oneshot::Sender<DeltaOutcome>,
    },
    /// Wait until every storage task has been answered, then answer.
    Drain(oneshot::Sender<()>),
    /// An HTTP batch-sync request of this peer is over.
    DeltaDone(PeerId),
    /// Erasure: drop the document from the engine with its peers' sync states, then answer
    /// once every storage task issued so far is answered (so none writes after the caller's
    /// final sweep of the document's keys).
    Forget(DocumentId, oneshot::Sender<()>),
    /// Another instance on the shared database stored the document at `heads` (`None`:
    /// unknown, check): this instance's clients must hear of it (see [`Hub::stored`]).
    Stored {
        document_id: DocumentId,
        heads: Option<Vec<ChangeHash>>,
    },
    /// Changes read from the shared storage that the in-memory document lacks.
    ClusterDelta(DeltaRequest),
    /// The shared feed started a new epoch: check every document in memory or asked about.
    Refresh,
}

/// Settings of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How often the engine ticks (retries, evictions).
    pub tick_interval: Duration,
    /// At most this many documents in memory.
    pub max_loaded_documents: usize,
    /// Evict a document untouched for this long.
    pub evict_idle_after: Duration,
    /// Messages queued for one connection before it is considered too slow and dropped.
    pub outbox_capacity: usize,
    /// Runs the storage work on the hub's own task instead of the writer thread: each group
    /// of jobs is written, flushed and answered before the hub takes its next command, and
    /// the handlers' blocking storage calls (token and ACL checks) run in place. The same
    /// durability, but the whole server waits for the disk. For deterministic simulations
    /// (`tests/sim.rs`); `false` in production.
    pub inline_storage: bool,
    /// Seeds the engine's randomness, the server's peer id and the changes feed's epoch, so
    /// that a simulation replays exactly; `None` (production): random. Each start of a
    /// server must use a different seed (the epoch tells cursors from before a restart).
    pub seed: Option<u64>,
    /// The PostgreSQL database that several instances share (the `--store` URL): the
    /// changes feed is shared through it and other instances' changes reach this one's
    /// clients ([`crate::cluster`]). `None`: this instance is alone on its store.
    pub cluster_url: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            tick_interval: Duration::from_millis(500),
            max_loaded_documents: 100,
            evict_idle_after: Duration::from_secs(10),
            outbox_capacity: 1_024,
            inline_storage: false,
            seed: None,
            cluster_url: None,
        }
    }
}

/// A handle on the hub task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    commands: mpsc::Sender<Command>,
    server_peer_id: PeerId,
    next_connection: Arc<AtomicU64>,
}

struct Connection {
    id: u64,
    principal: Principal,
    outbox: mpsc::Sender<Outgoing>,
}

struct HubTask {
    engine: Engine,
    started: Instant,
    writer: Writer,
    feed: Arc<ChangeFeed>,
    metrics: Arc<Metrics>,
    connections: HashMap<PeerId, Connection>,
    pending_storage: usize,
    drains: Vec<oneshot::Sender<()>>,
    /// Batch-sync requests waiting for their reply.
    deltas: HashMap<u64, oneshot::Sender<DeltaOutcome>>,
    next_delta: u64,
    /// Who the HTTP batch-sync peers are, for authorship (with how many requests are open).
    http_principals: HashMap<PeerId, (Principal, usize)>,
    /// Authors stated by federation peers for the changes of their open requests, per peer
    /// and document; forgotten with the peer's principal.
    claimed: HashMap<PeerId, HashMap<DocumentId, Claimed>>,
    /// Documents in memory after the last command or tick, to notice evictions.
    loaded: usize,
    /// When freed memory was last given back to the OS.
    last_trim: Instant,
    /// Whether memory may have been freed (commands handled, documents evicted) since the
    /// last trim.
    freed_since_trim: bool,
    /// The documents, read on a blocking thread for other instances' changes.
    docs: Arc<DocStore>,
    /// The hub's own queue, for work that comes back later.
    commands: mpsc::Sender<Command>,
    /// The peer that other instances' changes come from (no authorship is recorded for it).
    cluster_peer: PeerId,
}

/// How long a notice of another instance's change waits for a document being loaded.
const STORED_RETRY: Duration = Duration::from_millis(50);

/// Freed memory goes back to the OS once no command came for this long (a burst is over)...
const QUIET_BEFORE_TRIM: Duration = Duration::from_millis(150);
/// ...and not more often than this, so that a trickle of commands does not trim after each.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// Under a load that never pauses, still every so often.
const BUSY_TRIM_INTERVAL: Duration = Duration::from_secs(30);

impl Hub {
    /// Starts the hub task on the current tokio runtime, and its storage thread.
    pub(crate) fn start(
        config: HubConfig,
        docs: Arc<DocStore>,
        auth: Arc<AuthStore>,
        feed: Arc<ChangeFeed>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let server_peer_id = match config.seed {
            Some(seed) => format!("peer-{seed:016x}")
                .parse()
                .expect("a valid peer id"),
            None => PeerId::random(),
        };
        let mut engine_config = EngineConfig::new(server_peer_id.clone());
        engine_config.max_loaded_documents = config.max_loaded_documents;
        engine_config.evict_idle_after_ms = config.evict_idle_after.as_millis() as u64;
        // A client that disconnects leaves nothing in memory: its documents are evicted
        // once durable (reloading one from the store costs ~0.1 ms).
        engine_config.evict_when_unheld = true;
        if let Some(seed) = config.seed {
            engine_config.seed = seed;
        }
        let (commands, receiver) = mpsc::channel(4_096);
        let writer = if config.inline_storage {
            Writer::inline(Arc::clone(&docs), auth, Arc::clone(&metrics))
        } else {
            Writer::start(
                Arc::clone(&docs),
                auth,
                Arc::clone(&metrics),
                commands.clone(),
            )
        };
        let task = HubTask {
            engine: Engine::new(engine_config),
            started: Instant::now(),
            writer,
            feed,
            metrics,
            connections: HashMap::new(),
            pending_storage: 0,
            drains: Vec::new(),
            deltas: HashMap::new(),
            next_delta: 0,
            http_principals: HashMap::new(),
            claimed: HashMap::new(),
            loaded: 0,
            last_trim: Instant::now(),
            freed_since_trim: false,
            docs,
            commands: commands.clone(),
            cluster_peer: "cluster~sync".parse().expect("a valid peer id"),
        };
        tokio::spawn(task.run(receiver, config.tick_interval));
        Self {
            commands,
            server_peer_id,
            next_connection: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The server's own peer id, the `senderId` of everything it sends.
    pub(crate) fn server_peer_id(&self) -> &PeerId {
        &self.server_peer_id
    }

    /// A fresh connection number.
    pub(crate) fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a command; `false` when the hub is gone (the server is shutting down).
    pub(crate) async fn send(&self, command: Command) -> bool {
        self.commands.send(command).await.is_ok()
    }

    /// Runs one document of a batch sync; `None` when the hub is gone.
    pub(crate) async fn delta(
        &self,
        delta: DeltaRequest,
        principal: Principal,
    ) -> Option<DeltaOutcome> {
        self.delta_with_authors(delta, principal, Claimed::new())
            .await
    }

    /// [`Hub::delta`], recording `authors` (validated claims of a federation peer) as the
    /// authors of those of its changes they name, instead of `principal`.
    pub(crate) async fn delta_with_authors(
        &self,
        delta: DeltaRequest,
        principal: Principal,
        authors: Claimed,
    ) -> Option<DeltaOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Delta {
                delta,
                principal,
                authors,
                reply,
            })
            .await
            .ok()?;
        outcome.await.ok()
    }

    /// Tells the hub an HTTP peer's request is over (its principal may be forgotten).
    pub(crate) async fn delta_done(&self, peer: PeerId) {
        let _ = self.commands.send(Command::DeltaDone(peer)).await;
    }

    /// Drops an erased document from the engine and waits for the storage tasks in flight
    /// (see [`Command::Forget`]). `false` when the hub is gone.
    pub(crate) async fn forget(&self, document_id: DocumentId) -> bool {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(Command::Forget(document_id, reply))
            .await
            .is_ok()
            && done.await.is_ok()
    }

    /// Another instance sharing the database stored `document_id` at `heads`: if the
    /// document is in memory here and lacks them, the changes are read from storage and
    /// applied (and so relayed to this instance's peers); if it is not, the peers that asked
    /// about it are offered it afresh. Nothing for a document nobody here cares about.
    pub(crate) async fn stored(&self, document_id: DocumentId, heads: Vec<ChangeHash>) {
        let _ = self
            .commands
            .send(Command::Stored {
                document_id,
                heads: Some(heads),
            })
            .await;
    }

    /// The shared feed started a new epoch (an instance crashed, maybe between storing a
    /// change and publishing it): every document in memory or asked about is checked
    /// against storage.
    pub(crate) async fn refresh(&self) {
        let _ = self.commands.send(Command::Refresh).await;
    }

    /// Waits until every storage task issued so far is answered: after this, everything the
    /// server acknowledged is on disk. Used at shutdown.
    pub async fn drain(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Drain(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

impl HubTask {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>, tick_interval: Duration) {
        let mut tick = tokio::time::interval(tick_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // When to give freed memory back (see `release_memory`); pushed back by every
        // command. Not with inline storage: simulations replay the same events without it.
        let release_at = tokio::time::sleep(QUIET_BEFORE_TRIM);
        tokio::pin!(release_at);
        let releases = !self.writer.is_inline();
        loop {
            // Biased, ticks first: `select!` otherwise picks at random among ready branches,
            // which a simulation cannot replay. A tick is ready once per interval, so it
            // cannot starve the commands.
            tokio::select! {
                biased;
                _ = tick.tick() => {
                    let effects = self.engine.handle(self.now(), Event::Tick);
                    self.effects(effects);
                    self.count_loaded();
                    self.metrics.documents_loaded.store(self.loaded as u64, Ordering::Relaxed);
                    if releases
                        && self.freed_since_trim
                        && self.last_trim.elapsed() >= BUSY_TRIM_INTERVAL
                    {
                        self.release_memory();
                    }
                }
                _ = &mut release_at, if releases && self.freed_since_trim => {
                    let next_allowed = self.last_trim + TRIM_INTERVAL;
                    if Instant::now() >= next_allowed {
                        self.release_memory();
                    } else {
                        release_at.as_mut().reset(next_allowed);
                    }
                }
                command = receiver.recv() => {
                    let Some(command) = command else { break };
                    let disconnect = matches!(command, Command::Disconnect { .. });
                    self.command(command);
                    if disconnect {
                        // The engine evicts a leaving client's documents at once.
                        self.count_loaded();
                    }
                    if releases {
                        release_at.as_mut().reset(Instant::now() + QUIET_BEFORE_TRIM);
                    }
                }
            }
            self.run_inline_storage();
        }
    }

    /// Counts the documents in memory; an eviction frees memory.
    fn count_loaded(&mut self) {
        let loaded = self.engine.loaded_documents().count();
        if loaded < self.loaded {
            self.freed_since_trim = true;
        }
        self.loaded = loaded;
    }

    /// Gives freed memory back to the OS (see [`memory`](super::memory)): glibc keeps what a
    /// burst of work freed, and the server's RSS would stay near its peak. Called once no
    /// command came for [`QUIET_BEFORE_TRIM`] after some work or evictions (at most every
    /// [`TRIM_INTERVAL`]), and every [`BUSY_TRIM_INTERVAL`] under a load that never pauses.
    fn release_memory(&mut self) {
        self.last_trim = Instant::now();
        self.freed_since_trim = false;
        crate::spawn_blocking(super::memory::release_free_memory);
    }

    /// With [`HubConfig::inline_storage`]: writes, flushes and answers the jobs queued, and
    /// those their answers bring, until none is left. Nothing to do with the writer thread.
    fn run_inline_storage(&mut self) {
        while let Some(results) = self.writer.run_inline() {
            if !results.is_empty() {
                self.command(Command::Storage(results));
            }
        }
    }

    fn now(&self) -> Millis {
        Millis(self.started.elapsed().as_millis() as u64)
    }

    fn command(&mut self, command: Command) {
        self.freed_since_trim = true;
        let now = self.now();
        match command {
            Command::Connect {
                connection,
                peer,
                principal,
                outbox,
            } => {
                if let Some(old) = self.connections.insert(
                    peer.clone(),
                    Connection {
                        id: connection,
                        principal,
                        outbox,
                    },
                ) {
                    // A second join with the same peer id replaces the older socket.
                    let _ = old.outbox.try_send(Outgoing::Close(
                        "replaced by a newer connection with the same peer id".into(),
                    ));
                }
                let effects = self.engine.handle(
                    now,
                    Event::PeerConnected {
                        peer,
                        role: PeerRole::OnRequest,
                    },
                );
                self.effects(effects);
            }
            Command::Disconnect { connection, peer } => {
                let current = self.connections.get(&peer).map(|c| c.id);
                if current == Some(connection) {
                    self.connections.remove(&peer);
                    let effects = self.engine.handle(now, Event::PeerDisconnected { peer });
                    self.effects(effects);
                }
            }
            Command::Received {
                connection,
                peer,
                message,
                may_write,
            } => {
                if self.connections.get(&peer).map(|c| c.id) != Some(connection) {
                    return;
                }
                let effects = self.engine.handle(
                    now,
                    Event::Received {
                        from: peer,
                        message,
                        may_write,
                    },
                );
                self.effects(effects);
            }
            Command::Storage(results) => {
                self.pending_storage -= results.len();
                for result in results {
                    let effects = self.engine.handle(now, Event::Storage(result));
                    self.effects(effects);
                }
                if self.pending_storage == 0 {
                    for drain in self.drains.drain(..) {
                        let _ = drain.send(());
                    }
                }
            }
            Command::Delta {
                mut delta,
                principal,
                authors,
                reply,
            } => {
                if !authors.is_empty() {
                    self.claimed
                        .entry(delta.from.clone())
                        .or_default()
                        .entry(delta.document_id)
                        .or_default()
                        .extend(authors);
                }
                self.next_delta += 1;
                delta.request = self.next_delta;
                self.deltas.insert(delta.request, reply);
                self.http_principals
                    .entry(delta.from.clone())
                    .or_insert((principal, 0))
                    .1 += 1;
                let effects = self.engine.handle(now, Event::Delta(delta));
                self.effects(effects);
            }
            Command::DeltaDone(peer) => {
                if let Some((_, open)) = self.http_principals.get_mut(&peer) {
                    *open = open.saturating_sub(1);
                    if *open == 0 {
                        self.http_principals.remove(&peer);
                        self.claimed.remove(&peer);
                    }
                }
            }
            Command::Forget(document_id, reply) => {
                let effects = self.engine.forget_document(now, document_id);
                self.effects(effects);
                self.command(Command::Drain(reply));
            }
            Command::Stored { document_id, heads } => self.stored(document_id, heads),
            Command::ClusterDelta(mut delta) => {
                self.next_delta += 1;
                delta.request = self.next_delta;
                // Nobody waits for the outcome; the engine answers into a closed channel.
                self.deltas.insert(delta.request, oneshot::channel().0);
                let effects = self.engine.handle(now, Event::Delta(delta));
                self.effects(effects);
            }
            Command::Refresh => {
                let mut documents: Vec<DocumentId> = self.engine.loaded_documents().collect();
                documents.extend(self.engine.subscribed_documents());
                documents.sort();
                documents.dedup();
                for document_id in documents {
                    self.stored(document_id, None);
                }
            }
            Command::Drain(reply) => {
                if self.pending_storage == 0 {
                    let _ = reply.send(());
                } else {
                    self.drains.push(reply);
                }
            }
        }
    }

    /// See [`Hub::stored`].
    fn stored(&mut self, document_id: DocumentId, heads: Option<Vec<ChangeHash>>) {
        if let Some(doc) = self.engine.document(&document_id) {
            if let Some(heads) = &heads
                && doc.get_missing_deps(heads).is_empty()
            {
                return;
            }
            let loaded = doc.get_heads();
            let (docs, commands) = (Arc::clone(&self.docs), self.commands.clone());
            let from = self.cluster_peer.clone();
            crate::spawn_blocking(
                move || match changes_lacking(&docs, &document_id, &loaded) {
                    Ok(Some((heads, changes))) => {
                        let _ = commands.blocking_send(Command::ClusterDelta(DeltaRequest {
                            request: 0,
                            from,
                            document_id,
                            heads,
                            changes,
                            may_write: true,
                        }));
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(
                        %document_id,
                        "could not read another instance's changes: {error}"
                    ),
                },
            );
        } else if self.engine.is_loading(&document_id) {
            // The load may have read storage before that instance's commit: look again once
            // the document is in memory.
            let commands = self.commands.clone();
            tokio::spawn(async move {
                tokio::time::sleep(STORED_RETRY).await;
                let _ = commands.send(Command::Stored { document_id, heads }).await;
            });
        } else {
            let effects = self.engine.wake_subscribers(self.now(), document_id);
            self.effects(effects);
        }
    }

    fn effects(&mut self, mut effects: Vec<Effect>) {
        // Authorship first: the records of applied changes must be queued before the chunks
        // that store those changes, so that the flush acknowledging them covers both.
        effects.sort_by_key(|effect| !matches!(effect, Effect::ChangesApplied { .. }));
        for effect in effects {
            match effect {
                Effect::Send { to, message } => self.deliver(&to, Outgoing::Message(message)),
                Effect::Storage(task) => {
                    if self.writer.submit(Job::Task(task)) {
                        self.pending_storage += 1;
                    } else {
                        tracing::error!("the storage thread is gone; a write was not made");
                    }
                }
                Effect::ChangesApplied {
                    document_id,
                    from,
                    hashes,
                } => self.record_authorship(document_id, &from, hashes),
                Effect::Durable { document_id, heads } => self.feed.publish(document_id, heads),
                Effect::Refused {
                    peer,
                    document_id,
                    reason,
                } => {
                    self.metrics.refusals.fetch_add(1, Ordering::Relaxed);
                    self.deliver(&peer, Outgoing::Error(format!("{document_id}: {reason}")));
                }
                Effect::PeerError {
                    peer,
                    document_id,
                    error,
                } => {
                    self.metrics.refusals.fetch_add(1, Ordering::Relaxed);
                    let about = document_id.map(|d| format!("{d}: ")).unwrap_or_default();
                    tracing::warn!(%peer, "closing a peer that sent bad input: {about}{error}");
                    self.deliver(&peer, Outgoing::Close(format!("{about}{error}")));
                }
                Effect::StorageFailed {
                    document_id,
                    reason,
                } => tracing::error!(%document_id, "storage failed: {reason}"),
                Effect::DeltaReply {
                    request, outcome, ..
                } => {
                    if let Some(reply) = self.deltas.remove(&request) {
                        let _ = reply.send(outcome);
                    }
                }
                Effect::Ready { .. } | Effect::Unavailable { .. } => {}
            }
        }
    }

    fn deliver(&mut self, to: &PeerId, outgoing: Outgoing) {
        let Some(connection) = self.connections.get(to) else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = connection.outbox.try_send(outgoing) {
            // Too slow to keep up: drop it rather than buffer without bound. It reconnects
            // and resyncs from a fresh state.
            tracing::warn!(peer = %to, "dropping a connection whose outbox is full");
            self.connections.remove(to);
            let effects = self
                .engine
                .handle(self.now(), Event::PeerDisconnected { peer: to.clone() });
            self.effects(effects);
        }
    }

    fn record_authorship(
        &mut self,
        document_id: DocumentId,
        from: &PeerId,
        hashes: Vec<ChangeHash>,
    ) {
        let principal = match (self.connections.get(from), self.http_principals.get(from)) {
            (Some(connection), _) => connection.principal.clone(),
            (None, Some((principal, _))) => principal.clone(),
            (None, None) => return,
        };
        let at_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut hashes = hashes;
        if let Some(claimed) = self
            .claimed
            .get(from)
            .and_then(|documents| documents.get(&document_id))
        {
            let mut records = Vec::new();
            hashes.retain(
                |hash| match claimed.get(&crate::auth::ChangeHash::from(*hash)) {
                    Some(record) => {
                        records.push(record.clone());
                        false
                    }
                    None => true,
                },
            );
            if !records.is_empty() {
                self.writer.submit(Job::Claimed {
                    document_id,
                    records,
                });
            }
            if hashes.is_empty() {
                return;
            }
        }
        self.writer.submit(Job::Authorship {
            document_id,
            hashes,
            principal,
            at_unix_ms,
        });
    }
}

/// A stored document's heads, and changes it holds (concatenated).
type StoredChanges = (Vec<ChangeHash>, Vec<u8>);

/// The stored document's heads and the changes it holds beyond `loaded` (an in-memory copy's
/// heads); `None` when it holds nothing more.
fn changes_lacking(
    docs: &DocStore,
    document_id: &DocumentId,
    loaded: &[ChangeHash],
) -> Result<Option<StoredChanges>, String> {
    let Some(bytes) = docs.load(document_id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let stored = automerge::Automerge::load(&bytes).map_err(|e| e.to_string())?;
    // Heads of ours that are not stored yet (appends in flight) say nothing of what we lack.
    let known: Vec<ChangeHash> = loaded
        .iter()
        .filter(|h| stored.get_change_by_hash(h).is_some())
        .copied()
        .collect();
    let changes = stored.get_changes(&known);
    if changes.is_empty() {
        return Ok(None);
    }
    let bytes = changes
        .iter()
        .flat_map(|change| change.raw_bytes().iter().copied())
        .collect();
    Ok(Some((stored.get_heads(), bytes)))
}

//! A deterministic, seeded simulation of one server and several clients running the sync
//! engine over a network that drops, duplicates, reorders and delays messages, with links
//! that go down and peers that crash (losing whatever storage had not acknowledged) and
//! restart. Afterwards the network heals, and every replica must hold identical documents
//! containing every edit that was reported saved.
//!
//! - `PASSERELLE_SIM_SEED=N` replays one seed (a failure prints its seed).
//! - `PASSERELLE_SIM_SEEDS=N` sets how many seeds the test runs (default 300; CI runs more).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use automerge::{ChangeHash, ReadDoc, ScalarValue, transaction::Transactable};
use passerelle_core::{
    DecodeLimits, DocumentId, Effect, Engine, EngineConfig, Event, Message, Millis, PeerId,
    PeerRole, StorageResult, StorageTask,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The fault rates of one run, drawn from the seed so that runs differ in character.
#[derive(Debug, Clone)]
struct Faults {
    drop: f64,
    duplicate: f64,
    max_delay_ms: u64,
    crash: f64,
    link_flap: f64,
}

struct SimPeer {
    id: PeerId,
    engine: Option<Engine>,
    /// What storage holds durably, per document, in append order.
    disk: BTreeMap<DocumentId, Vec<Vec<u8>>>,
    /// Storage tasks accepted but not yet answered, with the time they finish.
    pending: Vec<(u64, StorageTask)>,
    /// Documents this peer wants (clients only): it opens them after every restart.
    wanted: BTreeSet<DocumentId>,
    /// Local edits made but not yet reported durable.
    unsaved: Vec<(DocumentId, ChangeHash)>,
    /// Messages with a connection epoch so that a message of a dead connection never arrives.
    epoch: u64,
    restarts: u64,
}

struct InFlight {
    at: u64,
    from: usize,
    to: usize,
    epoch: (u64, u64),
    bytes: Vec<u8>,
}

struct Sim {
    rng: StdRng,
    now: u64,
    peers: Vec<SimPeer>,
    /// Link state between the server (index 0) and client i.
    link_up: Vec<bool>,
    net: Vec<InFlight>,
    faults: Faults,
    all_docs: BTreeSet<DocumentId>,
    saved: Vec<(DocumentId, ChangeHash)>,
    peer_errors: Vec<String>,
    stats: Stats,
}

#[derive(Default, Debug)]
struct Stats {
    sent: u64,
    dropped: u64,
    duplicated: u64,
    crashes: u64,
    restarts: u64,
    edits: u64,
}

const SERVER: usize = 0;

impl Sim {
    fn new(seed: u64, clients: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let faults = Faults {
            drop: rng.gen_range(0.0..0.3),
            duplicate: rng.gen_range(0.0..0.2),
            max_delay_ms: rng.gen_range(1..200),
            crash: rng.gen_range(0.0..0.02),
            link_flap: rng.gen_range(0.0..0.03),
        };
        let mut peers = Vec::new();
        for index in 0..=clients {
            let name = if index == SERVER {
                "server".to_string()
            } else {
                format!("client-{index}")
            };
            peers.push(SimPeer {
                id: name.parse().unwrap(),
                engine: None,
                disk: BTreeMap::new(),
                pending: Vec::new(),
                wanted: BTreeSet::new(),
                unsaved: Vec::new(),
                epoch: 0,
                restarts: 0,
            });
        }
        let mut sim = Sim {
            rng,
            now: 0,
            peers,
            link_up: vec![false; clients + 1],
            net: Vec::new(),
            faults,
            all_docs: BTreeSet::new(),
            saved: Vec::new(),
            peer_errors: Vec::new(),
            stats: Stats::default(),
        };
        for index in 0..=clients {
            sim.start(index);
        }
        for client in 1..=clients {
            sim.connect(client);
        }
        sim
    }

    fn config(&mut self, index: usize) -> EngineConfig {
        let mut config = EngineConfig::new(self.peers[index].id.clone());
        config.seed = self.rng.r#gen();
        config.retry_after_ms = 300;
        config.max_retry_after_ms = 2_000;
        config.evict_idle_after_ms = 1_500;
        config.max_loaded_documents = 4;
        config
    }

    fn start(&mut self, index: usize) {
        let config = self.config(index);
        let peer = &mut self.peers[index];
        peer.engine = Some(Engine::new(config));
        peer.restarts += 1;
        let wanted: Vec<DocumentId> = peer.wanted.iter().copied().collect();
        for document_id in wanted {
            self.open(index, document_id);
        }
    }

    fn crash(&mut self, index: usize) {
        self.stats.crashes += 1;
        let peer = &mut self.peers[index];
        peer.engine = None;
        // A write in progress at the crash either reached the disk or did not; it was never
        // acknowledged either way.
        let pending = std::mem::take(&mut peer.pending);
        for (_, task) in pending {
            let lands = self.rng.gen_bool(0.5);
            if let (
                true,
                StorageTask::Append {
                    document_id, chunk, ..
                },
            ) = (lands, task)
            {
                self.peers[index]
                    .disk
                    .entry(document_id)
                    .or_default()
                    .push(chunk);
            }
        }
        self.peers[index].unsaved.clear();
        if index == SERVER {
            for client in 1..self.peers.len() {
                self.disconnect(client);
            }
        } else {
            self.disconnect(index);
        }
    }

    fn connect(&mut self, client: usize) {
        if self.link_up[client]
            || self.peers[client].engine.is_none()
            || self.peers[SERVER].engine.is_none()
        {
            return;
        }
        self.link_up[client] = true;
        self.peers[client].epoch += 1;
        self.peers[SERVER].epoch += 1;
        let server_id = self.peers[SERVER].id.clone();
        let client_id = self.peers[client].id.clone();
        self.event(
            SERVER,
            Event::PeerConnected {
                peer: client_id,
                role: PeerRole::OnRequest,
            },
        );
        self.event(
            client,
            Event::PeerConnected {
                peer: server_id,
                role: PeerRole::Announce,
            },
        );
    }

    fn disconnect(&mut self, client: usize) {
        if !self.link_up[client] {
            return;
        }
        self.link_up[client] = false;
        self.peers[client].epoch += 1;
        self.peers[SERVER].epoch += 1;
        let server_id = self.peers[SERVER].id.clone();
        let client_id = self.peers[client].id.clone();
        if self.peers[SERVER].engine.is_some() {
            self.event(SERVER, Event::PeerDisconnected { peer: client_id });
        }
        if self.peers[client].engine.is_some() {
            self.event(client, Event::PeerDisconnected { peer: server_id });
        }
    }

    fn event(&mut self, index: usize, event: Event) {
        let now = Millis(self.now);
        let Some(engine) = self.peers[index].engine.as_mut() else {
            return;
        };
        let effects = engine.handle(now, event);
        self.apply_effects(index, effects);
    }

    fn open(&mut self, index: usize, document_id: DocumentId) {
        let now = Millis(self.now);
        self.peers[index].wanted.insert(document_id);
        let Some(engine) = self.peers[index].engine.as_mut() else {
            return;
        };
        let effects = engine.open(now, document_id);
        self.apply_effects(index, effects);
    }

    fn apply_effects(&mut self, index: usize, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { to, message } => self.send(index, &to, message),
                Effect::Storage(task) => {
                    let at = self.now + self.rng.gen_range(0..40);
                    self.peers[index].pending.push((at, task));
                }
                Effect::Durable { document_id, heads } => self.durable(index, document_id, heads),
                Effect::PeerError { peer, error, .. } => self
                    .peer_errors
                    .push(format!("{} about {peer}: {error}", self.peers[index].id)),
                Effect::StorageFailed { reason, .. } => self
                    .peer_errors
                    .push(format!("{} storage: {reason}", self.peers[index].id)),
                Effect::Refused { reason, .. } => self.peer_errors.push(reason),
                Effect::Ready { .. }
                | Effect::ChangesApplied { .. }
                | Effect::Unavailable { .. }
                | Effect::DeltaReply { .. } => {}
            }
        }
    }

    fn durable(&mut self, index: usize, document_id: DocumentId, heads: Vec<ChangeHash>) {
        let engine = self.peers[index].engine.as_ref().unwrap();
        let doc = engine.document(&document_id).unwrap();
        let covered: HashSet<ChangeHash> = doc
            .fork_at(&heads)
            .unwrap()
            .get_changes(&[])
            .iter()
            .map(|change| change.hash())
            .collect();
        let peer = &mut self.peers[index];
        let (now_saved, still): (Vec<_>, Vec<_>) = peer
            .unsaved
            .drain(..)
            .partition(|(doc, hash)| *doc == document_id && covered.contains(hash));
        peer.unsaved = still;
        self.saved.extend(now_saved);
    }

    fn send(&mut self, from: usize, to: &PeerId, message: Message) {
        let to = self.peers.iter().position(|peer| &peer.id == to).unwrap();
        let client = if from == SERVER { to } else { from };
        if !self.link_up[client] {
            return;
        }
        self.stats.sent += 1;
        let bytes = message.encode();
        let copies = if self.rng.gen_bool(self.faults.drop) {
            self.stats.dropped += 1;
            0
        } else if self.rng.gen_bool(self.faults.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now + self.rng.gen_range(1..=self.faults.max_delay_ms);
            self.net.push(InFlight {
                at,
                from,
                to,
                epoch: (self.peers[from].epoch, self.peers[to].epoch),
                bytes: bytes.clone(),
            });
        }
    }

    /// One step of 10 ms of virtual time.
    fn step(&mut self, chaos: bool) {
        self.now += 10;
        // Deliver what is due, in a random order among equals (reordering comes from delays).
        let due: Vec<InFlight> = {
            let (due, rest): (Vec<_>, Vec<_>) = self.net.drain(..).partition(|m| m.at <= self.now);
            self.net = rest;
            due
        };
        for message in due {
            let alive = (self.peers[message.from].epoch, self.peers[message.to].epoch)
                == message.epoch
                && self.peers[message.to].engine.is_some();
            if !alive {
                continue;
            }
            let decoded = Message::decode(&message.bytes, &DecodeLimits::default())
                .expect("our own messages decode");
            let from = self.peers[message.from].id.clone();
            self.event(
                message.to,
                Event::Received {
                    from,
                    message: decoded,
                    may_write: true,
                },
            );
        }
        // Finish storage tasks that are due.
        for index in 0..self.peers.len() {
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) = self.peers[index]
                .pending
                .drain(..)
                .partition(|(at, _)| *at <= now);
            self.peers[index].pending = rest;
            for (_, task) in due {
                let result = self.run_storage(index, task);
                self.event(index, Event::Storage(result));
            }
        }
        if self.now.is_multiple_of(100) {
            for index in 0..self.peers.len() {
                self.event(index, Event::Tick);
            }
        }
        if chaos {
            self.chaos();
        }
    }

    fn run_storage(&mut self, index: usize, task: StorageTask) -> StorageResult {
        let disk = &mut self.peers[index].disk;
        match task {
            StorageTask::Load { task, document_id } => StorageResult::Loaded {
                task,
                document_id,
                data: disk.get(&document_id).map(|chunks| chunks.concat()),
            },
            StorageTask::Append {
                task,
                document_id,
                chunk,
            } => {
                disk.entry(document_id).or_default().push(chunk);
                StorageResult::Appended { task, document_id }
            }
        }
    }

    fn chaos(&mut self) {
        let clients = self.peers.len() - 1;
        let client = self.rng.gen_range(1..=clients);
        let roll: f64 = self.rng.r#gen();
        if roll < 0.06 {
            self.edit(client);
        } else if roll < 0.07 {
            self.create(client);
        } else if roll < 0.08 {
            // A client learns of a document out of band (a link in an e-mail) and opens it.
            if let Some(document_id) = self.pick_doc() {
                self.open(client, document_id);
            }
        }
        if self.rng.gen_bool(self.faults.link_flap) {
            if self.link_up[client] {
                self.disconnect(client);
            } else {
                self.connect(client);
            }
        }
        if self.rng.gen_bool(self.faults.crash) {
            let index = self.rng.gen_range(0..=clients);
            if self.peers[index].engine.is_some() {
                self.crash(index);
            }
        }
        // Crashed peers come back after a while, and dead links are redialled.
        for index in 0..=clients {
            if self.peers[index].engine.is_none() && self.rng.gen_bool(0.05) {
                self.start(index);
            }
        }
        for client in 1..=clients {
            if !self.link_up[client] && self.rng.gen_bool(0.05) {
                self.connect(client);
            }
        }
    }

    fn pick_doc(&mut self) -> Option<DocumentId> {
        if self.all_docs.is_empty() {
            return None;
        }
        let index = self.rng.gen_range(0..self.all_docs.len());
        self.all_docs.iter().nth(index).copied()
    }

    fn create(&mut self, client: usize) {
        let now = Millis(self.now);
        let Some(engine) = self.peers[client].engine.as_mut() else {
            return;
        };
        let (document_id, effects) = engine.create_document(now);
        let head = engine.document(&document_id).unwrap().get_heads()[0];
        self.peers[client].unsaved.push((document_id, head));
        self.all_docs.insert(document_id);
        self.peers[client].wanted.insert(document_id);
        self.apply_effects(client, effects);
    }

    fn edit(&mut self, client: usize) {
        let Some(document_id) = self.pick_doc() else {
            return;
        };
        let now = Millis(self.now);
        let key = format!("k{}", self.rng.gen_range(0..8));
        let value: i64 = self.rng.r#gen();
        let Some(engine) = self.peers[client].engine.as_mut() else {
            return;
        };
        let Some(doc) = engine.document(&document_id) else {
            return;
        };
        if doc.get_heads().is_empty() {
            return;
        }
        let result = engine.change(now, document_id, |tx| {
            tx.put(automerge::ROOT, key, ScalarValue::Int(value))
        });
        let ((), effects) = result.expect("a change on a loaded document succeeds");
        let head = engine.document(&document_id).unwrap().get_heads()[0];
        self.stats.edits += 1;
        self.peers[client].unsaved.push((document_id, head));
        self.apply_effects(client, effects);
    }

    /// Heals: every peer up, every link up, no more faults; runs until nothing moves.
    fn heal(&mut self) {
        self.faults.drop = 0.0;
        self.faults.duplicate = 0.0;
        for index in 0..self.peers.len() {
            if self.peers[index].engine.is_none() {
                self.start(index);
            }
        }
        for client in 1..self.peers.len() {
            self.connect(client);
            let docs: Vec<DocumentId> = self.all_docs.iter().copied().collect();
            for document_id in docs {
                self.open(client, document_id);
            }
        }
        let mut quiet_since = self.now;
        let deadline = self.now + 600_000;
        while self.now < deadline {
            let busy = !self.net.is_empty() || self.peers.iter().any(|p| !p.pending.is_empty());
            if busy {
                quiet_since = self.now;
            } else if self.now - quiet_since > 10_000 {
                break;
            }
            self.step(false);
        }
    }

    fn check(&mut self) -> Result<(), String> {
        if !self.peer_errors.is_empty() {
            return Err(format!("peer errors: {:?}", self.peer_errors));
        }
        // Load every document on every peer from its storage alone: what was acknowledged must
        // be there, and every replica must be identical.
        for document_id in self.all_docs.clone() {
            let saved_edits = self.saved.iter().filter(|(d, _)| *d == document_id).count();
            let copies = self
                .peers
                .iter()
                .filter(|p| p.disk.contains_key(&document_id))
                .count();
            if copies == 0 && saved_edits == 0 {
                // Created, then lost in a crash before it was ever saved: nothing was promised.
                continue;
            }
            let mut heads_by_peer = Vec::new();
            for peer in &self.peers {
                let Some(chunks) = peer.disk.get(&document_id) else {
                    return Err(format!("{} has no copy of {document_id}", peer.id));
                };
                let doc = automerge::Automerge::load(&chunks.concat())
                    .map_err(|e| format!("{} cannot load {document_id}: {e}", peer.id))?;
                for (saved_doc, hash) in &self.saved {
                    if *saved_doc == document_id && doc.get_change_by_hash(hash).is_none() {
                        return Err(format!(
                            "{} lost saved change {hash} of {document_id}",
                            peer.id
                        ));
                    }
                }
                let mut heads = doc.get_heads();
                heads.sort();
                heads_by_peer.push((peer.id.clone(), heads));
            }
            let first = &heads_by_peer[0].1;
            if heads_by_peer.iter().any(|(_, heads)| heads != first) {
                return Err(format!("{document_id} diverged: {heads_by_peer:?}"));
            }
        }
        Ok(())
    }
}

fn run_seed(seed: u64) -> Result<Stats, String> {
    let mut sim = Sim::new(seed, 3);
    let steps = sim.rng.gen_range(200..800);
    for _ in 0..steps {
        sim.step(true);
    }
    sim.heal();
    let result = sim.check();
    sim.stats.restarts = sim.peers.iter().map(|p| p.restarts).sum();
    result.map(|()| sim.stats)
}

#[test]
fn every_replica_converges_and_no_saved_edit_is_lost() {
    let seeds: Vec<u64> = match std::env::var("PASSERELLE_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("PASSERELLE_SIM_SEED is a number")],
        Err(_) => {
            let count: u64 = std::env::var("PASSERELLE_SIM_SEEDS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(300);
            (0..count).collect()
        }
    };
    let mut totals = Stats::default();
    for seed in &seeds {
        match run_seed(*seed) {
            Ok(stats) => {
                totals.sent += stats.sent;
                totals.dropped += stats.dropped;
                totals.duplicated += stats.duplicated;
                totals.crashes += stats.crashes;
                totals.edits += stats.edits;
                totals.restarts += stats.restarts;
            }
            Err(error) => {
                panic!("seed {seed} failed (replay with PASSERELLE_SIM_SEED={seed}): {error}")
            }
        }
    }
    eprintln!("{} seeds passed: {totals:?}", seeds.len());
    if seeds.len() >= 20 {
        assert!(totals.edits > 0 && totals.crashes > 0 && totals.dropped > 0);
    }
}

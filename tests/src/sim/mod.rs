//! The whole-system simulation (issue 8): the real server (its axum router, hub, engine and
//! storage code) and several real [`Replica`]s in one seeded, simulated network (turmoil),
//! with partitions, delays, message loss, crashes and restarts of any host (losing what was
//! not flushed), and random edits on every replica. Then the network heals, everyone syncs,
//! and every replica must hold identical documents containing every edit that was reported
//! saved; the server's durable store must hold them too.
//!
//! # How the pieces meet
//! - **Network.** turmoil: one `server` host and one host per client (`c0`, `c1`, …). The
//!   server host runs [`passerelle_server::app`] under hyper on a turmoil listener; each
//!   start is a fresh `AppState` over the same [`CrashStorage`].
//! - **Clients.** Each client host runs its own loop: when the driver asks it for a sync
//!   pass, it drives the replica's [`SyncPass`] step by step, each request made with hyper
//!   over turmoil TCP under a timeout in simulated time (a lost segment stalls turmoil's TCP
//!   for good), a retry's pause slept in simulated time. The replica sits in an
//!   `Rc<RefCell<_>>` shared with the driver: the host borrows it for each step only, never
//!   across an `await`, and the driver edits it between ticks, so edits land in the middle
//!   of passes, all clients sync at the same time and their batches interleave at the hub.
//!   A client crash drops the host's future (and its pass) and the replica, and reopens the
//!   replica from what its disk kept. Everything runs on the test thread: deterministic.
//! - **Storage.** Both sides run over [`CrashStorage`]: writes are durable at `flush` only; a
//!   crash keeps a prefix of what was not flushed; a power cut makes writes fail mid-way.
//!   The server runs its storage work inline ([`HubConfig::inline_storage`]) instead of on
//!   its writer thread, and is seeded ([`HubConfig::seed`]); replicas get their seed and
//!   clock from [`ReplicaSetup`].
//! - **Ledger.** Every edit for which the replica returned `Ok` is recorded; afterwards each
//!   must be in every replica and in the server's durable store.
//! - **Self-check.** [`SimOptions::lying_server_disk`] makes the server's disk acknowledge
//!   flushes it skips; runs must then fail (`tests/sim.rs`), which shows that the checks see
//!   a server that confirms what is not on disk.
//!
//! [`HubConfig::inline_storage`]: passerelle_server::sync::HubConfig::inline_storage
//! [`HubConfig::seed`]: passerelle_server::sync::HubConfig::seed
//! [`SyncPass`]: passerelle_client::SyncPass

mod net;
mod storage;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use automerge::{Automerge, ChangeHash};
use passerelle_client::{ClientError, DocPath, Replica, ReplicaSetup, SyncOptions};
use passerelle_core::{DocumentId, Millis};
use passerelle_server::auth::{AuthStore, OrgName, Role, UserName};
use passerelle_store::testing::TestDatabase;
use passerelle_store::{Batch, DocStore, PostgresStorage, Storage};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value as Json, json};

pub use storage::CrashStorage;

use net::ClientHost;

/// The shape of one run.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Replicas, each on a host of its own.
    pub clients: usize,
    /// Random actions (edits, syncs, faults, waits) before the network heals.
    pub actions: usize,
    /// Most sync rounds (every replica once) allowed after healing before the run counts as
    /// not converging.
    pub max_heal_rounds: usize,
    /// The self-check: the server's disk acknowledges every flush and makes nothing durable
    /// ([`CrashStorage::lie_about_flushes`]). A run must then fail its checks.
    pub lying_server_disk: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            clients: 3,
            actions: 80,
            max_heal_rounds: 12,
            lying_server_disk: false,
        }
    }
}

/// What a run did, for figures and for the determinism check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimOutcome {
    /// A hash of every action, its result and the final documents: the same seed must give
    /// the same hash.
    pub trace_hash: u64,
    /// Edits reported saved (all found at the end).
    pub saved_edits: usize,
    /// Edits that failed (not saved, or not known to be).
    pub failed_edits: usize,
    /// Documents at the end.
    pub documents: usize,
    /// Sync passes that ended, and how many of them failed.
    pub syncs: usize,
    pub failed_syncs: usize,
    /// Passes started while another client's pass ran.
    pub overlapping_passes: usize,
    /// Edits saved on a replica while its own pass ran.
    pub edits_mid_pass: usize,
    /// Server and client crashes.
    pub server_crashes: usize,
    pub client_crashes: usize,
    /// Client crashes that cut a pass short.
    pub passes_cut: usize,
    /// Simulated time, in milliseconds.
    pub simulated_ms: u64,
}

/// A failed run: what went wrong, and the last actions before it.
#[derive(Debug)]
pub struct SimFailure {
    /// The seed, to replay it.
    pub seed: u64,
    /// What was wrong.
    pub reason: String,
    /// The last lines of the trace.
    pub recent: Vec<String>,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "simulation seed {} failed: {}", self.seed, self.reason)?;
        writeln!(f, "last actions:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "replay: PASSERELLE_SIM_SEED={} cargo test -p passerelle-tests --test sim -- --nocapture",
            self.seed
        )
    }
}

/// A 64-bit mix of a seed and a salt (splitmix64), for the seeds of each part of a run.
pub(crate) fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An edit that a replica reported saved.
#[derive(Debug, Clone)]
enum Saved {
    Created(DocumentId),
    Field(DocumentId, String, u64),
    Item(DocumentId, String),
}

/// The simulation and what the driver keeps beside it.
struct World {
    sim: turmoil::Sim<'static>,
    rng: StdRng,
    trace: Trace,
    server_storage: Arc<CrashStorage>,
    client_storage: Vec<Arc<CrashStorage>>,
    /// Faults strike while passes run.
    chaos: bool,
    clock: Arc<AtomicU64>,
    outcome: SimOutcome,
}

#[derive(Default)]
struct Trace {
    hash: u64,
    recent: std::collections::VecDeque<String>,
}

impl Trace {
    fn record(&mut self, line: String) {
        for byte in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash = (self.hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        if self.recent.len() == 40 {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }
}

fn client_host(index: usize) -> String {
    format!("c{index}")
}

impl World {
    fn log(&mut self, line: impl Into<String>) {
        let at = self.sim.elapsed().as_millis();
        self.trace.record(format!("{at:>7} {}", line.into()));
    }

    /// One tick of the simulation.
    fn step(&mut self) -> Result<(), String> {
        self.sim
            .step()
            .map_err(|e| format!("a host's software failed: {e}"))?;
        self.clock
            .store(self.sim.elapsed().as_millis() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Crashes the server host and restarts it: its storage keeps what was flushed and a
    /// random prefix of the rest.
    fn crash_server(&mut self) {
        let pending = self.server_storage.pending_batches();
        let keep = self.rng.gen_range(0..=pending);
        self.sim.crash(net::SERVER_HOST);
        self.server_storage.crash(keep);
        self.sim.bounce(net::SERVER_HOST);
        self.outcome.server_crashes += 1;
        self.log(format!(
            "server crashed ({keep} of {pending} unflushed batches kept)"
        ));
    }
}

/// One client: its host's shared state (replica, passes) and how to reopen it.
struct Client {
    host: Rc<ClientHost>,
    opens: u64,
    /// Whether its last pass completed; `None` while one runs.
    last_complete: Option<bool>,
}

/// The driver of one run.
struct Run {
    /// The server's database under `PASSERELLE_TEST_STORE=postgres`, dropped after the run.
    _database: Option<TestDatabase>,
    seed: u64,
    options: SimOptions,
    world: World,
    clients: Vec<Client>,
    ledger: Vec<Saved>,
    next_edit: u64,
}

/// Runs one seed. `Err` describes the first broken promise.
pub fn run_seed(seed: u64, options: &SimOptions) -> Result<SimOutcome, SimFailure> {
    let mut run = Run::new(seed, options.clone()).map_err(|reason| SimFailure {
        seed,
        reason,
        recent: Vec::new(),
    })?;
    match run.run() {
        Ok(()) => {
            let world = &run.world;
            let mut outcome = world.outcome.clone();
            outcome.trace_hash = world.trace.hash;
            outcome.simulated_ms = world.sim.elapsed().as_millis() as u64;
            outcome.saved_edits = run.ledger.len();
            Ok(outcome)
        }
        Err(reason) => Err(SimFailure {
            seed,
            reason,
            recent: run.world.trace.recent.iter().cloned().collect(),
        }),
    }
}

/// Whether the server's store is PostgreSQL (`PASSERELLE_TEST_STORE=postgres`), each seed in
/// a fresh database; the replicas keep their in-memory disks.
pub fn on_postgres() -> bool {
    std::env::var("PASSERELLE_TEST_STORE").is_ok_and(|store| store == "postgres")
}

/// The most ticks (simulated milliseconds) a round of passes may take on a healed network.
const MAX_ROUND_TICKS: usize = 600_000;

impl Run {
    fn new(seed: u64, options: SimOptions) -> Result<Self, String> {
        let database = on_postgres()
            .then(|| {
                TestDatabase::create(&format!("the simulation of seed {seed}"))
                    .ok_or("PASSERELLE_TEST_STORE=postgres needs PASSERELLE_TEST_POSTGRES")
            })
            .transpose()?;
        let server_storage = Arc::new(match &database {
            Some(database) => CrashStorage::on(
                PostgresStorage::connect(database.url()).map_err(|e| e.to_string())?,
            ),
            None => CrashStorage::new(),
        });
        // Users of one organisation, editors all: each may read and write every document.
        let auth = AuthStore::new(Arc::clone(&server_storage) as Arc<dyn Storage>);
        let org: OrgName = "sim".parse().map_err(|e| format!("{e}"))?;
        let mut tokens = Vec::new();
        for index in 0..options.clients {
            let name: UserName = format!("user{index}").parse().map_err(|e| format!("{e}"))?;
            let user = auth
                .add_user(&name, &org, Role::Editor)
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            tokens.push(user.token.token.expose_secret().to_owned());
        }
        drop(auth);
        server_storage.flush().map_err(|e| e.to_string())?;
        if options.lying_server_disk {
            // The self-check: from now on the server's disk acknowledges flushes it skips.
            server_storage.lie_about_flushes();
        }

        let mut sim = turmoil::Builder::new()
            .rng_seed(mix(seed, 1))
            .simulation_duration(Duration::from_secs(24 * 3600))
            .tick_duration(Duration::from_millis(1))
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(40))
            .fail_rate(0.0)
            .build();
        let starts = Rc::new(Cell::new(0));
        {
            let storage = Arc::clone(&server_storage);
            sim.host(net::SERVER_HOST, move || {
                net::serve(Arc::clone(&storage), seed, Rc::clone(&starts))
            });
        }
        let sync_options = SyncOptions {
            // A retry waits in simulated time (the pass asks for the pause).
            retries: 1,
            retry_delay: Duration::from_millis(200),
            // Small batches, so that a pass makes several requests.
            max_batch_bytes: 2 * 1024,
            ..SyncOptions::default()
        };
        let mut clients = Vec::new();
        let mut client_storage = Vec::new();
        for (index, token) in tokens.into_iter().enumerate() {
            let host = Rc::new(ClientHost::new(sync_options.clone()));
            clients.push(Client {
                host: Rc::clone(&host),
                opens: 0,
                last_complete: None,
            });
            client_storage.push(Arc::new(CrashStorage::new()));
            sim.host(client_host(index).as_str(), move || {
                net::client(Rc::clone(&host), token.clone())
            });
        }
        let world = World {
            sim,
            rng: StdRng::seed_from_u64(mix(seed, 2)),
            trace: Trace::default(),
            server_storage,
            client_storage,
            chaos: true,
            clock: Arc::new(AtomicU64::new(0)),
            outcome: SimOutcome::default(),
        };
        let mut run = Self {
            _database: database,
            seed,
            options,
            world,
            clients,
            ledger: Vec::new(),
            next_edit: 0,
        };
        for index in 0..run.options.clients {
            run.open(index)?;
        }
        Ok(run)
    }

    /// Opens replica `index` over its storage, with a fresh engine seed (a reopened replica
    /// must never reuse an actor id).
    fn open(&mut self, index: usize) -> Result<(), String> {
        let client = &mut self.clients[index];
        client.opens += 1;
        let clock = Arc::clone(&self.world.clock);
        let setup = ReplicaSetup {
            seed: mix(self.seed, 1_000 * index as u64 + client.opens),
            clock: Box::new(move || Millis(clock.load(Ordering::Relaxed))),
        };
        let storage = Arc::clone(&self.world.client_storage[index]) as Arc<dyn Storage>;
        let replica = Replica::open_with_storage(storage, setup)
            .map_err(|e| format!("replica {index} does not open after a crash: {e}"))?;
        *client.host.replica.borrow_mut() = Some(replica);
        Ok(())
    }

    /// Crashes client `index` (its host, with its pass if one runs, and its process) and
    /// starts it again from what its disk kept.
    fn crash_client(&mut self, index: usize) -> Result<(), String> {
        let host = client_host(index);
        let client = &mut self.clients[index];
        let mid_pass = client.host.is_syncing();
        self.world.sim.crash(host.as_str());
        client.host.forget_pass();
        client.last_complete = None;
        *client.host.replica.borrow_mut() = None;
        let storage = Arc::clone(&self.world.client_storage[index]);
        let pending = storage.pending_batches();
        let keep = self.world.rng.gen_range(0..=pending);
        storage.crash(keep);
        self.world.sim.bounce(host.as_str());
        self.world.outcome.client_crashes += 1;
        if mid_pass {
            self.world.outcome.passes_cut += 1;
        }
        self.world.log(format!(
            "{host}: crashed{} and restarted ({keep} of {pending} unflushed batches kept)",
            if mid_pass { " mid-pass" } else { "" }
        ));
        self.open(index)
    }

    fn rng(&mut self) -> &mut StdRng {
        &mut self.world.rng
    }

    fn log(&mut self, line: impl Into<String>) {
        self.world.log(line);
    }

    fn run(&mut self) -> Result<(), String> {
        for _ in 0..self.options.actions {
            self.random_action()?;
            // Time passes between actions: passes in flight go on while edits land.
            let ticks = self.rng().gen_range(0..40);
            self.ticks(ticks)?;
        }
        self.heal()?;
        self.check()
    }

    /// One tick: the hosts run, passes that ended are recorded, faults may strike.
    fn tick(&mut self) -> Result<(), String> {
        self.world.step()?;
        self.collect();
        self.chaos_tick()
    }

    fn ticks(&mut self, n: usize) -> Result<(), String> {
        for _ in 0..n {
            self.tick()?;
        }
        Ok(())
    }

    /// Records the passes that ended in the last tick, in client order.
    fn collect(&mut self) {
        for index in 0..self.clients.len() {
            let Some(result) = self.clients[index].host.take_finished() else {
                continue;
            };
            let complete = matches!(&result, Ok(report) if report.is_complete());
            self.clients[index].last_complete = Some(complete);
            self.world.outcome.syncs += 1;
            if !complete {
                self.world.outcome.failed_syncs += 1;
            }
            let line = match &result {
                Ok(report) => format!(
                    "c{index}: sync: {} checked, {} sent, {} received, {} failed{}",
                    report.documents_checked,
                    report.documents_sent,
                    report.received.len(),
                    report.failed.len(),
                    if report.reset { ", reset" } else { "" }
                ),
                Err(error) => format!("c{index}: sync failed: {error}"),
            };
            self.world.log(line);
        }
    }

    /// The faults that may strike in a tick while passes run.
    fn chaos_tick(&mut self) -> Result<(), String> {
        if !self.world.chaos {
            return Ok(());
        }
        let syncing: Vec<usize> = (0..self.clients.len())
            .filter(|&index| self.clients[index].host.is_syncing())
            .collect();
        if syncing.is_empty() {
            return Ok(());
        }
        if self.world.server_storage.is_dead() && self.rng().gen_bool(0.05) {
            self.world.crash_server();
        }
        // A client whose disk is gone stops soon after.
        for index in 0..self.clients.len() {
            if self.world.client_storage[index].is_dead() && self.rng().gen_bool(0.05) {
                self.crash_client(index)?;
            }
        }
        let roll: f64 = self.rng().r#gen();
        let index = syncing[self.rng().gen_range(0..syncing.len())];
        let host = client_host(index);
        if roll < 0.0015 {
            self.world.crash_server();
        } else if roll < 0.0025 {
            self.world.server_storage.fail_next_flush();
            self.log("server: the next flush cuts the power");
        } else if roll < 0.0035 {
            self.world.sim.partition(host.as_str(), net::SERVER_HOST);
            self.log(format!("{host}: partitioned mid-pass"));
        } else if roll < 0.0042 {
            self.crash_client(index)?;
        } else if roll < 0.0047 {
            // A power cut while the pass writes what it received.
            self.world.client_storage[index].fail_next_flush();
            self.log(format!("{host}: the next flush cuts the power"));
        }
        Ok(())
    }

    fn random_action(&mut self) -> Result<(), String> {
        let clients = self.options.clients;
        let index = self.rng().gen_range(0..clients);
        let host = client_host(index);
        let roll = self.rng().gen_range(0..100);
        match roll {
            0..=34 => self.edit(index),
            35..=59 => {
                self.start_sync(index);
                Ok(())
            }
            60..=69 => {
                let ticks = self.rng().gen_range(1..300);
                self.ticks(ticks)
            }
            70..=74 => {
                self.world.sim.partition(host.as_str(), net::SERVER_HOST);
                self.log(format!("{host}: partitioned"));
                Ok(())
            }
            75..=81 => {
                self.world.sim.repair(host.as_str(), net::SERVER_HOST);
                self.log(format!("{host}: repaired"));
                Ok(())
            }
            82..=84 => {
                let lossy = self.rng().gen_bool(0.5);
                let rate = if lossy { 0.01 } else { 0.0 };
                self.world
                    .sim
                    .set_link_fail_rate(host.as_str(), net::SERVER_HOST, rate);
                self.log(format!("{host}: message loss {rate}"));
                Ok(())
            }
            85..=88 => self.crash_client(index),
            89..=92 => {
                self.world.crash_server();
                Ok(())
            }
            93..=95 => {
                self.world.server_storage.fail_next_flush();
                self.log("server: the next flush cuts the power");
                Ok(())
            }
            _ => {
                // A power cut in the middle of an edit: the edit fails (or is not known
                // to be saved), then the replica restarts from what its disk kept.
                self.world.client_storage[index].fail_next_flush();
                self.log(format!("{host}: the next flush cuts the power"));
                self.edit(index)?;
                self.crash_client(index)
            }
        }
    }

    /// Asks client `index` for a pass, unless one runs.
    fn start_sync(&mut self, index: usize) {
        let others = (0..self.clients.len())
            .filter(|&other| other != index && self.clients[other].host.is_syncing())
            .count();
        if self.clients[index].host.start_pass() {
            self.clients[index].last_complete = None;
            if others > 0 {
                self.world.outcome.overlapping_passes += 1;
            }
            self.log(format!("c{index}: sync started ({others} others running)"));
        } else {
            self.log(format!("c{index}: still syncing"));
        }
    }

    /// A random edit on replica `index`: a new document, a field, or an item appended.
    fn edit(&mut self, index: usize) -> Result<(), String> {
        let n = self.next_edit;
        self.next_edit += 1;
        let create_roll: f64 = self.rng().r#gen();
        let which: usize = self.rng().r#gen();
        let field: bool = self.rng().r#gen();
        let during_pass = self.clients[index].host.is_syncing();
        let mut replica = self.clients[index].host.replica.borrow_mut();
        let replica = replica
            .as_mut()
            .expect("every replica is open between actions");
        let documents = replica
            .list()
            .map_err(|e| format!("replica {index} cannot list its documents: {e}"))?;
        let (line, result) = if documents.is_empty() || (create_roll < 0.1 && documents.len() < 6) {
            let result = replica
                .create(&json!({"title": format!("doc {n}"), "log": []}))
                .map(Saved::Created);
            (format!("c{index}: create doc {n}"), result)
        } else {
            let id = documents[which % documents.len()].id;
            if field {
                let key = format!("k{n}");
                let path: DocPath = key.parse().expect("a valid path");
                let result = replica
                    .set(id, &path, &json!(n))
                    .map(|()| Saved::Field(id, key.clone(), n));
                (format!("c{index}: set {id} {key}"), result)
            } else {
                let item = format!("e{n}");
                let path: DocPath = "log".parse().expect("a valid path");
                let result = replica
                    .append(id, &path, &json!(item))
                    .map(|_| Saved::Item(id, item.clone()));
                (format!("c{index}: append {id} {item}"), result)
            }
        };
        let line = if during_pass {
            format!("{line} (mid-pass)")
        } else {
            line
        };
        match result {
            Ok(saved) => {
                if let Saved::Created(id) = &saved {
                    self.world.log(format!("{line}: saved as {id}"));
                } else {
                    self.world.log(format!("{line}: saved"));
                }
                if during_pass {
                    self.world.outcome.edits_mid_pass += 1;
                }
                self.ledger.push(saved);
            }
            Err(error) => {
                self.world.outcome.failed_edits += 1;
                self.world.log(format!("{line}: failed: {error}"));
            }
        }
        Ok(())
    }

    /// Ticks until no pass runs.
    fn wait_for_passes(&mut self) -> Result<(), String> {
        for _ in 0..MAX_ROUND_TICKS {
            if !self.clients.iter().any(|client| client.host.is_syncing()) {
                return Ok(());
            }
            self.tick()?;
        }
        Err(format!(
            "a sync pass still runs after {} s of simulated time on a healed network",
            MAX_ROUND_TICKS / 1000
        ))
    }

    /// Heals the network, restarts whatever is down, and syncs until every replica agrees:
    /// in each round, every replica syncs at the same time.
    fn heal(&mut self) -> Result<(), String> {
        {
            let world = &mut self.world;
            world.chaos = false;
            world.sim.set_fail_rate(0.0);
            for index in 0..self.options.clients {
                let host = client_host(index);
                world
                    .sim
                    .set_link_fail_rate(host.as_str(), net::SERVER_HOST, 0.0);
                world.sim.repair(host.as_str(), net::SERVER_HOST);
            }
            // A power cut armed during the faults must not strike once they are over.
            world.server_storage.keep_power();
            if world.server_storage.is_dead() {
                world.crash_server();
            }
            world.log("network healed");
        }
        for index in 0..self.options.clients {
            self.world.client_storage[index].keep_power();
            if self.world.client_storage[index].is_dead() {
                self.crash_client(index)?;
            }
        }
        // The passes of the faulty time end first (each request has its timeout).
        self.wait_for_passes()?;
        let mut last: Option<BTreeMap<DocumentId, Vec<ChangeHash>>> = None;
        for round in 0..self.options.max_heal_rounds {
            for index in 0..self.options.clients {
                self.start_sync(index);
            }
            self.wait_for_passes()?;
            let complete = self
                .clients
                .iter()
                .all(|client| client.last_complete == Some(true));
            let states = self.states()?;
            let agree = states.windows(2).all(|pair| pair[0] == pair[1]);
            let same_as_last = last.as_ref() == states.first();
            if complete && agree && same_as_last {
                self.log(format!("converged after {} rounds", round + 1));
                return Ok(());
            }
            last = states.into_iter().next();
        }
        let states = self.states()?;
        Err(format!(
            "no convergence after {} sync rounds on a healed network: {}",
            self.options.max_heal_rounds,
            describe_states(&states)
        ))
    }

    /// Every replica's documents and heads.
    fn states(&mut self) -> Result<Vec<BTreeMap<DocumentId, Vec<ChangeHash>>>, String> {
        let mut states = Vec::new();
        for (index, client) in self.clients.iter().enumerate() {
            let mut replica = client.host.replica.borrow_mut();
            let replica = replica.as_mut().expect("open");
            states.push(heads_of(replica).map_err(|e| format!("replica {index}: {e}"))?);
        }
        Ok(states)
    }

    /// The promises, once everyone agrees.
    fn check(&mut self) -> Result<(), String> {
        let states = self.states()?;
        let expected = states[0].clone();
        // The same JSON everywhere.
        let mut documents: BTreeMap<DocumentId, Json> = BTreeMap::new();
        for (index, client) in self.clients.iter().enumerate() {
            let mut replica = client.host.replica.borrow_mut();
            let replica = replica.as_mut().expect("open");
            for id in expected.keys() {
                let value = replica
                    .get_json(*id)
                    .map_err(|e| format!("replica {index} cannot read {id}: {e}"))?;
                match documents.get(id) {
                    Some(seen) if seen != &value => {
                        return Err(format!(
                            "replica {index} reads {id} as {value}, replica 0 as {seen}"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        documents.insert(*id, value);
                    }
                }
            }
        }
        // Every edit reported saved.
        for saved in &self.ledger {
            let found = match saved {
                Saved::Created(id) => documents.contains_key(id),
                Saved::Field(id, key, n) => documents.get(id).is_some_and(|d| d[key] == json!(n)),
                Saved::Item(id, item) => documents
                    .get(id)
                    .and_then(|d| d["log"].as_array())
                    .is_some_and(|log| log.contains(&json!(item))),
            };
            if !found {
                return Err(format!(
                    "an edit reported saved is missing after convergence: {saved:?}"
                ));
            }
        }
        // The server's disk holds the same documents: nothing it acknowledged is lost.
        let server = {
            let durable = CrashStorage::new();
            let mut batch = Batch::new();
            for (key, value) in self.world.server_storage.durable_snapshot() {
                batch.put(key, value);
            }
            durable.apply(batch).map_err(|e| e.to_string())?;
            let docs = DocStore::new(Arc::new(durable));
            let mut server = BTreeMap::new();
            for id in expected.keys() {
                let bytes = docs
                    .load(id)
                    .map_err(|e| format!("the server's store cannot load {id}: {e}"))?
                    .ok_or_else(|| format!("the server's disk does not hold {id}"))?;
                let doc = Automerge::load(&bytes).map_err(|e| e.to_string())?;
                server.insert(*id, sorted(doc.get_heads()));
            }
            server
        };
        if server != expected {
            return Err(format!(
                "the server's durable documents differ from the replicas': server {}, replicas {}",
                describe(&server),
                describe(&expected)
            ));
        }
        // Each replica's disk holds what it shows: reopened from durable storage only.
        for index in 0..self.options.clients {
            *self.clients[index].host.replica.borrow_mut() = None;
            self.world.client_storage[index].crash(0);
            self.open(index)?;
            let mut replica = self.clients[index].host.replica.borrow_mut();
            let replica = replica.as_mut().expect("open");
            let reopened = heads_of(replica).map_err(|e| format!("replica {index}: {e}"))?;
            if reopened != expected {
                return Err(format!(
                    "replica {index} reopened from its disk holds {}, not {}",
                    describe(&reopened),
                    describe(&expected)
                ));
            }
        }
        self.world.outcome.documents = expected.len();
        let summary = describe(&expected);
        self.world.log(format!("final: {summary}"));
        Ok(())
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort_unstable();
    heads
}

fn heads_of(replica: &mut Replica) -> Result<BTreeMap<DocumentId, Vec<ChangeHash>>, ClientError> {
    let mut out = BTreeMap::new();
    for summary in replica.list()? {
        let bytes = replica.export_automerge(summary.id)?;
        let doc =
            Automerge::load(&bytes).map_err(|e| ClientError::InvalidAutomerge(e.to_string()))?;
        out.insert(summary.id, sorted(doc.get_heads()));
    }
    Ok(out)
}

fn describe(state: &BTreeMap<DocumentId, Vec<ChangeHash>>) -> String {
    let mut out = String::from("{");
    for (id, heads) in state {
        let heads: Vec<String> = heads
            .iter()
            .map(|h| h.to_string()[..8].to_owned())
            .collect();
        let _ = write!(out, " {}: [{}]", &id.to_string()[..6], heads.join(" "));
    }
    out.push_str(" }");
    out
}

fn describe_states(states: &[BTreeMap<DocumentId, Vec<ChangeHash>>]) -> String {
    states
        .iter()
        .enumerate()
        .map(|(index, state)| format!("replica {index}: {}", describe(state)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The seeds to run: `PASSERELLE_SIM_SEED` (one) or `PASSERELLE_SIM_BATCH` seeds from
/// `PASSERELLE_SIM_FIRST` (default 1), else `default_batch` seeds from 1.
pub fn seeds_from_env(default_batch: u64) -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
        })
    };
    if let Some(seed) = var("PASSERELLE_SIM_SEED") {
        return vec![seed];
    }
    let first = var("PASSERELLE_SIM_FIRST").unwrap_or(1);
    let batch = var("PASSERELLE_SIM_BATCH").unwrap_or(default_batch);
    (first..first + batch).collect()
}

//! What the sync tests share: a real passerelle server in-process (its library, over sled,
//! on 127.0.0.1:0), and transports that count or break requests.

#![allow(dead_code, unreachable_pub)]

pub mod programme_cli;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passerelle_client::{
    Backoff, ChangesPage, ClientError, HttpTransport, LoopConfig, Replica,
    ServerConfig as ClientServer, SyncLoop, SyncOptions, SyncReport, Transport,
};
use passerelle_core::batch::{self, SyncRequest, SyncResponse};
use passerelle_server::auth::{OrgName, Role, UserName};
use passerelle_server::{AppState, ServerConfig};
use passerelle_store::SledStorage;

/// A server on its own tokio runtime; the test thread stays synchronous, as the client is.
pub struct TestServer {
    pub url: String,
    pub state: AppState,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (state, url) = runtime.block_on(async {
            let storage = Arc::new(SledStorage::open(dir.path()).unwrap());
            let state = AppState::new(storage, ServerConfig::default());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            tokio::spawn(passerelle_server::run(
                listener,
                state.clone(),
                std::future::pending(),
            ));
            (state, url)
        });
        Self {
            url,
            state,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// A new user's token.
    pub fn user(&self, name: &str, org: &str, role: Role) -> String {
        self.state
            .auth()
            .add_user(
                &UserName::new(name).unwrap(),
                &OrgName::new(org).unwrap(),
                role,
            )
            .unwrap()
            .unwrap()
            .token
            .token
            .expose_secret()
            .to_owned()
    }

    pub fn editor(&self, name: &str) -> String {
        self.user(name, "cooperation", Role::Editor)
    }

    pub fn transport(&self, token: &str) -> HttpTransport {
        HttpTransport::new(&self.config(token)).unwrap()
    }

    pub fn config(&self, token: &str) -> ClientServer {
        ClientServer::new(&self.url, token).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Opens a replica configured for `server` with `token`.
pub fn replica(dir: &Path, server: &TestServer, token: &str) -> Replica {
    let replica = Replica::open(dir).unwrap();
    replica.configure_server(&server.config(token)).unwrap();
    replica
}

/// A pass with options, ignoring events; panics on error.
pub fn sync(replica: &mut Replica, transport: &dyn Transport) -> SyncReport {
    let report = replica
        .sync_with(transport, &fast_options(), &mut |_| {})
        .unwrap();
    assert!(report.is_complete(), "{report:?}");
    report
}

/// Default options with short retry pauses.
pub fn fast_options() -> SyncOptions {
    SyncOptions {
        retry_delay: Duration::from_millis(10),
        ..SyncOptions::default()
    }
}

/// A sync loop on `home` that polls and backs off in milliseconds (10 to 40 ms, seeded) and
/// does not retry inside a pass, so that tests see outages and recoveries quickly.
pub fn fast_loop<T: Transport + Send + Sync + 'static>(
    home: &Path,
    transport: T,
    seed: u64,
) -> SyncLoop<T> {
    let config = LoopConfig {
        long_poll: Duration::from_secs(2),
        local_check: Duration::from_millis(20),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        sync: SyncOptions {
            retries: 0,
            ..SyncOptions::default()
        },
    };
    SyncLoop::new(home, transport, config).with_backoff(Backoff::with_seed(
        Duration::from_millis(10),
        Duration::from_millis(40),
        seed,
    ))
}

/// One `POST /v1/sync` as seen on the wire.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Documents in the request.
    pub documents: usize,
    /// Of which with changes.
    pub with_changes: usize,
    /// Request body bytes.
    pub up: usize,
    /// Response body bytes.
    pub down: usize,
    /// Documents of the response that carried changes.
    pub received: usize,
}

/// Records every request made through it.
pub struct Counting<T> {
    pub inner: T,
    pub feeds: Mutex<Vec<usize>>,
    pub exchanges: Mutex<Vec<Exchange>>,
}

impl<T: Transport> Counting<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            feeds: Mutex::new(Vec::new()),
            exchanges: Mutex::new(Vec::new()),
        }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.feeds.lock().unwrap().len() + self.exchanges.lock().unwrap().len()
    }

    pub fn reset(&self) {
        self.feeds.lock().unwrap().clear();
        self.exchanges.lock().unwrap().clear();
    }
}

impl<T: Transport> Transport for Counting<T> {
    fn server(&self) -> String {
        self.inner.server()
    }

    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        let page = self.inner.changes(since, wait)?;
        self.feeds.lock().unwrap().push(page.wire_bytes);
        Ok(page)
    }

    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let request: SyncRequest = batch::decode(&body).unwrap();
        let up = body.len();
        let answer = self.inner.sync(body)?;
        let response: SyncResponse = batch::decode(&answer).unwrap();
        self.exchanges.lock().unwrap().push(Exchange {
            documents: request.documents.len(),
            with_changes: request
                .documents
                .iter()
                .filter(|d| !d.changes.is_empty())
                .count(),
            up,
            down: answer.len(),
            received: response
                .documents
                .iter()
                .filter(|d| !d.changes.is_empty())
                .count(),
        });
        Ok(answer)
    }
}

/// How a [`Faulty`] transport fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request never reaches the server.
    BeforeSending,
    /// The server acts on the request; its answer is lost.
    LoseAnswer,
    /// The server acts on the request; its answer is cut short at a random-ish offset.
    CutAnswer,
}

/// Fails requests (feed and sync alike) with the given fault: every `every`-th one, or each
/// with probability 1/2 from a seeded generator.
pub struct Faulty<T> {
    pub inner: T,
    pub every: usize,
    pub random: Option<Mutex<rand::rngs::StdRng>>,
    pub fault: Fault,
    pub calls: AtomicUsize,
    pub failures: AtomicUsize,
    pub healed: AtomicBool,
}

impl<T: Transport> Faulty<T> {
    /// Fails every `every`-th request.
    pub fn new(inner: T, every: usize, fault: Fault) -> Self {
        Self {
            inner,
            every,
            random: None,
            fault,
            calls: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            healed: AtomicBool::new(false),
        }
    }

    /// From now on, nothing fails.
    pub fn heal(&self) {
        self.healed.store(true, Ordering::SeqCst);
    }

    /// Fails half the requests, at random (seeded).
    pub fn random(inner: T, seed: u64, fault: Fault) -> Self {
        use rand::SeedableRng as _;
        Self {
            random: Some(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed))),
            ..Self::new(inner, 2, fault)
        }
    }

    /// Whether this call fails.
    fn fails(&self) -> bool {
        use rand::Rng as _;
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.healed.load(Ordering::SeqCst) {
            return false;
        }
        let fails = match &self.random {
            Some(rng) => rng.lock().unwrap().gen_bool(0.5),
            None => n.is_multiple_of(self.every),
        };
        if fails {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        fails
    }

    fn dropped(&self) -> ClientError {
        ClientError::Unreachable {
            server: self.inner.server(),
            reason: "connection reset by the test".to_owned(),
        }
    }
}

impl<T: Transport> Transport for Faulty<T> {
    fn server(&self) -> String {
        self.inner.server()
    }

    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        if self.fails() {
            if self.fault == Fault::BeforeSending {
                return Err(self.dropped());
            }
            // The server answered; the answer is lost.
            self.inner.changes(since, wait)?;
            return Err(self.dropped());
        }
        self.inner.changes(since, wait)
    }

    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        if !self.fails() {
            return self.inner.sync(body);
        }
        match self.fault {
            Fault::BeforeSending => Err(self.dropped()),
            Fault::LoseAnswer => {
                self.inner.sync(body)?;
                Err(self.dropped())
            }
            Fault::CutAnswer => {
                let mut answer = self.inner.sync(body)?;
                let n = self.calls.load(Ordering::SeqCst);
                let keep = (n * 7919) % answer.len().max(1);
                answer.truncate(keep);
                Ok(answer)
            }
        }
    }
}

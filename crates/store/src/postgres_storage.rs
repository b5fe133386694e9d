//! [`PostgresStorage`]: the networked backend, one table in a PostgreSQL database.
//!
//! ```text
//! passerelle_kv   (key bytea PRIMARY KEY, value bytea NOT NULL)   every key, framed value
//! passerelle_meta (name text PRIMARY KEY, value text NOT NULL)    schema_version = 1
//! ```
//!
//! Keys are [`StorageKey`]'s order-preserving bytes; PostgreSQL orders `bytea` byte by byte
//! (shorter first on a common prefix), the same order as sled's, so a prefix scan is a key
//! range (`key >= prefix AND key < successor(prefix)`) on the primary key's index. Values are
//! framed and checked like sled's (`frame.rs`).
//!
//! Connections: a small pool of worker threads, each owning one synchronous
//! `postgres::Client`. A call hands its work to a worker over a channel and waits for the
//! answer. `postgres::Client` drives its own single-threaded tokio runtime, which panics when
//! it is used, or dropped, on a thread that is inside another runtime (a tokio worker thread);
//! with the clients on threads of their own, [`PostgresStorage`] can be called from anywhere
//! (blocking, like sled) and dropped anywhere, and the server's call paths need no audit for
//! it. A lost connection is reopened by its worker at the next call.
//!
//! Group commit: [`Storage::apply_deferred`] only records the batch in memory, where this
//! process's reads find it at once; [`Storage::flush`] commits everything recorded so far in
//! one transaction (one statement when it only puts). The server's writer applies a whole
//! group of appends and authorship records, then flushes once, so a group costs one commit
//! and one round trip instead of one of each per write.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Statement};

use crate::storage::check_batch;
use crate::{Batch, Op, Storage, StorageError, StorageKey, frame};

/// The schema this build writes and reads. A database with a higher version was written by a
/// newer passerelle and is refused rather than misread.
pub const POSTGRES_SCHEMA_VERSION: i32 = 1;

/// Connections (and worker threads) per [`PostgresStorage`]: the server's writer thread plus a
/// few concurrent token, ACL and listing reads.
pub const DEFAULT_POSTGRES_CONNECTIONS: usize = 4;

/// How long opening a connection may take when the URL does not say (`connect_timeout=`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a batch is tried again when PostgreSQL aborts its transaction to resolve a
/// deadlock with another writer (two processes writing the same keys).
const DEADLOCK_RETRIES: usize = 8;

/// The most keys one statement of [`Storage::get_many`] asks for.
const GET_MANY_KEYS: usize = 1_000;

/// The key of the advisory lock held while the schema is created, so that processes
/// starting at once on an empty database do not race on `CREATE TABLE`. ("psl-kv" in ASCII.)
const SCHEMA_LOCK_KEY: i64 = 0x7073_6c2d_6b76;

/// A [`Storage`] in a PostgreSQL database, which several processes may use at once.
///
/// - [`Storage::apply_deferred`] keeps the batch in memory (see the module's "group
///   commit"): this process's reads see it at once, other processes once a later
///   [`Storage::flush`] has committed it. [`Storage::flush`] commits every batch kept so far
///   in one transaction, with PostgreSQL's default `synchronous_commit`, so it returns once
///   they are durable; [`Storage::apply`] is a deferred batch and a flush. A failed commit
///   keeps the batches for the next flush (nothing accepted is dropped because the database
///   was briefly away); dropping the storage flushes what is left. Batches from several
///   processes writing the same keys are safe: puts are `INSERT … ON CONFLICT DO UPDATE`,
///   rows are locked in key order, and a transaction PostgreSQL aborts on a deadlock is
///   tried again.
/// - Reads see committed data and this process's uncommitted batches; a scan's database part
///   is one statement, a consistent snapshot.
/// - [`Storage::is_shared`] is `true`: other processes may change the data at any time.
///
/// The schema is created on connect if missing; a newer schema version is refused.
pub struct PostgresStorage {
    url: String,
    display_url: String,
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Advisory locks ([`Storage::try_lock`]), on a connection of their own.
    locks: crate::postgres_lock::PostgresLocks,
    /// Connections for calls from threads that may block (see [`blocking_section`]).
    direct: DirectPool,
    /// Batches applied and not yet committed.
    pending: Mutex<Pending>,
    /// The number of the last batch committed; held while a flush commits, so that a flush
    /// that must wait for another's commit waits rather than returns early.
    committed: Mutex<u64>,
}

/// A framed value to store, or `None` to delete: shared between the pending writes and a
/// commit under way.
type Value = Option<Arc<Vec<u8>>>;

/// A key (ordered bytes) and what to write there.
type Write = (Vec<u8>, Value);

/// Batches applied with [`Storage::apply_deferred`] and not yet committed: the newest write
/// of each key (its framed value, or `None` for a deletion) with the number of the batch
/// that made it. Applying the newest write of each key is the same as applying the batches
/// in order, and committing them all in one transaction keeps each batch whole.
#[derive(Default)]
struct Pending {
    writes: BTreeMap<Vec<u8>, (u64, Value)>,
    /// The number of the last batch applied (batches are numbered from 1).
    applied: u64,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL itself: it may hold the password.
        f.debug_struct("PostgresStorage")
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

/// Work for a worker thread, given its connection.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// One worker's connection, opened on first use and again after it is lost.
struct Connection {
    config: postgres::Config,
    tls: crate::PostgresTls,
    host: String,
    open: Option<(Client, Statements)>,
}

/// The statements every call uses, prepared once per connection (a statement given as text
/// costs a second round trip per call).
struct Statements {
    get: Statement,
    get_many: Statement,
    scan: Statement,
    scan_to_end: Statement,
    keys: Statement,
    keys_to_end: Statement,
    put: Statement,
    delete: Statement,
    put_many: Statement,
    delete_many: Statement,
    lock_many: Statement,
}

impl Connection {
    /// The open client, connecting first if there is none or it was closed.
    fn client(&mut self) -> Result<(&mut Client, &Statements), StorageError> {
        if self
            .open
            .as_ref()
            .is_some_and(|(client, _)| client.is_closed())
        {
            self.open = None;
        }
        if self.open.is_none() {
            let mut client = self
                .config
                .connect(self.tls.clone())
                .map_err(|error| crate::postgres_tls::connect_error(&self.host, &error))?;
            create_schema(&mut client, &self.host)?;
            let statements = Statements::prepare(&mut client, &self.host)?;
            self.open = Some((client, statements));
        }
        let (client, statements) = self.open.as_mut().expect("opened above");
        Ok((client, statements))
    }
}

impl Statements {
    fn prepare(client: &mut Client, host: &str) -> Result<Self, StorageError> {
        let mut prepare = |sql: &str| client.prepare(sql).map_err(|e| db_error(host, e));
        Ok(Self {
            get: prepare("SELECT value FROM passerelle_kv WHERE key = $1")?,
            get_many: prepare("SELECT key, value FROM passerelle_kv WHERE key = ANY($1::bytea[])")?,
            scan: prepare(
                "SELECT key, value FROM passerelle_kv WHERE key >= $1 AND key < $2 ORDER BY key",
            )?,
            scan_to_end: prepare(
                "SELECT key, value FROM passerelle_kv WHERE key >= $1 ORDER BY key",
            )?,
            keys: prepare(
                "SELECT key FROM passerelle_kv WHERE key >= $1 AND key < $2 ORDER BY key",
            )?,
            keys_to_end: prepare("SELECT key FROM passerelle_kv WHERE key >= $1 ORDER BY key")?,
            put: prepare(
                "INSERT INTO passerelle_kv (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )?,
            delete: prepare("DELETE FROM passerelle_kv WHERE key = $1")?,
            put_many: prepare(
                "INSERT INTO passerelle_kv (key, value) \
                 SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )?,
            delete_many: prepare("DELETE FROM passerelle_kv WHERE key = ANY($1::bytea[])")?,
            lock_many: prepare(
                "SELECT key FROM passerelle_kv WHERE key = ANY($1::bytea[]) \
                 ORDER BY key FOR UPDATE",
            )?,
        })
    }
}

/// A PostgreSQL error as a [`StorageError::Io`] naming the server (never the password).
fn db_error(host: &str, error: postgres::Error) -> StorageError {
    // `postgres::Error` displays a server's error as "db error" only; say what it was.
    match error.as_db_error() {
        Some(db) => StorageError::Io(format!(
            "PostgreSQL at {host}: {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        )),
        None => StorageError::Io(format!("PostgreSQL at {host}: {error}")),
    }
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`, or
    /// the `key=value` form), creates the schema if it is missing and checks its version,
    /// with [`DEFAULT_POSTGRES_CONNECTIONS`] connections.
    ///
    /// Errors: [`StorageError::Io`] naming the host when the server cannot be reached (within
    /// the URL's `connect_timeout`, 10 s by default) or refuses us; [`StorageError::Invalid`]
    /// for a URL that does not parse or a schema newer than this build's.
    pub fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with(url, DEFAULT_POSTGRES_CONNECTIONS)
    }

    /// [`PostgresStorage::connect`] with `connections` connections (at least one).
    pub fn connect_with(url: &str, connections: usize) -> Result<Self, StorageError> {
        let display_url = display_url(url);
        let (mut config, tls) = crate::postgres_tls::storage_config(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("passerelle");
        }
        let host = hosts(&config);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..connections.max(1))
            .map(|n| {
                let receiver = Arc::clone(&receiver);
                let connection = Connection {
                    config: config.clone(),
                    tls: tls.clone(),
                    host: host.clone(),
                    open: None,
                };
                std::thread::Builder::new()
                    .name(format!("postgres-{n}"))
                    .spawn(move || work(connection, &receiver))
                    .map_err(|e| StorageError::Io(format!("could not start a thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let storage = Self {
            url: url.to_owned(),
            display_url,
            jobs: Some(sender),
            workers,
            locks: crate::postgres_lock::PostgresLocks::new(
                config.clone(),
                tls.clone(),
                host.clone(),
            ),
            direct: DirectPool::new(config.clone(), tls, host.clone()),
            pending: Mutex::new(Pending::default()),
            committed: Mutex::new(0),
        };
        // Opens a first connection (creating the schema), so that a wrong URL, an unreachable
        // server or a newer schema is an error here rather than at the first write.
        storage.run(false, |_, _| Ok(()))?;
        Ok(storage)
    }

    /// The URL given to [`PostgresStorage::connect`], password included: for opening more
    /// connections to the same database (LISTEN/NOTIFY). Never log it; see
    /// [`PostgresStorage::display_url`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL without its password, for logs and messages.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Runs `work` on a worker's connection and waits for its answer. With `retry_if_lost`
    /// (reads), work that fails because the connection was lost under it (a PostgreSQL
    /// restart, a terminated backend) runs once more on a new connection: each worker only
    /// learns that its connection is dead when it next uses it.
    fn run<R: Send + 'static>(
        &self,
        retry_if_lost: bool,
        work: impl Fn(&mut Client, &Statements) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StorageError> {
        let call = move |connection: &mut Connection| {
            let host = connection.host.clone();
            // A failed statement leaves a live connection usable; a dead one is reopened at
            // the next call (`Connection::client`).
            let attempt = |connection: &mut Connection| match connection.client() {
                Ok((client, statements)) => work(client, statements),
                Err(error) => Err(Failure::Storage(error)),
            };
            let mut result = attempt(connection);
            if retry_if_lost && matches!(&result, Err(Failure::Db(error)) if connection_lost(error))
            {
                connection.open = None;
                result = attempt(connection);
            }
            result.map_err(|failure| match failure {
                Failure::Db(error) => db_error(&host, error),
                Failure::Storage(error) => error,
            })
        };
        // On a thread that may block (see `blocking_section`), on a connection of the
        // direct pool: no hand-off to a worker and back.
        if MAY_BLOCK.get()
            && let Some(mut direct) = self.direct.take()
        {
            return call(direct.connection());
        }
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |connection: &mut Connection| {
            // The caller waits for this answer, so it cannot have gone.
            let _ = answer.send(call(connection));
        });
        let gone = || StorageError::Io("the PostgreSQL connection threads have stopped".to_owned());
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }
}

thread_local! {
    /// Set by [`blocking_section`] on a thread that drives no async task.
    static MAY_BLOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `work` with the current thread marked as one that drives no async task (a thread of
/// tokio's blocking pool inside `spawn_blocking`, or a thread of one's own), where a
/// [`PostgresStorage`] may run its statements itself instead of handing them to its
/// connection threads and waiting (two thread switches per call, which cost more CPU than
/// the statement). Elsewhere calls hand off as always, so marking is only ever an
/// optimisation; marking a thread that runs async tasks would make its calls panic (a
/// `postgres::Client` drives a runtime of its own). Nested sections are fine.
pub fn blocking_section<R>(work: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            MAY_BLOCK.set(self.0);
        }
    }
    let _restore = Restore(MAY_BLOCK.replace(true));
    work()
}

/// Connections that calls from threads in a [`blocking_section`] use themselves, opened on
/// demand up to [`DIRECT_CONNECTIONS`]; when all are in use a call hands off to the
/// connection threads instead of waiting.
struct DirectPool {
    config: postgres::Config,
    tls: crate::PostgresTls,
    host: String,
    state: Mutex<DirectState>,
}

struct DirectState {
    idle: Vec<Connection>,
    /// Connections that exist, idle or in use.
    opened: usize,
}

/// Connections of the direct pool, at most.
const DIRECT_CONNECTIONS: usize = 4;

/// A connection of the direct pool, given back when dropped.
struct DirectConnection<'a> {
    pool: &'a DirectPool,
    connection: Option<Connection>,
}

impl DirectConnection<'_> {
    fn connection(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("held until dropped")
    }
}

impl Drop for DirectConnection<'_> {
    fn drop(&mut self) {
        let connection = self.connection.take().expect("held until dropped");
        let mut state = self.pool.state();
        if std::thread::panicking() {
            // Its state is unknown: forget it (it closes here, on a thread that may block).
            state.opened -= 1;
        } else {
            state.idle.push(connection);
        }
    }
}

impl DirectPool {
    fn new(config: postgres::Config, tls: crate::PostgresTls, host: String) -> Self {
        Self {
            config,
            tls,
            host,
            state: Mutex::new(DirectState {
                idle: Vec::new(),
                opened: 0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, DirectState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, a new one (not yet connected) if fewer than the maximum exist,
    /// or `None`.
    fn take(&self) -> Option<DirectConnection<'_>> {
        let mut state = self.state();
        let connection = match state.idle.pop() {
            Some(connection) => connection,
            None if state.opened < DIRECT_CONNECTIONS => {
                state.opened += 1;
                Connection {
                    config: self.config.clone(),
                    tls: self.tls.clone(),
                    host: self.host.clone(),
                    open: None,
                }
            }
            None => return None,
        };
        Some(DirectConnection {
            pool: self,
            connection: Some(connection),
        })
    }

    /// Every idle connection, to close on a thread where that is allowed.
    fn drain(&self) -> Vec<Connection> {
        std::mem::take(&mut self.state().idle)
    }
}

/// Whether `error` says the connection is gone (closed, or its backend ended by the server:
/// SQLSTATE class 57, operator intervention), rather than that a statement failed.
fn connection_lost(error: &postgres::Error) -> bool {
    error.is_closed()
        || error
            .as_db_error()
            .is_some_and(|db| db.code().code().starts_with("57"))
}

/// What a call's work can fail with: PostgreSQL (named with its host by [`PostgresStorage::run`])
/// or what was read (a corrupt value).
enum Failure {
    Db(postgres::Error),
    Storage(StorageError),
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        Self::Db(error)
    }
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

/// Creates the tables if they are missing and checks the schema version, under an advisory
/// lock so that processes starting at once on an empty database do not race.
fn create_schema(client: &mut Client, host: &str) -> Result<(), StorageError> {
    let mut transaction = client.transaction().map_err(|e| db_error(host, e))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
        .map_err(|e| db_error(host, e))?;
    // Without this, every connection would log PostgreSQL's notice that the tables exist.
    transaction
        .batch_execute("SET LOCAL client_min_messages = warning")
        .map_err(|e| db_error(host, e))?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS passerelle_kv (key bytea PRIMARY KEY, value bytea NOT NULL);
             CREATE TABLE IF NOT EXISTS passerelle_meta (name text PRIMARY KEY, value text NOT NULL);",
        )
        .map_err(|e| db_error(host, e))?;
    transaction
        .execute(
            "INSERT INTO passerelle_meta (name, value) VALUES ('schema_version', $1) \
             ON CONFLICT (name) DO NOTHING",
            &[&POSTGRES_SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| db_error(host, e))?;
    let row = transaction
        .query_one(
            "SELECT value FROM passerelle_meta WHERE name = 'schema_version'",
            &[],
        )
        .map_err(|e| db_error(host, e))?;
    let version: String = row.get(0);
    match version.parse::<i32>() {
        Ok(version) if version <= POSTGRES_SCHEMA_VERSION => {}
        Ok(version) => {
            return Err(StorageError::Invalid(format!(
                "the database at {host} has passerelle schema version {version}; this build \
                 reads version {POSTGRES_SCHEMA_VERSION} at most: run a newer passerelle-server"
            )));
        }
        Err(_) => {
            return Err(StorageError::Corrupt {
                key: "passerelle_meta.schema_version".to_owned(),
                reason: format!("not a version number: {version:?}"),
            });
        }
    }
    transaction.commit().map_err(|e| db_error(host, e))
}

/// The worker loop: takes jobs until the storage is dropped.
fn work(mut connection: Connection, jobs: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(&mut connection),
            Err(mpsc::RecvError) => return,
        }
    }
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        if let Err(error) = self.flush() {
            tracing::error!(
                "could not commit the last writes to PostgreSQL at {}: {error}",
                self.display_url
            );
        }
        // A `postgres::Client` must not be dropped on a thread that drives async tasks, which
        // this one may be: the direct pool's connections close on a thread of their own.
        let direct = self.direct.drain();
        if !direct.is_empty() {
            let _ = std::thread::spawn(move || drop(direct)).join();
        }
        // Closing the channel ends every worker after its current job; each closes its
        // connection on its own thread.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// The hosts and ports of `config`, for messages: `db.example:5432`.
fn hosts(config: &postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(n, host)| {
            let port = ports.get(n).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    }
}

/// `url` without its password, for logs: the user-info's password of a URL and any
/// `password=` parameter (URL query or `key=value` form) are dropped.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // The `key=value` form.
        return url
            .split_whitespace()
            .filter(|pair| !pair.to_ascii_lowercase().starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(slash) => before_query.split_at(slash),
        None => (before_query, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{user}@{hosts}")
        }
        None => authority.to_owned(),
    };
    let mut shown = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            shown.push('?');
            shown.push_str(&kept.join("&"));
        }
    }
    shown
}

/// The last write of each key in `batch`, in key order, values framed: applying these is the
/// same as applying the batch's writes in order. (PostgreSQL refuses an `INSERT … ON
/// CONFLICT` that touches one row twice, and key order keeps the row locks of concurrent
/// batches in one order.)
fn final_writes(batch: Batch) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut writes = BTreeMap::new();
    for op in batch.ops {
        match op {
            Op::Put(key, value) => writes.insert(key.to_ordered_bytes(), Some(frame::seal(&value))),
            Op::Delete(key) => writes.insert(key.to_ordered_bytes(), None),
        };
    }
    writes
}

/// Whether PostgreSQL aborted the transaction to break a deadlock or a serialisation
/// conflict: trying again is safe, nothing of it was applied.
fn is_retryable(error: &postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// Writes to commit, keys ascending.
type Writes = [Write];

/// Commits `writes` in one transaction: one statement when there is no deletion (a statement
/// is a transaction of its own, and it locks its rows in the order given, key order).
fn write_all(
    client: &mut Client,
    statements: &Statements,
    writes: &Writes,
) -> Result<(), postgres::Error> {
    let mut deleted: Vec<&[u8]> = Vec::new();
    let (mut keys, mut values): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    for (key, value) in writes {
        match value {
            Some(value) => {
                keys.push(key);
                values.push(value);
            }
            None => deleted.push(key),
        }
    }
    match (keys.as_slice(), values.as_slice(), deleted.as_slice()) {
        ([key], [value], []) => {
            client.execute(&statements.put, &[key, value])?;
            return Ok(());
        }
        (_, _, []) => {
            client.execute(&statements.put_many, &[&keys, &values])?;
            return Ok(());
        }
        ([], _, [key]) => {
            client.execute(&statements.delete, &[key])?;
            return Ok(());
        }
        _ => {}
    }
    let mut transaction = client.transaction()?;
    // Lock the existing rows in key order first: the delete and the insert below would
    // otherwise lock them in two passes, which can deadlock with another process's commit
    // of the same keys.
    let all: Vec<&[u8]> = writes.iter().map(|(key, _)| key.as_slice()).collect();
    transaction.execute(&statements.lock_many, &[&all])?;
    transaction.execute(&statements.delete_many, &[&deleted])?;
    if !keys.is_empty() {
        transaction.execute(&statements.put_many, &[&keys, &values])?;
    }
    transaction.commit()
}

impl PostgresStorage {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Every update of `Pending` leaves it whole: a panic elsewhere cannot break it.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The uncommitted writes of keys in `start..end` (to the end when `None`), in key order.
    fn pending_in(&self, start: &[u8], end: Option<&[u8]>) -> Vec<Write> {
        use std::ops::Bound;
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        self.pending()
            .writes
            .range::<[u8], _>((Bound::Included(start), upper))
            .map(|(key, (_, value))| (key.clone(), value.clone()))
            .collect()
    }

    /// Forgets every batch applied and not yet committed, as the end of the process would;
    /// returns how many writes were pending. For simulations of a crash (the test suites'
    /// `CrashStorage`); a server never calls it.
    pub fn discard_pending(&self) -> usize {
        let _committing = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut self.pending().writes).len()
    }

    /// Commits `writes` (see [`write_all`]), trying again when PostgreSQL aborts the
    /// transaction to break a deadlock with another process.
    fn commit(&self, writes: Vec<Write>) -> Result<(), StorageError> {
        self.run(false, move |client, statements| {
            let mut tries = 0;
            loop {
                match write_all(client, statements, &writes) {
                    Ok(()) => return Ok(()),
                    Err(error) if is_retryable(&error) && tries < DEADLOCK_RETRIES => {
                        tries += 1;
                        tracing::debug!("a PostgreSQL commit was aborted ({error}); trying again");
                        // Back off (2, 4, 8, … ms, plus 0–3 ms at random) so that
                        // the writers that collided do not collide again.
                        let jitter = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |now| u64::from(now.subsec_micros() % 4));
                        std::thread::sleep(Duration::from_millis((1 << tries) + jitter));
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        })
    }
}

/// `entries` from the database (in key order) with the uncommitted writes of the same range
/// laid over them: a pending put replaces or adds its key, a pending deletion removes it.
fn overlay<T>(
    entries: Vec<(StorageKey, T)>,
    pending: Vec<Write>,
    value: impl Fn(&StorageKey, &[u8]) -> Result<T, StorageError>,
) -> Result<Vec<(StorageKey, T)>, StorageError> {
    if pending.is_empty() {
        return Ok(entries);
    }
    let mut merged: BTreeMap<Vec<u8>, (StorageKey, T)> = entries
        .into_iter()
        .map(|(key, value)| (key.to_ordered_bytes(), (key, value)))
        .collect();
    for (bytes, write) in pending {
        match write {
            Some(framed) => {
                let key = StorageKey::from_ordered_bytes(&bytes)?;
                let value = value(&key, &framed)?;
                merged.insert(bytes, (key, value));
            }
            None => {
                merged.remove(&bytes);
            }
        }
    }
    Ok(merged.into_values().collect())
}

impl Storage for PostgresStorage {
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        let bytes = key.to_ordered_bytes();
        // A write not yet committed is the newest this process knows. Looked up before the
        // database: a flush removes a write from `pending` only once it is committed.
        let pending = self
            .pending()
            .writes
            .get(&bytes)
            .map(|(_, value)| value.clone());
        if let Some(write) = pending {
            return write.map(|framed| frame::open(key, &framed)).transpose();
        }
        let key = key.clone();
        self.run(true, move |client, statements| {
            let row = client.query_opt(&statements.get, &[&bytes])?;
            match row {
                Some(row) => Ok(Some(frame::open(&key, row.get::<_, &[u8]>(0))?)),
                None => Ok(None),
            }
        })
    }

    fn get_many(&self, keys: &[StorageKey]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let bytes: Vec<Vec<u8>> = keys.iter().map(StorageKey::to_ordered_bytes).collect();
        // As in `get`: uncommitted writes first, the database for the other keys.
        let pending: Vec<Option<Value>> = {
            let pending = self.pending();
            bytes
                .iter()
                .map(|key| pending.writes.get(key).map(|(_, value)| value.clone()))
                .collect()
        };
        let wanted: Vec<Vec<u8>> = bytes
            .iter()
            .zip(&pending)
            .filter(|(_, write)| write.is_none())
            .map(|(key, _)| key.clone())
            .collect();
        let stored: std::collections::HashMap<Vec<u8>, Vec<u8>> = if wanted.is_empty() {
            std::collections::HashMap::new()
        } else {
            self.run(true, move |client, statements| {
                let mut stored = std::collections::HashMap::new();
                // Statements of bounded size, however many keys are asked for.
                for part in wanted.chunks(GET_MANY_KEYS) {
                    for row in client.query(&statements.get_many, &[&part])? {
                        stored.insert(row.get::<_, Vec<u8>>(0), row.get::<_, Vec<u8>>(1));
                    }
                }
                Ok(stored)
            })?
        };
        keys.iter()
            .zip(bytes)
            .zip(pending)
            .map(|((key, bytes), write)| match write {
                Some(write) => write.map(|framed| frame::open(key, &framed)).transpose(),
                // `get`, not `remove`: a key may be asked for twice.
                None => stored
                    .get(&bytes)
                    .map(|framed| frame::open(key, framed))
                    .transpose(),
            })
            .collect()
    }

    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let (start, end) = prefix.ordered_range();
        let pending = self.pending_in(&start, end.as_deref());
        let entries = self.run(true, move |client, statements| {
            let rows = match &end {
                Some(end) => client.query(&statements.scan, &[&start, end]),
                None => client.query(&statements.scan_to_end, &[&start]),
            }?;
            let entries: Result<Vec<_>, StorageError> = rows
                .iter()
                .map(|row| {
                    let key = StorageKey::from_ordered_bytes(row.get::<_, &[u8]>(0))?;
                    let value = frame::open(&key, row.get::<_, &[u8]>(1))?;
                    Ok((key, value))
                })
                .collect();
            Ok(entries?)
        })?;
        overlay(entries, pending, frame::open)
    }

    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        let (start, end) = prefix.ordered_range();
        let pending = self.pending_in(&start, end.as_deref());
        let keys = self.run(true, move |client, statements| {
            let rows = match &end {
                Some(end) => client.query(&statements.keys, &[&start, end]),
                None => client.query(&statements.keys_to_end, &[&start]),
            }?;
            let keys: Result<Vec<_>, StorageError> = rows
                .iter()
                .map(|row| StorageKey::from_ordered_bytes(row.get::<_, &[u8]>(0)))
                .collect();
            Ok(keys?)
        })?;
        let keys = keys.into_iter().map(|key| (key, ())).collect();
        Ok(overlay(keys, pending, |_, _| Ok(()))?
            .into_iter()
            .map(|(key, ())| key)
            .collect())
    }

    /// Keeps the batch for the next flush; this process's reads see it at once (see the
    /// type's doc).
    fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
        check_batch(&batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        let writes = final_writes(batch);
        let mut pending = self.pending();
        pending.applied += 1;
        let number = pending.applied;
        for (key, value) in writes {
            pending.writes.insert(key, (number, value.map(Arc::new)));
        }
        Ok(())
    }

    /// Commits every batch applied so far in one transaction (all of them or none), and
    /// waits for a commit already under way if it holds batches applied before the call.
    fn flush(&self) -> Result<(), StorageError> {
        let wanted = self.pending().applied;
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *committed >= wanted {
            return Ok(());
        }
        let (through, writes): (u64, Vec<_>) = {
            let pending = self.pending();
            let writes = pending
                .writes
                .iter()
                .map(|(key, (_, value))| (key.clone(), value.clone()))
                .collect();
            (pending.applied, writes)
        };
        // On failure the writes stay pending: reads still see them, and the next flush
        // commits them.
        if !writes.is_empty() {
            self.commit(writes)?;
        }
        *committed = through;
        // Writes made since `through` stay pending for the next flush.
        self.pending()
            .writes
            .retain(|_, (number, _)| *number > through);
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    /// A session-level advisory lock, on a connection kept for locks (see `postgres_lock.rs`).
    fn try_lock(&self, name: &[u8]) -> Result<Option<crate::StorageLock>, StorageError> {
        Ok(self.locks.try_lock(name)?.map(crate::StorageLock::held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_displayed_url_has_no_password() {
        assert_eq!(
            display_url("postgres://passerelle:s3cret@db.example:5432/prog?sslmode=disable"),
            "postgres://passerelle@db.example:5432/prog?sslmode=disable"
        );
        assert_eq!(
            display_url("postgresql://u@h/db?password=s3cret&connect_timeout=2"),
            "postgresql://u@h/db?connect_timeout=2"
        );
        assert_eq!(display_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            display_url("host=h user=u password=s3cret dbname=d"),
            "host=h user=u dbname=d"
        );
        // A password holding `@` (percent-encoded in a URL, or not).
        assert_eq!(display_url("postgres://u:a%40b@h/db"), "postgres://u@h/db");
        assert_eq!(display_url("postgres://u:a@b@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn a_batch_keeps_the_last_write_of_each_key() {
        let key = |name: &str| StorageKey::try_new([name]).unwrap();
        let mut batch = Batch::new();
        batch
            .put(key("b"), b"1".to_vec())
            .put(key("a"), b"2".to_vec())
            .delete(key("b"))
            .delete(key("c"))
            .put(key("c"), b"3".to_vec());
        let writes = final_writes(batch);
        let order: Vec<_> = writes.keys().cloned().collect();
        assert_eq!(
            order,
            vec![
                key("a").to_ordered_bytes(),
                key("b").to_ordered_bytes(),
                key("c").to_ordered_bytes()
            ]
        );
        assert_eq!(writes[&key("b").to_ordered_bytes()], None);
        assert_eq!(
            writes[&key("c").to_ordered_bytes()],
            Some(frame::seal(b"3"))
        );
    }
}

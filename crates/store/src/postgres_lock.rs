//! [`PostgresLocks`]: named locks that every process on one PostgreSQL database respects
//! (PostgreSQL's session-level advisory locks), for [`Storage::try_lock`](crate::Storage).
//!
//! One connection, on a thread of its own (a `postgres::Client` must not be driven inside a
//! tokio runtime), opened at the first lock and reopened after it is lost; it holds every
//! lock this process takes. A lost connection releases its locks in PostgreSQL: the holder
//! is not told, so a lock only ever guards work that stays correct without it (a compaction
//! deletes only what it read) and saves the rest from racing in the common case.

use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};

use postgres::{Client, Statement};
use sha2::{Digest, Sha256};

use crate::{PostgresTls, StorageError};

enum LockJob {
    TryLock(i64, mpsc::SyncSender<Result<bool, StorageError>>),
    Unlock(i64),
}

/// The lock connection of a [`PostgresStorage`](crate::PostgresStorage).
pub(crate) struct PostgresLocks {
    config: postgres::Config,
    tls: PostgresTls,
    host: String,
    jobs: Mutex<Option<mpsc::Sender<LockJob>>>,
}

/// A held lock; released when dropped.
pub(crate) struct HeldLock {
    key: i64,
    jobs: mpsc::Sender<LockJob>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.jobs.send(LockJob::Unlock(self.key));
    }
}

impl PostgresLocks {
    pub(crate) fn new(config: postgres::Config, tls: PostgresTls, host: String) -> Self {
        Self {
            config,
            tls,
            host,
            jobs: Mutex::new(None),
        }
    }

    /// Takes the lock named `name` if no other process (connection) holds it.
    pub(crate) fn try_lock(&self, name: &[u8]) -> Result<Option<HeldLock>, StorageError> {
        let key = lock_key(name);
        let jobs = self.jobs()?;
        let (answer, answered) = mpsc::sync_channel(1);
        let gone = || StorageError::Io("the PostgreSQL lock thread has stopped".to_owned());
        jobs.send(LockJob::TryLock(key, answer))
            .map_err(|_| gone())?;
        let taken = answered.recv().map_err(|_| gone())??;
        Ok(taken.then_some(HeldLock { key, jobs }))
    }

    /// The lock thread's queue, starting the thread at the first call.
    fn jobs(&self) -> Result<mpsc::Sender<LockJob>, StorageError> {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(jobs) = jobs.as_ref() {
            return Ok(jobs.clone());
        }
        let (sender, receiver) = mpsc::channel();
        let (config, tls, host) = (self.config.clone(), self.tls.clone(), self.host.clone());
        std::thread::Builder::new()
            .name("postgres-locks".into())
            .spawn(move || hold_locks(&config, &tls, &host, &receiver))
            .map_err(|e| StorageError::Io(format!("could not start a thread: {e}")))?;
        *jobs = Some(sender.clone());
        Ok(sender)
    }
}

impl Drop for PostgresLocks {
    fn drop(&mut self) {
        // The thread ends once every held lock's sender is gone too.
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// The lock connection with its two statements, prepared once (a statement sent as text is
/// parsed again at every call, a round trip more).
struct LockClient {
    client: Client,
    try_lock: Statement,
    unlock: Statement,
}

impl LockClient {
    fn connect(
        config: &postgres::Config,
        tls: &PostgresTls,
        host: &str,
    ) -> Result<Self, StorageError> {
        let failed = |error: postgres::Error| crate::postgres_tls::connect_error(host, &error);
        let mut client = config.connect(tls.clone()).map_err(failed)?;
        let try_lock = client
            .prepare("SELECT pg_try_advisory_lock($1)")
            .map_err(failed)?;
        let unlock = client
            .prepare("SELECT pg_advisory_unlock($1)")
            .map_err(failed)?;
        Ok(Self {
            client,
            try_lock,
            unlock,
        })
    }
}

fn hold_locks(
    config: &postgres::Config,
    tls: &PostgresTls,
    host: &str,
    jobs: &mpsc::Receiver<LockJob>,
) {
    let mut connection: Option<LockClient> = None;
    while let Ok(job) = jobs.recv() {
        if connection
            .as_ref()
            .is_some_and(|open| open.client.is_closed())
        {
            connection = None;
        }
        match job {
            LockJob::TryLock(key, answer) => {
                let result = (|| {
                    if connection.is_none() {
                        connection = Some(LockClient::connect(config, tls, host)?);
                    }
                    let open = connection.as_mut().expect("connected above");
                    let row = open
                        .client
                        .query_one(&open.try_lock, &[&key])
                        .map_err(|e| StorageError::Io(format!("PostgreSQL at {host}: {e}")))?;
                    Ok(row.get::<_, bool>(0))
                })();
                if result.is_err() {
                    connection = None;
                }
                let _ = answer.send(result);
            }
            LockJob::Unlock(key) => {
                if let Some(open) = connection.as_mut()
                    && let Err(error) = open.client.execute(&open.unlock, &[&key])
                {
                    tracing::warn!("could not release a PostgreSQL advisory lock: {error}");
                    connection = None;
                }
            }
        }
    }
}

/// The advisory lock key of a name: the first 8 bytes of its SHA-256, in a space of its own
/// (`passerelle/` first).
fn lock_key(name: &[u8]) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(b"passerelle/");
    hasher.update(name);
    let digest = hasher.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

//! The [`Storage`] trait: a narrow, durable key-value interface that every backend implements.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::StorageKey;

/// A failure of the storage backend (I/O, corruption). Expected outcomes such as "not found"
/// are values (`Ok(None)`), not errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend could not read or write.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// A stored value failed its checksum or could not be decoded: the disk holds something
    /// we did not write. Never silently accepted.
    #[error("stored value at {key} is corrupt: {reason}")]
    Corrupt {
        /// The key as displayed (`a/b/c`), or what names the damaged thing when no single
        /// key does (a document id for a compaction, `(sled log)` for sled's own files).
        key: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// A key or value the backend refuses.
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// The data directory is locked by another process, most likely a server already running
    /// on it. Two processes writing the same sled directory would corrupt it, so sled refuses;
    /// this variant lets a CLI say so plainly instead of printing an I/O error.
    #[error(
        "the data directory {} is in use by another process (is a server already running on \
         it?): {detail}",
        path.display()
    )]
    Locked {
        /// The directory that could not be locked.
        path: PathBuf,
        /// The backend's own words, for the log.
        detail: String,
    },
}

/// One write in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Store `value` at `key`, replacing what was there.
    Put(StorageKey, Vec<u8>),
    /// Remove `key` (no error if absent).
    Delete(StorageKey),
}

/// Writes applied together: all of them or none, durable when [`Storage::apply`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The writes, applied in order.
    pub ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, key: StorageKey, value: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Put(key, value));
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: StorageKey) -> &mut Self {
        self.ops.push(Op::Delete(key));
        self
    }

    /// Whether the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Durable storage of byte values under [`StorageKey`]s.
///
/// Every method blocks: async runtimes call it from a blocking thread (`spawn_blocking`), so
/// a slow disk never stalls the sockets. The trait is kept this narrow so that a networked
/// backend (PostgreSQL) can implement it later with the same guarantees.
///
/// **Contract**: when [`Storage::apply`] returns `Ok`, every write of the batch is on stable
/// storage (flushed) and survives a crash of the process; a crash during the call leaves
/// either all of the batch or none of it.
///
/// **Group commit**: [`Storage::apply_deferred`] applies a batch atomically without waiting for
/// the disk, and [`Storage::flush`] makes every batch applied before it durable. Batches become
/// durable in the order they were applied: after a crash, what survives is all the batches up
/// to some point, each whole (sled's log is replayed as a prefix). So many writers can share
/// one flush, and a write that must never outlive another (an ACL and the document it guards)
/// only has to be applied first.
///
/// Reads of single keys see each write whole. A scan ([`Storage::scan_prefix`],
/// [`Storage::keys_with_prefix`]) that runs while another thread applies a batch may see part
/// of that batch: sled's iterators are not snapshots. A caller that needs a consistent view of
/// several keys coordinates its own writers, as [`DocStore`](crate::DocStore) does.
///
/// Backends check what they read: a value that is not what was written (a flipped bit, a
/// truncated record) is [`StorageError::Corrupt`] naming its key, never a panic and never
/// silently returned.
pub trait Storage: Send + Sync + 'static {
    /// The value at `key`, if any.
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError>;

    /// The values at `keys`, in the same order (`None` where there is none). One read of the
    /// database on a networked backend, rather than one per key; the default asks
    /// [`Storage::get`] for each.
    fn get_many(&self, keys: &[StorageKey]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Every key that starts with `prefix` (component-wise), with its value, in key order.
    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError>;

    /// Every key that starts with `prefix`, without reading values, in key order.
    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError>;

    /// Applies the batch atomically and durably (see the trait's contract). A batch that
    /// writes to the empty key is refused with [`StorageError::Invalid`] before anything is
    /// written.
    fn apply(&self, batch: Batch) -> Result<(), StorageError> {
        self.apply_deferred(batch)?;
        self.flush()
    }

    /// Applies the batch atomically, visible to this process's reads at once, durable once a
    /// later [`Storage::flush`] (or [`Storage::apply`]) returns `Ok` (see "Group commit"
    /// above). On a shared storage ([`Storage::is_shared`]) other processes may see it only
    /// after that flush: a write they must see at once (one made under a [`Storage::try_lock`]
    /// lock) uses [`Storage::apply`]. Refuses the same batches as [`Storage::apply`].
    fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError>;

    /// Waits until every batch applied before the call is on stable storage.
    fn flush(&self) -> Result<(), StorageError>;

    /// Whether other processes may write this storage while we use it (PostgreSQL: several
    /// server instances, and admin commands run beside a server). Callers that cache what
    /// they read must then read again instead, unless told of every change (the server's ACL
    /// cache, through the cluster's PostgreSQL notifications). `false` for sled,
    /// which one process at a time holds.
    fn is_shared(&self) -> bool {
        false
    }

    /// Takes the lock named `name` if no other process sharing this storage holds it
    /// (`Ok(None)` if one does); released when the guard drops. For work that two processes
    /// must not do at once (compacting one document). Not exclusive between threads of one
    /// process: they keep their own locks. The default, for storage one process holds
    /// (sled, memory), always grants it.
    fn try_lock(&self, name: &[u8]) -> Result<Option<StorageLock>, StorageError> {
        let _ = name;
        Ok(Some(StorageLock::free()))
    }
}

/// A lock of [`Storage::try_lock`], held until dropped.
pub struct StorageLock(Option<Box<dyn Send>>);

impl StorageLock {
    /// A lock that guards nothing (storage that one process holds).
    pub fn free() -> Self {
        Self(None)
    }

    /// A lock released when `guard` drops.
    pub fn held(guard: impl Send + 'static) -> Self {
        Self(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for StorageLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StorageLock")
            .field(&self.0.is_some())
            .finish()
    }
}

/// [`Storage::try_lock`], tried again every 10 ms until taken, for at most `within`; then
/// [`StorageError::Io`] (another process holds it for far longer than the work it guards).
pub fn lock_waiting(
    storage: &dyn Storage,
    name: &[u8],
    within: Duration,
) -> Result<StorageLock, StorageError> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(lock) = storage.try_lock(name)? {
            return Ok(lock);
        }
        if Instant::now() >= deadline {
            return Err(StorageError::Io(format!(
                "another process has held the lock {} for over {} s",
                String::from_utf8_lossy(name),
                within.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Refuses a batch that writes to the empty key, the one check keys cannot make for
/// themselves (the empty key is a valid prefix). Every backend calls it first in `apply`, so
/// they all refuse the same batches.
pub(crate) fn check_batch(batch: &Batch) -> Result<(), StorageError> {
    let writes_root = batch.ops.iter().any(|op| match op {
        Op::Put(key, _) | Op::Delete(key) => key.is_empty(),
    });
    if writes_root {
        return Err(StorageError::Invalid(
            "a value cannot be stored under the empty key".to_owned(),
        ));
    }
    Ok(())
}

//! The [`Storage`] trait: a narrow, durable key-value interface that every backend implements.

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
    Corrupt { key: String, reason: String },
    /// A key or value the backend refuses.
    #[error("invalid storage request: {0}")]
    Invalid(String),
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
pub trait Storage: Send + Sync + 'static {
    /// The value at `key`, if any.
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError>;

    /// Every key that starts with `prefix` (component-wise), with its value, in key order.
    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError>;

    /// Every key that starts with `prefix`, without reading values, in key order.
    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError>;

    /// Applies the batch atomically and durably (see the trait's contract).
    fn apply(&self, batch: Batch) -> Result<(), StorageError>;
}

//! [`MemoryStorage`]: the in-memory backend, for tests and ephemeral peers.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::storage::check_batch;
use crate::{Batch, Op, Storage, StorageError, StorageKey, frame};

/// A [`Storage`] held in a `BTreeMap` behind a `Mutex`: nothing survives the process, so
/// "durable" means "visible to every later call".
///
/// Values are framed and checked exactly as [`SledStorage`](crate::SledStorage) does on disk,
/// so a test that runs against both backends exercises the same read path. Every call holds the lock throughout,
/// so scans here are consistent snapshots, which the trait does not promise in general.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    /// Framed values by key.
    entries: Mutex<BTreeMap<StorageKey, Vec<u8>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map, even if a thread panicked while holding the lock: each call leaves the map
    /// whole before it can panic (a batch is checked before it is applied), so the data is
    /// still consistent.
    fn entries(&self) -> MutexGuard<'_, BTreeMap<StorageKey, Vec<u8>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the stored (framed) bytes at `key`, bypassing the frame: lets the crate's
    /// tests play the part of a disk that flips bits.
    #[cfg(test)]
    pub(crate) fn put_raw(&self, key: StorageKey, framed: Vec<u8>) {
        self.entries().insert(key, framed);
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        match self.entries().get(key) {
            Some(framed) => frame::open(key, framed).map(Some),
            None => Ok(None),
        }
    }

    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        // Keys that start with `prefix` are contiguous in key order, starting at `prefix`.
        self.entries()
            .range(prefix..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, framed)| Ok((key.clone(), frame::open(key, framed)?)))
            .collect()
    }

    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        Ok(self
            .entries()
            .range(prefix..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
        check_batch(&batch)?;
        let mut entries = self.entries();
        for op in batch.ops {
            match op {
                Op::Put(key, value) => {
                    entries.insert(key, frame::seal(&value));
                }
                Op::Delete(key) => {
                    entries.remove(&key);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        // Memory is as durable as it gets here.
        Ok(())
    }
}

//! [`CrashStorage`]: a [`Storage`] whose writes become durable only at `flush`, and which a
//! simulation can crash (losing what was not flushed) or cut the power of mid-write.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use passerelle_store::{Batch, Op, PostgresStorage, Storage, StorageError, StorageKey};

/// An in-memory store with a disk's failure modes.
///
/// Reads see every batch applied. `flush` makes every batch applied before it durable. A
/// [`CrashStorage::crash`] keeps the durable state plus a prefix of the batches not yet
/// flushed, each whole, as sled replays its log after a crash: the contract of [`Storage`]
/// ("durable in the order applied") and no more. [`CrashStorage::cut_power`] makes every write
/// from then on fail, as a disk that went away; the next crash brings it back.
///
/// [`CrashStorage::on`] puts it over a real backend (PostgreSQL, for the simulation on
/// `PASSERELLE_TEST_STORE=postgres`): reads and writes go to the backend, whose writes are
/// durable once flushed (it commits its pending batches at a flush); a crash discards what
/// it had not committed, as the end of the process would; a cut power still makes writes and
/// flushes fail until the next crash.
#[derive(Debug, Default)]
pub struct CrashStorage {
    inner: Mutex<Inner>,
    backend: Option<PostgresStorage>,
}

#[derive(Debug, Default)]
struct Inner {
    /// What survives a crash.
    durable: BTreeMap<StorageKey, Vec<u8>>,
    /// Batches applied since the last flush, oldest first.
    pending: Vec<Batch>,
    /// What reads see: `durable` with `pending` applied.
    view: BTreeMap<StorageKey, Vec<u8>>,
    /// The power is cut: writes and flushes fail until the next crash.
    dead: bool,
    /// The next flush cuts the power (and fails).
    fail_next_flush: bool,
    /// Flushes succeed and do nothing (the simulation's self-check).
    lying: bool,
}

impl CrashStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store over `backend` (see the type's documentation).
    pub fn on(backend: PostgresStorage) -> Self {
        Self {
            inner: Mutex::default(),
            backend: Some(backend),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many applied batches are not yet durable.
    pub fn pending_batches(&self) -> usize {
        self.inner().pending.len()
    }

    /// Cuts the power now: every later write or flush fails until [`CrashStorage::crash`].
    pub fn cut_power(&self) {
        self.inner().dead = true;
    }

    /// The next flush fails and cuts the power (a crash in the middle of a group commit).
    pub fn fail_next_flush(&self) {
        self.inner().fail_next_flush = true;
    }

    /// From now on `flush` reports success and makes nothing durable: a disk (or a server)
    /// that acknowledges writes it has not made safe. Only for checking that the simulation
    /// notices; a crash then keeps a random prefix of everything since this call.
    pub fn lie_about_flushes(&self) {
        self.inner().lying = true;
    }

    /// Takes back a [`CrashStorage::fail_next_flush`] that has not struck yet.
    pub fn keep_power(&self) {
        self.inner().fail_next_flush = false;
    }

    /// Whether the power is cut.
    pub fn is_dead(&self) -> bool {
        self.inner().dead
    }

    /// The process died: everything flushed survives, and the first `keep` of the batches
    /// applied since (at most all of them), each whole. The power comes back.
    pub fn crash(&self, keep: usize) {
        let mut inner = self.inner();
        if let Some(backend) = &self.backend {
            // PostgreSQL keeps what was committed, and loses the rest with the process.
            backend.discard_pending();
        }
        let pending = std::mem::take(&mut inner.pending);
        let keep = keep.min(pending.len());
        let mut state = inner.durable.clone();
        for batch in pending.into_iter().take(keep) {
            apply_to(&mut state, batch);
        }
        inner.durable = state.clone();
        inner.view = state;
        inner.dead = false;
        inner.fail_next_flush = false;
    }

    /// Every durable key and value (what a crash with `keep = 0` would leave).
    ///
    /// # Panics
    /// When the backend cannot be read.
    pub fn durable_snapshot(&self) -> BTreeMap<StorageKey, Vec<u8>> {
        if let Some(backend) = &self.backend {
            return backend
                .scan_prefix(&StorageKey::root())
                .expect("the backend reads")
                .into_iter()
                .collect();
        }
        self.inner().durable.clone()
    }
}

fn apply_to(map: &mut BTreeMap<StorageKey, Vec<u8>>, batch: Batch) {
    for op in batch.ops {
        match op {
            Op::Put(key, value) => {
                map.insert(key, value);
            }
            Op::Delete(key) => {
                map.remove(&key);
            }
        }
    }
}

fn power_cut() -> StorageError {
    StorageError::Io("simulated power cut: the disk is gone".to_owned())
}

impl Storage for CrashStorage {
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(backend) = &self.backend {
            return backend.get(key);
        }
        Ok(self.inner().view.get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        if let Some(backend) = &self.backend {
            return backend.scan_prefix(prefix);
        }
        Ok(self
            .inner()
            .view
            .range(prefix..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        if let Some(backend) = &self.backend {
            return backend.keys_with_prefix(prefix);
        }
        Ok(self
            .inner()
            .view
            .range(prefix..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
        let writes_root = batch.ops.iter().any(|op| match op {
            Op::Put(key, _) | Op::Delete(key) => key.is_empty(),
        });
        if writes_root {
            return Err(StorageError::Invalid(
                "a value cannot be stored under the empty key".to_owned(),
            ));
        }
        let mut inner = self.inner();
        if inner.dead {
            return Err(power_cut());
        }
        if let Some(backend) = &self.backend {
            // Under the lock, so that a power cut never lands half way through a write.
            return backend.apply_deferred(batch);
        }
        apply_to(&mut inner.view, batch.clone());
        inner.pending.push(batch);
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        let mut inner = self.inner();
        if inner.fail_next_flush {
            inner.fail_next_flush = false;
            inner.dead = true;
        }
        if inner.dead {
            return Err(power_cut());
        }
        if let Some(backend) = &self.backend {
            return backend.flush();
        }
        if inner.lying {
            return Ok(());
        }
        let pending = std::mem::take(&mut inner.pending);
        for batch in pending {
            apply_to(&mut inner.durable, batch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> StorageKey {
        StorageKey::try_new(["t", name]).unwrap()
    }

    fn put(name: &str) -> Batch {
        let mut batch = Batch::new();
        batch.put(key(name), name.as_bytes().to_vec());
        batch
    }

    #[test]
    fn a_crash_keeps_what_was_flushed_and_a_prefix_of_the_rest() {
        let storage = CrashStorage::new();
        storage.apply(put("a")).unwrap();
        storage.apply_deferred(put("b")).unwrap();
        storage.apply_deferred(put("c")).unwrap();
        assert_eq!(storage.get(&key("c")).unwrap(), Some(b"c".to_vec()));
        assert_eq!(storage.pending_batches(), 2);
        storage.crash(1);
        assert!(storage.get(&key("a")).unwrap().is_some());
        assert!(storage.get(&key("b")).unwrap().is_some());
        assert!(storage.get(&key("c")).unwrap().is_none());
        storage.apply_deferred(put("d")).unwrap();
        storage.crash(0);
        assert!(storage.get(&key("d")).unwrap().is_none());
    }

    #[test]
    fn a_lying_disk_acknowledges_flushes_and_keeps_nothing() {
        let storage = CrashStorage::new();
        storage.apply(put("a")).unwrap();
        storage.lie_about_flushes();
        storage.apply(put("b")).unwrap();
        assert_eq!(storage.pending_batches(), 1);
        assert!(!storage.durable_snapshot().contains_key(&key("b")));
        storage.crash(0);
        assert!(storage.get(&key("a")).unwrap().is_some());
        assert!(storage.get(&key("b")).unwrap().is_none());
    }

    #[test]
    fn a_failed_flush_cuts_the_power_until_the_crash() {
        let storage = CrashStorage::new();
        storage.apply_deferred(put("a")).unwrap();
        storage.fail_next_flush();
        assert!(storage.flush().is_err());
        assert!(storage.apply(put("b")).is_err());
        storage.crash(0);
        assert!(storage.get(&key("a")).unwrap().is_none());
        storage.apply(put("c")).unwrap();
        storage.crash(0);
        assert!(storage.get(&key("c")).unwrap().is_some());
    }
}

//! [`SledStorage`]: the on-disk backend, a sled 0.34 database in one directory.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::storage::check_batch;
use crate::{Batch, Op, Storage, StorageError, StorageKey, frame};

/// The default size of sled's page cache: 16 MiB. sled's own default is 1 GiB, far above the
/// server's memory budget; documents are loaded once and kept by the sync engine, so a small
/// cache costs little.
pub const DEFAULT_SLED_CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

/// How [`SledStorage::open_with`] configures sled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SledOptions {
    /// The most memory, in bytes, sled's page cache may hold.
    pub cache_capacity: u64,
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_capacity: DEFAULT_SLED_CACHE_CAPACITY,
        }
    }
}

impl SledOptions {
    /// These options with a page cache of `bytes`.
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = bytes;
        self
    }
}

/// A [`Storage`] in a sled database.
///
/// Keys are stored in their [ordered encoding](StorageKey::to_ordered_bytes), so a prefix scan
/// is one sled range scan. Values are framed (a format byte, then a CRC32 of the format byte
/// and the value) and checked on every read: a mismatch is [`StorageError::Corrupt`] naming
/// the key. [`Storage::apply_deferred`] applies a sled batch (atomic across crashes);
/// [`Storage::flush`] flushes sled's log to disk (fsync); [`Storage::apply`] does both.
///
/// sled locks the directory: a second `open` of the same directory, from this process or
/// another, fails with [`StorageError::Locked`] until the first `SledStorage` is dropped.
/// Dropping it flushes and releases the directory before returning, so the directory can be
/// reopened at once.
#[derive(Debug)]
pub struct SledStorage {
    // Fields drop in order: the database first, then `_release` waits for its lock to go.
    db: sled::Db,
    path: PathBuf,
    _release: AwaitLockRelease,
}

/// How long dropping a [`SledStorage`] waits for sled to let go of its lock. It normally takes
/// a few milliseconds; past this, something else holds the lock and waiting is pointless.
const LOCK_RELEASE_TIMEOUT: Duration = Duration::from_secs(1);

/// Waits, when dropped, until sled's lock file can be locked.
///
/// sled releases its lock when the last reference to its lock file goes, and its background
/// threads hold such references for a few milliseconds after the database is dropped. A
/// reopen in that window fails with `Locked` (the model test saw it about once in fifty
/// reopens), which would make a restart in the same process (tests, the server's admin
/// commands) fail at random.
#[derive(Debug)]
struct AwaitLockRelease {
    lock_file: PathBuf,
}

impl Drop for AwaitLockRelease {
    fn drop(&mut self) {
        let deadline = Instant::now() + LOCK_RELEASE_TIMEOUT;
        loop {
            let Ok(file) = File::open(&self.lock_file) else {
                return;
            };
            match file.try_lock() {
                // Dropping `file` unlocks it again.
                Ok(()) | Err(TryLockError::Error(_)) => return,
                Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                    tracing::debug!(
                        lock_file = %self.lock_file.display(),
                        "sled's lock is still held after the database was dropped",
                    );
                    return;
                }
                Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

impl SledStorage {
    /// Opens (or creates) the database in directory `path`, with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(path, SledOptions::default())
    }

    /// Opens (or creates) the database in directory `path`.
    pub fn open_with(path: impl AsRef<Path>, options: SledOptions) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        remove_unfinished_snapshots(&path)?;
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(options.cache_capacity)
            .open()
            .map_err(|error| open_error(&path, error))?;
        let _release = AwaitLockRelease {
            // The file sled locks (`config.rs`, `db_path`).
            lock_file: path.join("db"),
        };
        Ok(Self { db, path, _release })
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes the snapshot files a killed process left half-written.
///
/// sled 0.34.7 writes a snapshot to `snap.N.generating` and renames it to `snap.N` when it is
/// complete. If the process dies in between, the next open reads the unfinished file, finds it
/// empty or corrupt, and refuses to open at all (sled issue #1527). The store itself is intact
/// in that case: a finished snapshot (if any) and the log are the source of truth, and sled
/// recovers from them once the unfinished file is gone. `tests/crash_loop.rs` showed it with
/// a client killed during an edit.
///
/// Only done while holding the lock sled takes (on the `db` file), so that it never removes a
/// snapshot that another process is still writing.
fn remove_unfinished_snapshots(path: &Path) -> Result<(), StorageError> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(()); // A new store: sled creates the directory.
    };
    let unfinished: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|file| {
            file.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("snap.") && name.ends_with(".generating"))
        })
        .collect();
    if unfinished.is_empty() {
        return Ok(());
    }
    let Ok(lock_file) = File::options().read(true).write(true).open(path.join("db")) else {
        return Ok(()); // No log yet: nothing sled would read.
    };
    match lock_file.try_lock() {
        Ok(()) => {}
        // Another process has the store open; sled's own open will say so.
        Err(TryLockError::WouldBlock) => return Ok(()),
        Err(TryLockError::Error(error)) => {
            return Err(StorageError::Io(format!(
                "could not lock {}: {error}",
                path.join("db").display()
            )));
        }
    }
    for file in unfinished {
        tracing::warn!(
            "removing {}, a snapshot left unfinished by a process that stopped while writing it",
            file.display()
        );
        std::fs::remove_file(&file).map_err(|error| {
            StorageError::Io(format!("could not remove {}: {error}", file.display()))
        })?;
    }
    Ok(())
}

/// Maps an error of `sled::Config::open`, recognising the lock failure. sled 0.34.7 reports
/// it only as an `io::Error` whose message starts "could not acquire lock" (`config.rs`); the
/// crate pins that exact version and `a_second_open_is_refused_as_locked` checks the wording.
fn open_error(path: &Path, error: sled::Error) -> StorageError {
    match error {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StorageError::Locked {
                path: path.to_path_buf(),
                detail: io.to_string(),
            }
        }
        other => sled_error(other),
    }
}

/// Maps any other sled error. sled's own corruption (its log, not one of our values) has no
/// key to name, so it is reported against the database as a whole.
fn sled_error(error: sled::Error) -> StorageError {
    match error {
        sled::Error::Io(io) => StorageError::Io(io.to_string()),
        sled::Error::Corruption { at, .. } => StorageError::Corrupt {
            key: "(sled log)".to_owned(),
            reason: format!("sled found corruption in its log at {at:?}"),
        },
        sled::Error::Unsupported(reason) => StorageError::Invalid(reason),
        other => StorageError::Io(other.to_string()),
    }
}

impl Storage for SledStorage {
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        match self.db.get(key.to_ordered_bytes()).map_err(sled_error)? {
            Some(framed) => frame::open(key, &framed).map(Some),
            None => Ok(None),
        }
    }

    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        self.db
            .scan_prefix(prefix.to_ordered_bytes())
            .map(|entry| {
                let (raw_key, framed) = entry.map_err(sled_error)?;
                let key = StorageKey::from_ordered_bytes(&raw_key)?;
                let value = frame::open(&key, &framed)?;
                Ok((key, value))
            })
            .collect()
    }

    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        self.db
            .scan_prefix(prefix.to_ordered_bytes())
            .keys()
            .map(|raw_key| StorageKey::from_ordered_bytes(&raw_key.map_err(sled_error)?))
            .collect()
    }

    fn apply_deferred(&self, mut batch: Batch) -> Result<(), StorageError> {
        check_batch(&batch)?;
        // A lone write is atomic by itself. sled starts every batch by sealing and writing its
        // current log buffer (`pin_log` in 0.34.7): two log writes per batch, a plain insert
        // none. Most writes of a running server are lone ones.
        if batch.ops.len() == 1 {
            match batch.ops.pop().expect("one op") {
                Op::Put(key, value) => {
                    self.db
                        .insert(key.to_ordered_bytes(), frame::seal(&value))
                        .map_err(sled_error)?;
                }
                Op::Delete(key) => {
                    self.db.remove(key.to_ordered_bytes()).map_err(sled_error)?;
                }
            }
            return Ok(());
        }
        let mut sled_batch = sled::Batch::default();
        for op in batch.ops {
            match op {
                Op::Put(key, value) => {
                    sled_batch.insert(key.to_ordered_bytes(), frame::seal(&value))
                }
                Op::Delete(key) => sled_batch.remove(key.to_ordered_bytes()),
            }
        }
        // Atomic, but only in memory until the log reaches the disk.
        self.db.apply_batch(sled_batch).map_err(sled_error)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        // sled writes its log in order and recovers a prefix of it, so one fsync makes every
        // earlier batch durable (the trait's "group commit").
        self.db.flush().map_err(sled_error)?;
        Ok(())
    }
}

//! Backups of a data directory (`passerelle-server backup --to FILE`) and their restoration
//! into a fresh one (`passerelle-server restore --from FILE`).
//!
//! # What a backup holds
//!
//! Every key and value of the [`Storage`], byte for byte: each document's chunks
//! (`[doc, "snapshot" | "incremental", sha256]`), metadata (`[doc, "meta", name]`) and marker
//! (`["docs", doc]`); its access list (`["acl", doc]`) and authorship records
//! (`["authorship", doc, hash]`); users and tokens (`["auth", …]`, tokens as their SHA-256
//! only, so a backup holds no usable secret but every token still signs in after a restore);
//! the tombstones of erased documents (`["tombstone", doc]`; an erased document's own keys are
//! never written to a backup, even if some were left behind), and the server's storage id
//! (`["server", "storage-id"]`), so a restored server is the same
//! automerge-repo peer as the one backed up: a restore replaces or moves a server, it does not
//! clone one to run beside the original (peers would take the two for one storage). Not held:
//! `server.json` (it belongs to a running process) and sled's own files (a backup restores
//! onto any backend).
//!
//! The store is read per key space, never with one scan of everything, because
//! [`Storage::scan_prefix`] returns its whole result at once: memory stays bounded by the
//! largest document (its chunks and authorship records) plus one short id per document. The
//! key spaces are listed in this module (`DOCUMENT_SPACES`, `AUTHORSHIP`, `WHOLE_SPACES`); a
//! new one must be added there (the round-trip test `server/tests/it/backup_roundtrip.rs`
//! compares full scans of the source and the restored store, so it fails when data is left
//! out).
//!
//! # Consistency
//!
//! A backup of a stopped store is exact. A running server's store changes while it is read,
//! and sled's scans are not snapshots, so the backup promises this much:
//!
//! - **each document is consistent**: its chunks are read, then its keys listed again, and the
//!   read is repeated until both agree. Chunk keys are content-addressed and every write to a
//!   document (an append, a compaction) adds a key never seen before or removes one, and sled
//!   applies each batch atomically with respect to every step of a scan; so when the listing
//!   that follows a read finds exactly the keys read, the read saw the document as it was at
//!   one instant, never the chunks of a compaction half replaced. Whatever was durable when
//!   the backup started is in it, and each document loads;
//! - different documents, and a document and its access list or authorship records, are read
//!   at slightly different instants: a change arriving during the backup may be in its
//!   document without its authorship record (or the other way round), and an access-list
//!   edit made during the backup may or may not be in it;
//! - users and tokens are read after every document, so a token revoked during the backup is
//!   revoked in it.
//!
//! # File format (version 1)
//!
//! Integers are big-endian. The framing is written by hand because it is this small (a magic,
//! a version, explicit lengths and a SHA-256) and because the check of a backup must hold no
//! value in memory and test every length against the file's size before allocating, which is
//! plainer with explicit lengths than through a general decoder (a CBOR sequence with
//! ciborium, which would also have to become a runtime dependency of the server). The header
//! and trailer are JSON, readable and open to new fields.
//!
//! | part | bytes |
//! | --- | --- |
//! | magic | `PSLBAK` |
//! | format version | `u16`, 1 |
//! | header | `u32` length, then JSON: [`BackupHeader`] (created at, server version, storage id) |
//! | records | each: `0x01`, `u8` number of key components (1 to 8), each component as a `u16` length and UTF-8, then the value as a `u64` length and its bytes |
//! | end | `0x00`, `u32` length, then JSON: [`BackupCounts`] (records, documents, users, bytes, …) |
//! | checksum | the SHA-256 of every byte before it (32 bytes), and nothing after |
//!
//! The counts come after the records because the backup is written as it is read, in one
//! pass, without knowing them beforehand.
//!
//! # Restore
//!
//! [`restore`] refuses a data directory that is not empty (a restore never mixes with other
//! data) or that a server is running on. It then reads the whole backup once to check its
//! framing, its counts and its checksum, writing nothing; a truncated or damaged file stops
//! it there, with the data directory as it was. Only then are the records written, in
//! batches through [`Storage::apply`], while the checksum is computed again (a file changed
//! between the two readings is caught), and every document is loaded with
//! [`DocStore::load`] and `Automerge::load`. A failure while writing removes what was
//! written.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal as _, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use passerelle_core::DocumentId;
use passerelle_store::{Batch, DocStore, SledStorage, Storage, StorageError, StorageKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::admin::ServerFile;

/// The first bytes of every backup.
pub const MAGIC: [u8; 6] = *b"PSLBAK";

/// The format this server writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;

/// The top-level key spaces with one key per document (its marker, its access list), read
/// with the document. `["authorship", doc, …]` is read with the document too.
const DOCUMENT_SPACES: [&str; 2] = ["docs", "acl"];

/// The authorship records' key space.
const AUTHORSHIP: &str = "authorship";

/// The top-level key spaces read whole: users and tokens, the server's settings, and the
/// tombstones of erased documents (so a restored server refuses their ids too).
const WHOLE_SPACES: [&str; 3] = ["auth", "server", crate::auth::TOMBSTONE_SPACE];

/// A progress line every this many records, on long backups and restores.
pub const PROGRESS_EVERY: u64 = 10_000;

const RECORD_TAG: u8 = 0x01;
const END_TAG: u8 = 0x00;

/// The longest header or trailer accepted: they are a few hundred bytes of JSON, so a larger
/// length is damage, refused before allocating.
const MAX_META_BYTES: u32 = 64 * 1024;

/// How many times a document is read again when it changed while it was read.
const MAX_READ_ATTEMPTS: usize = 20;

/// Records and bytes per restore batch: each batch is one flush.
const RESTORE_BATCH_RECORDS: usize = 1_000;
const RESTORE_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The name a data directory may hold and still count as empty: the root of an ext4 volume
/// mounted as the data directory has one.
const LOST_AND_FOUND: &str = "lost+found";

/// Who is told how a long backup or restore is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A line on stderr (a person at a terminal).
    Stderr,
    /// A line in the log (a server writing a backup for the CLI).
    Log,
    /// Nobody (a script, a test).
    Quiet,
}

impl Progress {
    /// [`Progress::Stderr`] when stderr is a terminal, [`Progress::Quiet`] otherwise.
    pub fn for_terminal() -> Self {
        if io::stderr().is_terminal() {
            Progress::Stderr
        } else {
            Progress::Quiet
        }
    }

    fn tick(self, doing: &str, counts: &BackupCounts) {
        if counts.records == 0 || !counts.records.is_multiple_of(PROGRESS_EVERY) {
            return;
        }
        let line = format!(
            "{doing}: {} records, {} documents, {} so far",
            counts.records,
            counts.documents,
            Bytes(counts.value_bytes)
        );
        match self {
            Progress::Stderr => eprintln!("{line}"),
            Progress::Log => tracing::info!("{line}"),
            Progress::Quiet => {}
        }
    }
}

/// Facts about a backup, written before its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// When the backup started.
    pub created_at: Timestamp,
    /// The version of the `passerelle-server` that wrote it.
    pub server_version: String,
    /// The storage id of the server backed up, if it had one.
    pub storage_id: Option<String>,
}

/// What a backup holds, written after its records and checked on restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    /// Every key/value record.
    pub records: u64,
    /// Documents (their `["docs", doc]` markers).
    pub documents: u64,
    /// Document chunks (snapshots and incrementals).
    pub chunks: u64,
    /// Document access lists.
    pub acls: u64,
    /// Authorship records.
    pub authorship_records: u64,
    /// User accounts.
    pub users: u64,
    /// Tokens, revoked ones included.
    pub tokens: u64,
    /// The bytes of every value.
    pub value_bytes: u64,
}

impl BackupCounts {
    fn count(&mut self, key: &StorageKey, value_len: u64) {
        self.records += 1;
        self.value_bytes += value_len;
        let counter = match key.components() {
            [space, _] if space == "docs" => &mut self.documents,
            [space, _] if space == "acl" => &mut self.acls,
            [space, _, _] if space == "authorship" => &mut self.authorship_records,
            [space, kind, _] if space == "auth" && kind == "user" => &mut self.users,
            [space, kind, _] if space == "auth" && kind == "token" => &mut self.tokens,
            [_, kind, _] if kind == "snapshot" || kind == "incremental" => &mut self.chunks,
            _ => return,
        };
        *counter += 1;
    }
}

/// A backup written by [`backup_to_file`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// The file (absolute).
    pub path: PathBuf,
    /// Its header.
    pub header: BackupHeader,
    /// What it holds.
    pub counts: BackupCounts,
    /// Its size.
    pub file_bytes: u64,
    /// Its checksum, in hex.
    pub sha256: String,
}

impl BackupSummary {
    /// The summary printed by `backup`.
    pub fn render(&self) -> String {
        let c = &self.counts;
        format!(
            "backup written to {}\n  \
             documents: {} ({} chunks, {} access lists, {} authorship records)\n  \
             users: {} ({} tokens)\n  \
             records: {}, {} of data, file {}\n  \
             sha256: {}\n",
            self.path.display(),
            c.documents,
            c.chunks,
            c.acls,
            c.authorship_records,
            c.users,
            c.tokens,
            c.records,
            Bytes(c.value_bytes),
            Bytes(self.file_bytes),
            self.sha256,
        )
    }
}

/// Why a backup was not written. Nothing is left at the target path.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target is given relative to an unknown directory.
    #[error("the backup path {} is not absolute", path.display())]
    NotAbsolute {
        /// The path.
        path: PathBuf,
    },
    /// The target exists.
    #[error(
        "{} already exists; a backup never overwrites a file: choose a new name or remove it \
         first",
        path.display()
    )]
    TargetExists {
        /// The path.
        path: PathBuf,
    },
    /// The target is inside the data directory.
    #[error(
        "{} is inside the data directory {}: a backup there would be lost with it; write it \
         elsewhere",
        path.display(),
        data_dir.display()
    )]
    InsideDataDirectory {
        /// The path.
        path: PathBuf,
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The file could not be created or written.
    #[error("could not write the backup {}: {error}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
    /// The backup could not be sent (to a file or a socket).
    #[error("could not send the backup: {error}")]
    Send {
        /// What went wrong.
        error: io::Error,
    },
    /// A backup received from a running server is not sound (the server stopped, or the
    /// connection broke); the file was removed.
    #[error(
        "the backup received from the running server is incomplete ({problem}); the file was \
         removed; see the server's log"
    )]
    Incomplete {
        /// What is wrong with what arrived.
        problem: String,
    },
    /// The store could not be read.
    #[error("could not read the data store: {0}")]
    Storage(StorageError),
    /// A document was changed during every one of its reads.
    #[error(
        "document {document} changed during each of {attempts} reads (it is being written \
         very often); try the backup again"
    )]
    DocumentKeptChanging {
        /// The document id.
        document: String,
        /// How many reads were tried.
        attempts: usize,
    },
}

// Messages include their cause, so no error here names a `source` (which would print it
// twice in a chain such as anyhow's `{:#}`).
impl From<StorageError> for BackupError {
    fn from(error: StorageError) -> Self {
        BackupError::Storage(error)
    }
}

/// The absolute path a backup of `data_dir` will be written to, checked: not existing, not
/// inside the data directory. Relative paths are taken from the current directory (the
/// caller's: a running server, which writes the file, is given the absolute path).
pub fn backup_target(data_dir: &Path, to: &Path) -> Result<PathBuf, BackupError> {
    let write_error = |error| BackupError::Write {
        path: to.to_path_buf(),
        error,
    };
    let path = std::path::absolute(to).map_err(write_error)?;
    if path.symlink_metadata().is_ok() {
        return Err(BackupError::TargetExists { path });
    }
    // Compare real paths: the file does not exist yet, so its directory stands for it.
    let parent = path.parent().unwrap_or(Path::new("/"));
    if let (Ok(real_parent), Ok(real_data)) = (parent.canonicalize(), data_dir.canonicalize())
        && real_parent.starts_with(&real_data)
    {
        return Err(BackupError::InsideDataDirectory {
            path,
            data_dir: data_dir.to_path_buf(),
        });
    }
    Ok(path)
}

/// Creates the file a backup goes to: a new file (never overwriting one), readable by its
/// owner only (it holds every document and the token hashes).
pub fn create_backup_file(path: &Path) -> Result<File, BackupError> {
    if !path.is_absolute() {
        return Err(BackupError::NotAbsolute {
            path: path.to_path_buf(),
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|error| {
        if error.kind() == io::ErrorKind::AlreadyExists {
            BackupError::TargetExists {
                path: path.to_path_buf(),
            }
        } else {
            BackupError::Write {
                path: path.to_path_buf(),
                error,
            }
        }
    })
}

/// Writes a backup of `storage` to `path`, a new file (see [`create_backup_file`]), flushed to
/// disk before this returns. On failure the file is removed.
pub fn backup_to_file(
    storage: &dyn Storage,
    path: &Path,
    progress: Progress,
) -> Result<BackupSummary, BackupError> {
    let file = create_backup_file(path)?;
    let written = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let written = write_backup(storage, &mut out, progress)?;
        let file = out.into_inner().map_err(|e| BackupError::Send {
            error: e.into_error(),
        })?;
        file.sync_all()
            .map_err(|error| BackupError::Send { error })?;
        Ok(written)
    })();
    match written {
        Ok(written) => {
            sync_parent(path);
            Ok(written.into_summary(path))
        }
        Err(error) => {
            let _ = std::fs::remove_file(path);
            Err(match error {
                BackupError::Send { error } => BackupError::Write {
                    path: path.to_path_buf(),
                    error,
                },
                other => other,
            })
        }
    }
}

/// Copies a backup that a running server sends (`from`) into `file`, a new file at `path`
/// made by [`create_backup_file`], then reads the file back to check it whole (framing,
/// counts, checksum): a server that failed half way, or a broken connection, leaves a file
/// that fails the check. On failure the file is removed. `progress` hears of every 64 MiB.
pub fn receive_backup(
    from: &mut dyn Read,
    file: File,
    path: &Path,
    progress: Progress,
) -> Result<BackupSummary, BackupError> {
    let received = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut buf = vec![0; 256 * 1024];
        let (mut total, mut reported) = (0u64, 0u64);
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(BackupError::Incomplete {
                        problem: format!("the transfer failed after {}: {e}", Bytes(total)),
                    });
                }
            };
            out.write_all(&buf[..n])
                .map_err(|error| BackupError::Write {
                    path: path.to_path_buf(),
                    error,
                })?;
            total += n as u64;
            if total - reported >= 64 << 20 {
                reported = total;
                let line = format!("backup: {} received", Bytes(total));
                match progress {
                    Progress::Stderr => eprintln!("{line}"),
                    Progress::Log => tracing::info!("{line}"),
                    Progress::Quiet => {}
                }
            }
        }
        let file = out.into_inner().map_err(|e| BackupError::Write {
            path: path.to_path_buf(),
            error: e.into_error(),
        })?;
        file.sync_all().map_err(|error| BackupError::Write {
            path: path.to_path_buf(),
            error,
        })?;
        let verified = verify_backup(path).map_err(|e| BackupError::Incomplete {
            problem: e.to_string(),
        })?;
        Ok(BackupSummary {
            path: path.to_path_buf(),
            header: verified.header,
            counts: verified.counts,
            file_bytes: verified.file_bytes,
            sha256: verified.sha256,
        })
    })();
    match received {
        Ok(summary) => {
            sync_parent(path);
            Ok(summary)
        }
        Err(error) => {
            let _ = std::fs::remove_file(path);
            Err(error)
        }
    }
}

/// What [`write_backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBackup {
    /// The header.
    pub header: BackupHeader,
    /// What it holds.
    pub counts: BackupCounts,
    /// Its size.
    pub bytes: u64,
    /// Its checksum, in hex.
    pub sha256: String,
}

impl WrittenBackup {
    fn into_summary(self, path: &Path) -> BackupSummary {
        BackupSummary {
            path: path.to_path_buf(),
            header: self.header,
            counts: self.counts,
            file_bytes: self.bytes,
            sha256: self.sha256,
        }
    }
}

/// Writes a backup of `storage` into `out` (a file, a response body), in one pass, and
/// returns what it wrote. I/O errors are [`BackupError::Send`]. `out` is flushed.
pub fn write_backup(
    storage: &dyn Storage,
    out: impl Write,
    progress: Progress,
) -> Result<WrittenBackup, BackupError> {
    let io_error = |error| BackupError::Send { error };
    let header = BackupHeader {
        created_at: Timestamp::now(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        storage_id: storage
            .get(&storage_key(&["server", "storage-id"])?)?
            .and_then(|id| String::from_utf8(id).ok()),
    };
    let mut out = HashingWriter::new(out);
    out.write_all(&MAGIC).map_err(io_error)?;
    out.write_all(&FORMAT_VERSION.to_be_bytes())
        .map_err(io_error)?;
    write_meta(&mut out, &header).map_err(io_error)?;

    let mut counts = BackupCounts::default();
    let mut emit = |out: &mut HashingWriter<_>, key: &StorageKey, value: &[u8]| {
        write_record(out, key, value).map_err(io_error)?;
        counts.count(key, value.len() as u64);
        progress.tick("backup", &counts);
        Ok::<(), BackupError>(())
    };

    // The documents: every id with a marker or an access list (a document is created with its
    // access list before its first chunk arrives).
    let mut documents = BTreeSet::new();
    for space in DOCUMENT_SPACES {
        for listed in storage.keys_with_prefix(&storage_key(&[space])?)? {
            if let [_, id] = listed.components() {
                documents.insert(id.clone());
            }
        }
    }
    for id in &documents {
        // An erased document whose keys a crash left behind (erasure is one batch, but a
        // sweep may remain) never enters a backup: only its tombstone does.
        if storage
            .get(&storage_key(&[crate::auth::TOMBSTONE_SPACE, id])?)?
            .is_some()
        {
            continue;
        }
        for (key, value) in read_document(storage, &storage_key(&[id])?)? {
            emit(&mut out, &key, &value)?;
        }
        for space in DOCUMENT_SPACES {
            let key = storage_key(&[space, id])?;
            if let Some(value) = storage.get(&key)? {
                emit(&mut out, &key, &value)?;
            }
        }
        for (key, value) in storage.scan_prefix(&storage_key(&[AUTHORSHIP, id])?)? {
            emit(&mut out, &key, &value)?;
        }
    }
    // Keys in the per-document spaces that name no listed document (none are written today;
    // kept so that nothing is silently left out).
    for space in DOCUMENT_SPACES {
        for listed in storage.keys_with_prefix(&storage_key(&[space])?)? {
            if !matches!(listed.components(), [_, id] if documents.contains(id))
                && let Some(value) = storage.get(&listed)?
            {
                emit(&mut out, &listed, &value)?;
            }
        }
    }
    let saved_feed = storage_key(&crate::sync::SAVED_FEED_KEY)?;
    for space in WHOLE_SPACES {
        for (key, value) in storage.scan_prefix(&storage_key(&[space])?)? {
            // The changes feed a graceful shutdown saved belongs to that server's epoch: a
            // restored server starts a feed of its own.
            if key == saved_feed {
                continue;
            }
            emit(&mut out, &key, &value)?;
        }
    }

    out.write_all(&[END_TAG]).map_err(io_error)?;
    write_meta(&mut out, &counts).map_err(io_error)?;
    let (mut inner, digest, bytes) = out.finish();
    inner.write_all(&digest).map_err(io_error)?;
    inner.flush().map_err(io_error)?;
    Ok(WrittenBackup {
        header,
        counts,
        bytes: bytes + digest.len() as u64,
        sha256: hex::encode(digest),
    })
}

/// The document's own keys (`[doc, …]`) and values, as they were at one instant: read, then
/// listed again, until the listing finds exactly the keys read (see the module's
/// documentation for why that suffices).
fn read_document(
    storage: &dyn Storage,
    prefix: &StorageKey,
) -> Result<Vec<(StorageKey, Vec<u8>)>, BackupError> {
    for _ in 0..MAX_READ_ATTEMPTS {
        let entries = storage.scan_prefix(prefix)?;
        let keys = storage.keys_with_prefix(prefix)?;
        if keys.len() == entries.len() && keys.iter().zip(&entries).all(|(k, (e, _))| k == e) {
            return Ok(entries);
        }
    }
    Err(BackupError::DocumentKeptChanging {
        document: prefix.to_string(),
        attempts: MAX_READ_ATTEMPTS,
    })
}

fn storage_key(components: &[&str]) -> Result<StorageKey, StorageError> {
    StorageKey::try_new(components.iter().copied())
}

fn write_meta<T: Serialize>(out: &mut impl Write, meta: &T) -> io::Result<()> {
    let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(io::Error::other)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(&json)
}

fn write_record(out: &mut impl Write, key: &StorageKey, value: &[u8]) -> io::Result<()> {
    // A key has at most 8 components of at most 256 bytes: both fit their fields.
    out.write_all(&[RECORD_TAG, key.len() as u8])?;
    for component in key.components() {
        out.write_all(&(component.len() as u16).to_be_bytes())?;
        out.write_all(component.as_bytes())?;
    }
    out.write_all(&(value.len() as u64).to_be_bytes())?;
    out.write_all(value)
}

/// Flushes the directory entry of a new file, so that the file survives a crash under its
/// name. Best effort: not every platform can open a directory.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// A writer that hashes and counts what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ---- reading ---------------------------------------------------------------------------

/// What is wrong with a backup file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupFileError {
    /// It does not start with [`MAGIC`].
    #[error("it is not a passerelle backup (it does not start with `PSLBAK`)")]
    NotABackup,
    /// A newer format.
    #[error(
        "it is in backup format {found}, newer than this passerelle-server reads (up to \
         {FORMAT_VERSION}); restore it with the passerelle-server that wrote it or a newer one"
    )]
    UnsupportedVersion {
        /// The format version found.
        found: u16,
    },
    /// It ends before its end marker and checksum.
    #[error(
        "it is truncated: it ends after {file_bytes} bytes, before its end marker and \
         checksum (an interrupted backup or copy?)"
    )]
    Truncated {
        /// Its size.
        file_bytes: u64,
    },
    /// Its framing is broken.
    #[error("it is damaged (or truncated) at byte {at}: {reason}")]
    Damaged {
        /// Where.
        at: u64,
        /// What is wrong.
        reason: String,
    },
    /// Its framing is sound but its content is not what was written.
    #[error(
        "its SHA-256 checksum does not match its content: it was damaged or changed after it \
         was written"
    )]
    ChecksumMismatch,
}

/// A backup file whose framing, counts and checksum were checked by [`verify_backup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBackup {
    /// Its header.
    pub header: BackupHeader,
    /// What it holds (counted while reading, and equal to its trailer's counts).
    pub counts: BackupCounts,
    /// Its size.
    pub file_bytes: u64,
    /// Its checksum, in hex.
    pub sha256: String,
}

/// Why a backup file could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum ReadBackupError {
    /// The file could not be read.
    #[error("could not read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
    /// The file is not a sound backup.
    #[error("{} cannot be restored: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: BackupFileError,
    },
}

/// Reads the whole backup at `path`, checking its framing, keys, counts and checksum,
/// without keeping any value in memory.
pub fn verify_backup(path: &Path) -> Result<VerifiedBackup, ReadBackupError> {
    check_backup(path, Progress::Quiet)
}

/// [`verify_backup`], telling `progress`.
fn check_backup(path: &Path, progress: Progress) -> Result<VerifiedBackup, ReadBackupError> {
    let reading = Reading {
        values: false,
        progress,
        doing: "checking the backup",
    };
    read_backup(path, reading, |_, _| Ok(())).map_err(|failure| match failure {
        WriteFailure::Backup(error) => error,
        // The visitor above writes nothing, so it cannot fail.
        WriteFailure::Storage(error) => ReadBackupError::Io {
            path: path.to_path_buf(),
            error: io::Error::other(error),
        },
    })
}

/// Why reading or restoring a backup stopped: the backup, or the store being written.
enum WriteFailure {
    Storage(StorageError),
    Backup(ReadBackupError),
}

/// How [`read_backup`] reads.
struct Reading {
    /// Whether to read values (else they are hashed and skipped, and `visit` gets none).
    values: bool,
    /// Who hears of progress, and what is said to be going on.
    progress: Progress,
    doing: &'static str,
}

/// Reads the backup, calling `visit` with each record, then checks the trailer and checksum.
fn read_backup(
    path: &Path,
    reading: Reading,
    mut visit: impl FnMut(StorageKey, Vec<u8>) -> Result<(), StorageError>,
) -> Result<VerifiedBackup, WriteFailure> {
    let io_error = |error| {
        WriteFailure::Backup(ReadBackupError::Io {
            path: path.to_path_buf(),
            error,
        })
    };
    let file = File::open(path).map_err(io_error)?;
    let file_bytes = file.metadata().map_err(io_error)?.len();
    let mut reader = BackupReader {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        offset: 0,
        file_bytes,
    };
    let result = (|| {
        let mut magic = [0; MAGIC.len()];
        match reader.exact(&mut magic) {
            Ok(()) if magic == MAGIC => {}
            Ok(()) | Err(Failure::Problem(BackupFileError::Truncated { .. })) => {
                return Err(BackupFileError::NotABackup.into());
            }
            Err(other) => return Err(other),
        }
        let version = u16::from_be_bytes(reader.array()?);
        if version != FORMAT_VERSION {
            return Err(BackupFileError::UnsupportedVersion { found: version }.into());
        }
        let header: BackupHeader = reader.meta("header")?;
        let mut counts = BackupCounts::default();
        loop {
            let at = reader.offset;
            match reader.array::<1>()?[0] {
                RECORD_TAG => {}
                END_TAG => break,
                other => {
                    return Err(reader.damaged(
                        at,
                        format!("expected a record (0x01) or the end (0x00), found 0x{other:02x}"),
                    ));
                }
            }
            let key = reader.key(at)?;
            let len = u64::from_be_bytes(reader.array()?);
            let remaining = reader.file_bytes - reader.offset;
            if len > remaining {
                return Err(reader.damaged(
                    at,
                    format!(
                        "the record declares a {len}-byte value, but the file ends {remaining} \
                         bytes later"
                    ),
                ));
            }
            let value = if reading.values {
                // `len` is within the file's size, checked above.
                let mut value = vec![0; len as usize];
                reader.exact(&mut value)?;
                value
            } else {
                reader.skip(len)?;
                Vec::new()
            };
            counts.count(&key, len);
            reading.progress.tick(reading.doing, &counts);
            visit(key, value).map_err(Failure::Visit)?;
        }
        let trailer_at = reader.offset;
        let declared: BackupCounts = reader.meta("trailer")?;
        let digest: [u8; 32] = reader.hasher.clone().finalize().into();
        let mut stored = [0; 32];
        reader.exact(&mut stored)?;
        if stored != digest {
            return Err(BackupFileError::ChecksumMismatch.into());
        }
        if reader.offset != reader.file_bytes {
            return Err(reader.damaged(
                reader.offset,
                format!(
                    "{} unexpected bytes follow the checksum",
                    reader.file_bytes - reader.offset
                ),
            ));
        }
        if declared != counts {
            return Err(reader.damaged(
                trailer_at,
                format!("the trailer's counts {declared:?} are not what it holds {counts:?}"),
            ));
        }
        Ok(VerifiedBackup {
            header,
            counts,
            file_bytes,
            sha256: hex::encode(digest),
        })
    })();
    result.map_err(|failure| match failure {
        Failure::Io(error) => io_error(error),
        Failure::Problem(problem) => WriteFailure::Backup(ReadBackupError::Invalid {
            path: path.to_path_buf(),
            problem,
        }),
        Failure::Visit(error) => WriteFailure::Storage(error),
    })
}

/// Why reading stopped, inside [`read_backup`].
enum Failure {
    Io(io::Error),
    Problem(BackupFileError),
    Visit(StorageError),
}

impl From<BackupFileError> for Failure {
    fn from(problem: BackupFileError) -> Self {
        Failure::Problem(problem)
    }
}

/// A reader that hashes what it reads and knows where it is.
struct BackupReader<R> {
    inner: R,
    hasher: Sha256,
    offset: u64,
    file_bytes: u64,
}

impl<R: Read> BackupReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), Failure> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.hasher.update(&*buf);
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(BackupFileError::Truncated {
                file_bytes: self.file_bytes,
            }
            .into()),
            Err(e) => Err(Failure::Io(e)),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Failure> {
        let mut bytes = [0; N];
        self.exact(&mut bytes)?;
        Ok(bytes)
    }

    /// Reads and hashes `len` bytes without keeping them.
    fn skip(&mut self, mut len: u64) -> Result<(), Failure> {
        let mut buf = vec![0; 64 * 1024];
        while len > 0 {
            let n = len.min(buf.len() as u64) as usize;
            self.exact(&mut buf[..n])?;
            len -= n as u64;
        }
        Ok(())
    }

    fn meta<T: serde::de::DeserializeOwned>(&mut self, what: &str) -> Result<T, Failure> {
        let at = self.offset;
        let len = u32::from_be_bytes(self.array()?);
        if len > MAX_META_BYTES {
            return Err(self.damaged(at, format!("the {what} claims {len} bytes")));
        }
        let mut json = vec![0; len as usize];
        self.exact(&mut json)?;
        serde_json::from_slice(&json)
            .map_err(|e| self.damaged(at, format!("the {what} is not valid: {e}")))
    }

    fn key(&mut self, at: u64) -> Result<StorageKey, Failure> {
        let [count] = self.array()?;
        let mut components = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let len = u16::from_be_bytes(self.array()?);
            if usize::from(len) > passerelle_store::MAX_COMPONENT_LEN {
                return Err(self.damaged(at, format!("a key component claims {len} bytes")));
            }
            let mut bytes = vec![0; usize::from(len)];
            self.exact(&mut bytes)?;
            let component = String::from_utf8(bytes)
                .map_err(|_| self.damaged(at, "a key component is not UTF-8".to_owned()))?;
            components.push(component);
        }
        match StorageKey::try_new(components) {
            Ok(key) if !key.is_empty() => Ok(key),
            Ok(_) => Err(self.damaged(at, "a record has an empty key".to_owned())),
            Err(e) => Err(self.damaged(at, format!("a record's key is not valid: {e}"))),
        }
    }

    fn damaged(&self, at: u64, reason: String) -> Failure {
        Failure::Problem(BackupFileError::Damaged { at, reason })
    }
}

// ---- restoring -------------------------------------------------------------------------

/// A restore done by [`restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The backup restored.
    pub backup: PathBuf,
    /// The data directory written.
    pub data_dir: PathBuf,
    /// The backup's header, counts and checksum.
    pub verified: VerifiedBackup,
    /// Documents whose chunks loaded as an Automerge document.
    pub documents_loaded: u64,
    /// Documents with a marker but no chunk (only metadata): nothing to load.
    pub documents_without_chunks: u64,
}

impl RestoreSummary {
    /// The summary printed by `restore`.
    pub fn render(&self) -> String {
        let c = &self.verified.counts;
        let h = &self.verified.header;
        let empty = match self.documents_without_chunks {
            0 => String::new(),
            n => format!(", {n} without content"),
        };
        format!(
            "restored {} into {}\n  \
             backup taken {} by passerelle-server {}{}\n  \
             documents: {} ({} loaded{}; {} chunks, {} access lists, {} authorship records)\n  \
             users: {} ({} tokens)\n  \
             records: {}, {} of data; sha256 {} checked\n",
            self.backup.display(),
            self.data_dir.display(),
            h.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            h.server_version,
            h.storage_id
                .as_deref()
                .map(|id| format!(" (storage id {id})"))
                .unwrap_or_default(),
            c.documents,
            self.documents_loaded,
            empty,
            c.chunks,
            c.acls,
            c.authorship_records,
            c.users,
            c.tokens,
            c.records,
            Bytes(c.value_bytes),
            self.verified.sha256,
        )
    }
}

/// Why a restore did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The target is a file, not a directory.
    #[error("{} is not a directory", dir.display())]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// A server is running on the target.
    #[error(
        "a server is running on {}{}: restore never writes into a store in use; stop the \
         server, and restore into a new, empty data directory",
        dir.display(),
        server.as_ref().map(|(pid, address)| format!(" (pid {pid}, at {address})")).unwrap_or_default()
    )]
    ServerRunning {
        /// The directory.
        dir: PathBuf,
        /// The server's pid and address, from its `server.json`, if it published one.
        server: Option<(u32, std::net::SocketAddr)>,
    },
    /// The target holds something.
    #[error(
        "{} is not empty: restore writes only into a fresh data directory, so that nothing \
         restored mixes with other data; give a new directory (it is created) or an empty one",
        dir.display()
    )]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// The target database holds records.
    #[error(
        "{shown} is not empty: restore writes only into an empty database, so that nothing \
         restored mixes with other data; create a new database and give its URL"
    )]
    NotEmptyDatabase {
        /// The database, without its password.
        shown: String,
    },
    /// The target could not be inspected or created.
    #[error("could not prepare the data directory {}: {error}", dir.display())]
    Prepare {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
    /// The backup could not be read or is not sound; nothing was written.
    #[error("{problem}; nothing was written to {}", dir.display())]
    Backup {
        /// The target directory, untouched.
        dir: PathBuf,
        /// What is wrong with the backup.
        problem: ReadBackupError,
    },
    /// The store failed; what was written is removed.
    #[error("the data store failed while restoring: {error}; {cleanup}")]
    Storage {
        /// What went wrong.
        error: StorageError,
        /// What became of the partial restore.
        cleanup: Cleanup,
    },
    /// The backup changed between its check and its restoration; what was written is removed.
    #[error("{problem} (it changed while it was being restored); {cleanup}")]
    ChangedDuringRestore {
        /// What is now wrong with it.
        problem: ReadBackupError,
        /// What became of the partial restore.
        cleanup: Cleanup,
    },
    /// Every record was restored, but reading them back failed.
    #[error(
        "every record of the backup was restored into {}, but reading them back failed: \
         {error}",
        dir.display()
    )]
    Check {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        error: StorageError,
    },
    /// Every record was restored, but some documents do not load.
    #[error(
        "every record of the backup was restored into {}, but {} of its {} documents do not \
         load: {}; the data directory holds exactly what the backup holds (those documents \
         were already damaged when it was taken)",
        dir.display(),
        failures.len(),
        documents,
        failures.iter().take(10).map(|(id, reason)| format!("{id} ({reason})")).collect::<Vec<_>>().join(", ")
    )]
    DocumentsDoNotLoad {
        /// The directory.
        dir: PathBuf,
        /// How many documents were checked.
        documents: u64,
        /// Each document that failed, and why.
        failures: Vec<(String, String)>,
    },
}

/// What became of a partial restore.
#[derive(Debug)]
pub struct Cleanup {
    dir: PathBuf,
    error: Option<io::Error>,
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            None => write!(
                f,
                "what was written was removed, {} is as before",
                self.dir.display()
            ),
            Some(e) => write!(
                f,
                "removing what was written from {} failed ({e}): remove it by hand before \
                 trying again",
                self.dir.display()
            ),
        }
    }
}

/// Restores the backup at `from` into `data_dir`, which must not exist or be empty, with no
/// server running on it. See the module's documentation for the steps.
pub fn restore(
    data_dir: &Path,
    from: &Path,
    progress: Progress,
) -> Result<RestoreSummary, RestoreError> {
    let existed = check_fresh(data_dir)?;
    let verified = check_backup(from, progress).map_err(|problem| RestoreError::Backup {
        dir: data_dir.to_path_buf(),
        problem,
    })?;
    let storage = match SledStorage::open(data_dir) {
        Ok(storage) => Arc::new(storage),
        Err(StorageError::Locked { .. }) => {
            // A server took the directory since it was checked: it is its, leave it be.
            return Err(RestoreError::ServerRunning {
                dir: data_dir.to_path_buf(),
                server: running_server(data_dir),
            });
        }
        Err(error) => {
            let cleanup = clean(data_dir, existed);
            return Err(RestoreError::Storage { error, cleanup });
        }
    };
    if let Err(failure) = write_records(storage.as_ref(), from, progress) {
        drop(storage);
        let cleanup = clean(data_dir, existed);
        return Err(match failure {
            WriteFailure::Storage(error) => RestoreError::Storage { error, cleanup },
            WriteFailure::Backup(problem) => {
                RestoreError::ChangedDuringRestore { problem, cleanup }
            }
        });
    }
    let (documents_loaded, documents_without_chunks) =
        check_documents(data_dir, storage, verified.counts.documents)?;
    Ok(RestoreSummary {
        backup: from.to_path_buf(),
        data_dir: data_dir.to_path_buf(),
        verified,
        documents_loaded,
        documents_without_chunks,
    })
}

/// Restores the backup at `from` into `storage`, a shared database (PostgreSQL) called
/// `shown` in messages, which must hold no record at all. The same steps as [`restore`]: the
/// whole backup is checked before anything is written, then written in batches, then every
/// document is loaded. A database cannot be removed as a directory is, so a failure while
/// writing leaves a partial restore, and the error says to empty the database.
pub fn restore_into_database(
    storage: Arc<dyn Storage>,
    shown: &str,
    from: &Path,
    progress: Progress,
) -> Result<RestoreSummary, RestoreError> {
    let target = PathBuf::from(shown);
    let any = storage
        .keys_with_prefix(&StorageKey::root())
        .map_err(|error| RestoreError::Check {
            dir: target.clone(),
            error,
        })?;
    if !any.is_empty() {
        return Err(RestoreError::NotEmptyDatabase {
            shown: shown.to_owned(),
        });
    }
    let verified = check_backup(from, progress).map_err(|problem| RestoreError::Backup {
        dir: target.clone(),
        problem,
    })?;
    let left = || Cleanup {
        dir: target.clone(),
        error: Some(io::Error::other(
            "a database is not removed: empty it (drop and create it again)",
        )),
    };
    if let Err(failure) = write_records(storage.as_ref(), from, progress) {
        return Err(match failure {
            WriteFailure::Storage(error) => RestoreError::Storage {
                error,
                cleanup: left(),
            },
            WriteFailure::Backup(problem) => RestoreError::ChangedDuringRestore {
                problem,
                cleanup: left(),
            },
        });
    }
    let (documents_loaded, documents_without_chunks) =
        check_documents(&target, storage, verified.counts.documents)?;
    Ok(RestoreSummary {
        backup: from.to_path_buf(),
        data_dir: target,
        verified,
        documents_loaded,
        documents_without_chunks,
    })
}

/// Whether `dir` exists; an error unless it is missing, or empty and free.
fn check_fresh(dir: &Path) -> Result<bool, RestoreError> {
    let prepare = |error| RestoreError::Prepare {
        dir: dir.to_path_buf(),
        error,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(_) if dir.exists() && !dir.is_dir() => {
            return Err(RestoreError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(prepare(e)),
    };
    for entry in entries {
        if entry.map_err(prepare)?.file_name() != LOST_AND_FOUND {
            if let Some(server) = running_server(dir) {
                return Err(RestoreError::ServerRunning {
                    dir: dir.to_path_buf(),
                    server: Some(server),
                });
            }
            return Err(RestoreError::NotEmpty {
                dir: dir.to_path_buf(),
            });
        }
    }
    Ok(true)
}

/// The pid and address a running server published in `dir`, if any.
fn running_server(dir: &Path) -> Option<(u32, std::net::SocketAddr)> {
    ServerFile::read(dir)
        .ok()
        .flatten()
        .map(|server| (server.pid, server.address))
}

/// Removes what a restore wrote into `dir`, which was missing (`existed == false`) or empty
/// but for `lost+found`.
fn clean(dir: &Path, existed: bool) -> Cleanup {
    let result = if existed {
        std::fs::read_dir(dir).and_then(|entries| {
            for entry in entries {
                let entry = entry?;
                if entry.file_name() == LOST_AND_FOUND {
                    continue;
                }
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
            }
            Ok(())
        })
    } else {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    };
    Cleanup {
        dir: dir.to_path_buf(),
        error: result.err(),
    }
}

/// Reads the backup again, writing its records in batches; the last batch goes in only once
/// the checksum is checked again (a file changed since [`verify_backup`] is caught).
fn write_records(
    storage: &dyn Storage,
    from: &Path,
    progress: Progress,
) -> Result<(), WriteFailure> {
    let mut batch = Batch::new();
    let mut batch_bytes = 0;
    let reading = Reading {
        values: true,
        progress,
        doing: "restoring",
    };
    read_backup(from, reading, |key, value| {
        batch_bytes += value.len();
        batch.put(key, value);
        if batch.ops.len() >= RESTORE_BATCH_RECORDS || batch_bytes >= RESTORE_BATCH_BYTES {
            batch_bytes = 0;
            storage.apply(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        storage.apply(batch).map_err(WriteFailure::Storage)?;
    }
    Ok(())
}

/// Loads every restored document; returns how many loaded and how many have no chunk.
fn check_documents(
    dir: &Path,
    storage: Arc<dyn Storage>,
    expected: u64,
) -> Result<(u64, u64), RestoreError> {
    let docs = DocStore::new(storage);
    let ids: Vec<DocumentId> = docs.list_documents().map_err(|error| RestoreError::Check {
        dir: dir.to_path_buf(),
        error,
    })?;
    let (mut loaded, mut empty) = (0, 0);
    let mut failures = Vec::new();
    for id in &ids {
        match docs.load(id) {
            Ok(Some(bytes)) => match automerge::Automerge::load(&bytes) {
                Ok(_) => loaded += 1,
                Err(e) => failures.push((id.to_string(), e.to_string())),
            },
            Ok(None) => empty += 1,
            Err(e) => failures.push((id.to_string(), e.to_string())),
        }
    }
    if !failures.is_empty() {
        return Err(RestoreError::DocumentsDoNotLoad {
            dir: dir.to_path_buf(),
            documents: expected,
            failures,
        });
    }
    Ok((loaded, empty))
}

/// A byte count for people: `1.2 MiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} bytes", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

//! [`DocStore`]: Automerge documents as content-addressed chunks on any [`Storage`], with
//! compaction. Its documentation holds the key layout and the compaction invariant.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use automerge::{Automerge, ReadDoc};
use passerelle_core::{DocumentId, StorageResult, StorageTask};
use sha2::{Digest, Sha256};

use crate::{Batch, Storage, StorageError, StorageKey};

/// How many chunks a document may hold before an append compacts it: samod's figure. Loading
/// ten chunks costs little more than one; more would slow every load of a busy document.
pub const DEFAULT_MAX_CHUNKS: usize = 10;

/// The first component of the per-document markers that [`DocStore::list_documents`] reads.
pub const DOCUMENT_INDEX_PREFIX: &str = "docs";

const SNAPSHOT: &str = "snapshot";
const INCREMENTAL: &str = "incremental";
const META: &str = "meta";

/// The number of per-document locks. Documents share a lock when their ids hash alike; with
/// 64 the odds that two busy documents do are small, and the table costs a few kilobytes
/// whatever the number of documents.
const LOCK_STRIPES: usize = 64;

/// What [`DocStore::compact`] did. Failures are the outer `Err`; these are expected outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compaction {
    /// `replaced` chunks were replaced by one snapshot of `snapshot_len` bytes.
    Compacted {
        /// The number of chunks deleted (the new snapshot is not counted).
        replaced: usize,
        /// The size of the new snapshot.
        snapshot_len: usize,
    },
    /// The document holds at most one chunk: there is nothing to merge.
    NothingToDo,
    /// Another thread is compacting this document; its result will do.
    AlreadyRunning,
    /// The chunks read were erased meanwhile ([`DocStore::delete_document`]); nothing was
    /// written, so an erased document does not come back.
    Superseded,
}

/// Automerge documents stored as chunks on a [`Storage`], compacted as they grow.
///
/// # Key layout
///
/// The same shape as automerge-repo's and samod's, so the layout reads familiar to anyone who
/// knows them:
///
/// | key | value |
/// | --- | --- |
/// | `[docId, "snapshot", sha256hex]` | a full `Automerge::save` of the document |
/// | `[docId, "incremental", sha256hex]` | one appended chunk (changes, `save_after` output) |
/// | `[docId, "meta", name]` | a metadata value, opaque to the store |
/// | `["docs", docId]` | empty: marks that the document has something stored |
///
/// Chunk keys are content-addressed: the last component is the SHA-256 of the chunk, checked
/// on every load, so a chunk that was truncated or overwritten is reported as
/// [`StorageError::Corrupt`] even if its frame checksum is intact. Unlike automerge-repo,
/// snapshots are named by their content too (JS names them by the hash of their heads), so
/// the same check covers them.
///
/// `docId` is the bs58check form of [`DocumentId`]: at least 20 characters, all from the
/// base58 alphabet. So no word shorter than 20 characters is ever a document id: the first
/// components `"docs"` (used here) and `"auth"`, `"acl"` (reserved for the server's users and
/// tokens) never collide with a document's keys.
///
/// # Concurrency and crashes
///
/// One `DocStore` per [`Storage`], shared by every thread (`Arc<DocStore>`): it keeps striped
/// per-document locks that make loads, compactions and deletions see a consistent set of
/// chunks (sled's scans alone are not isolated from concurrent batches). Appends share the
/// lock with each other, so appends to one document never wait for each other.
///
/// **Invariant: a compaction never deletes a chunk before the snapshot that replaces it is
/// durable.** The new snapshot is written and the chunks it replaces are deleted in one atomic,
/// flushed batch, which deletes only the keys the compaction read: a chunk appended meanwhile
/// stays. (samod PR #19 lost data by deleting first.)
pub struct DocStore {
    storage: Arc<dyn Storage>,
    /// An append compacts the document when it then holds more chunks than this.
    max_chunks: usize,
    /// Striped per-document locks. Appends and loads take them shared; compaction commits and
    /// deletions take them exclusive, so a load never sees half of a compaction and nothing
    /// is appended between a deletion's scan and its batch.
    locks: Vec<RwLock<()>>,
    /// The documents being compacted now, so that two appends do not compact the same
    /// document twice over (harmless, since each deletes only what it read, but wasteful).
    compacting: Mutex<HashSet<DocumentId>>,
    /// How many chunks documents hold, as far as this process knows (set by a load or a
    /// count, raised by its appends), so that an append's compaction check reads nothing
    /// while the document is well under `max_chunks`. On shared storage other processes'
    /// appends are not counted: a document is then compacted once this process has seen more
    /// than `max_chunks`, or another process has; each counts its own.
    known_chunks: Mutex<HashMap<DocumentId, usize>>,
}

/// At most this many documents in [`DocStore::known_chunks`]; when full it is emptied and
/// fills again (a document it forgets is counted again at its next append).
const KNOWN_CHUNKS_ENTRIES: usize = 10_000;

impl fmt::Debug for DocStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocStore")
            .field("max_chunks", &self.max_chunks)
            .finish_non_exhaustive()
    }
}

/// One stored chunk, its hash checked.
struct Chunk {
    key: StorageKey,
    bytes: Vec<u8>,
}

impl DocStore {
    /// A document store on `storage`, compacting above [`DEFAULT_MAX_CHUNKS`] chunks.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            max_chunks: DEFAULT_MAX_CHUNKS,
            locks: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
            compacting: Mutex::new(HashSet::new()),
            known_chunks: Mutex::new(HashMap::new()),
        }
    }

    fn known_chunks(&self) -> MutexGuard<'_, HashMap<DocumentId, usize>> {
        // Each update is one insert or removal: a panic elsewhere leaves it whole.
        self.known_chunks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `doc` holds `count` chunks.
    fn know_chunks(&self, doc: &DocumentId, count: usize) {
        let mut known = self.known_chunks();
        if known.len() >= KNOWN_CHUNKS_ENTRIES && !known.contains_key(doc) {
            known.clear();
        }
        known.insert(*doc, count);
    }

    /// This store, compacting a document when an append leaves it with more than
    /// `max_chunks` chunks (at least 1: a lone snapshot is never compacted again).
    pub fn with_max_chunks(mut self, max_chunks: usize) -> Self {
        self.max_chunks = max_chunks.max(1);
        self
    }

    /// Every stored chunk of the document, snapshots first then incrementals, concatenated:
    /// what `Automerge::load` takes. `None` when nothing is stored for it.
    ///
    /// Each chunk's SHA-256 is checked against its key; a mismatch (a truncated or overwritten
    /// chunk) is [`StorageError::Corrupt`] naming the key. Parsing is left to the caller.
    pub fn load(&self, doc: &DocumentId) -> Result<Option<Vec<u8>>, StorageError> {
        let chunks = {
            let _shared = self.shared(doc);
            self.read_chunks(doc)?
        };
        self.know_chunks(doc, chunks.len());
        if chunks.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunks.into_iter().flat_map(|c| c.bytes).collect()))
    }

    /// Stores `chunk` (a `save_after` or `save` of the document), durably when this returns.
    /// An empty chunk holds no change and is not stored.
    ///
    /// Then, when the document holds more than its maximum of chunks, compacts it (see
    /// [`DocStore::compact`]). The result reports the chunk only: a failed compaction is
    /// logged and leaves every chunk in place, so the next append tries again.
    pub fn append(&self, doc: &DocumentId, chunk: &[u8]) -> Result<(), StorageError> {
        self.append_deferred(doc, chunk)?;
        self.flush()?;
        self.maintain(doc);
        Ok(())
    }

    /// [`DocStore::append`] without waiting for the disk: the chunk is durable once a later
    /// [`DocStore::flush`] returns `Ok` (group commit: many appends, one flush). Does not
    /// compact; call [`DocStore::maintain`] after the flush.
    pub fn append_deferred(&self, doc: &DocumentId, chunk: &[u8]) -> Result<(), StorageError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let _shared = self.shared(doc);
        // The index entry is written once, before the first chunk, as a write of its own;
        // later appends write the chunk alone. Lone writes are cheaper than batches in sled,
        // and writes become durable in order, so a chunk is never durable without its index
        // entry (a crash in between leaves an entry without chunks: a document that loads as
        // empty, as if its first sync never came). Only `delete_document` removes the entry,
        // under the exclusive lock, so it cannot vanish between the check and the chunk.
        if self.storage.get(&index_key(doc))?.is_none() {
            let mut index = Batch::new();
            index.put(index_key(doc), Vec::new());
            self.storage.apply_deferred(index)?;
        }
        let mut batch = Batch::new();
        batch.put(
            chunk_key(doc, INCREMENTAL, &sha256_hex(chunk)),
            chunk.to_vec(),
        );
        self.storage.apply_deferred(batch)?;
        // One more, unless the same chunk was stored before (then the count is read again
        // when it passes the maximum).
        if let Some(count) = self.known_chunks().get_mut(doc) {
            *count += 1;
        }
        Ok(())
    }

    /// Waits until everything written so far (by any deferred write on the same storage) is
    /// durable.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.storage.flush()
    }

    /// Compacts the document when it holds more than its maximum of chunks. A failure is
    /// logged and leaves every chunk in place, so the next call tries again.
    pub fn maintain(&self, doc: &DocumentId) {
        if let Err(error) = self.compact_if_needed(doc) {
            tracing::warn!(
                document = %doc,
                %error,
                "compaction failed; the document's chunks are kept as they are",
            );
        }
    }

    /// The number of chunks (snapshots and incrementals) stored for the document.
    pub fn chunk_count(&self, doc: &DocumentId) -> Result<usize, StorageError> {
        let keys = self.storage.keys_with_prefix(&document_prefix(doc))?;
        let count = keys
            .iter()
            .filter(|key| {
                key.components()
                    .get(1)
                    .is_some_and(|kind| kind == SNAPSHOT || kind == INCREMENTAL)
            })
            .count();
        self.know_chunks(doc, count);
        Ok(count)
    }

    fn compact_if_needed(&self, doc: &DocumentId) -> Result<(), StorageError> {
        // Known to be under the maximum: nothing to read.
        if self
            .known_chunks()
            .get(doc)
            .is_some_and(|count| *count <= self.max_chunks)
        {
            return Ok(());
        }
        if self.chunk_count(doc)? > self.max_chunks {
            // Counted again at the next append, whatever the compaction did.
            let compaction = self.compact(doc);
            self.known_chunks().remove(doc);
            compaction?;
        }
        Ok(())
    }

    /// Replaces every chunk of the document by one snapshot (`Automerge::save`).
    ///
    /// The chunks are loaded with `Automerge::load`; the new snapshot is loaded back and must
    /// give the same heads, and no loaded change may be waiting for a missing dependency
    /// (`save` would drop it). Only then, in one atomic and durable batch, is the snapshot
    /// written and exactly the chunks read deleted. Chunks that do not load are
    /// [`StorageError::Corrupt`] and stay in place.
    pub fn compact(&self, doc: &DocumentId) -> Result<Compaction, StorageError> {
        let Some(_running) = CompactionGuard::start(&self.compacting, *doc) else {
            return Ok(Compaction::AlreadyRunning);
        };
        // Other processes on shared storage (several server instances on one database).
        let Some(_across_processes) = self.storage.try_lock(&document_lock_name(doc))? else {
            return Ok(Compaction::AlreadyRunning);
        };
        let chunks = {
            let _shared = self.shared(doc);
            self.read_chunks(doc)?
        };
        if chunks.len() <= 1 {
            return Ok(Compaction::NothingToDo);
        }
        let snapshot = merge_chunks(doc, &chunks)?;
        let snapshot_key = chunk_key(doc, SNAPSHOT, &sha256_hex(&snapshot));

        let _exclusive = self.exclusive(doc);
        // Under the exclusive lock nothing else can delete, so if every chunk read is still
        // there, the batch below replaces exactly what the snapshot holds.
        let present: HashSet<StorageKey> = self
            .storage
            .keys_with_prefix(&document_prefix(doc))?
            .into_iter()
            .collect();
        if !chunks.iter().all(|chunk| present.contains(&chunk.key)) {
            return Ok(Compaction::Superseded);
        }
        let mut batch = Batch::new();
        let snapshot_len = snapshot.len();
        batch.put(snapshot_key.clone(), snapshot);
        let mut replaced = 0;
        // A chunk identical to the new snapshot has the same key: deleting it would delete
        // the snapshot.
        for chunk in chunks.into_iter().filter(|c| c.key != snapshot_key) {
            batch.delete(chunk.key);
            replaced += 1;
        }
        self.storage.apply(batch)?;
        tracing::debug!(document = %doc, replaced, snapshot_len, "compacted");
        Ok(Compaction::Compacted {
            replaced,
            snapshot_len,
        })
    }

    /// Every document with something stored, ordered by their bs58 form.
    ///
    /// Reads only the `["docs", docId]` markers, one short key per document, which each
    /// append and `put_meta` writes in the batch that stores its data: the listing does not
    /// grow with the number of chunks, and users of other key spaces are not scanned.
    pub fn list_documents(&self) -> Result<Vec<DocumentId>, StorageError> {
        let prefix = StorageKey::from_valid_components(vec![DOCUMENT_INDEX_PREFIX.to_owned()]);
        self.storage
            .keys_with_prefix(&prefix)?
            .into_iter()
            .map(|key| match key.components() {
                [_, id] => id.parse().map_err(|e| StorageError::Corrupt {
                    key: key.to_string(),
                    reason: format!("a document marker does not name a document id: {e}"),
                }),
                _ => Err(StorageError::Corrupt {
                    key: key.to_string(),
                    reason: "a document marker has two components".to_owned(),
                }),
            })
            .collect()
    }

    /// How many documents are stored (reads keys only; no id is decoded).
    pub fn count_documents(&self) -> Result<usize, StorageError> {
        let prefix = StorageKey::from_valid_components(vec![DOCUMENT_INDEX_PREFIX.to_owned()]);
        Ok(self.storage.keys_with_prefix(&prefix)?.len())
    }

    /// Erases every key of the document (chunks, metadata, marker) in one atomic batch, and
    /// returns how many keys there were. An append racing with it lands either before (and
    /// is erased) or after (and stores the document anew).
    ///
    /// sled is log-structured: erased values leave its files only when sled reuses their
    /// segments, so erasure for privacy also needs sled's space to be reclaimed.
    pub fn delete_document(&self, doc: &DocumentId) -> Result<usize, StorageError> {
        self.delete_document_with(doc, Batch::new())
    }

    /// [`DocStore::delete_document`], with `also` (the caller's records about the document:
    /// its access rules and authorship, a tombstone, sync bookkeeping) written in the same
    /// atomic, flushed batch, so that a crash keeps either all of the erasure or none of it.
    pub fn delete_document_with(
        &self,
        doc: &DocumentId,
        also: Batch,
    ) -> Result<usize, StorageError> {
        // A compaction in another process must not write its snapshot after this erasure.
        let _across_processes = crate::lock_waiting(
            self.storage.as_ref(),
            &document_lock_name(doc),
            ERASURE_LOCK_WAIT,
        )?;
        let _exclusive = self.exclusive(doc);
        let keys = self.storage.keys_with_prefix(&document_prefix(doc))?;
        let count = keys.len();
        let mut batch = also;
        for key in keys {
            batch.delete(key);
        }
        batch.delete(index_key(doc));
        self.storage.apply(batch)?;
        self.known_chunks().remove(doc);
        Ok(count)
    }

    /// The metadata value `name` of the document, if set. `name` must be a valid key
    /// component (else [`StorageError::Invalid`]).
    pub fn get_meta(&self, doc: &DocumentId, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.storage.get(&meta_key(doc, name)?)
    }

    /// Sets the metadata value `name` of the document, durably when this returns. The
    /// document then counts as stored ([`DocStore::list_documents`]), so that erasing
    /// everything listed erases its metadata too.
    pub fn put_meta(&self, doc: &DocumentId, name: &str, value: &[u8]) -> Result<(), StorageError> {
        let mut batch = Batch::new();
        batch
            .put(meta_key(doc, name)?, value.to_vec())
            .put(index_key(doc), Vec::new());
        let _shared = self.shared(doc);
        self.storage.apply(batch)
    }

    /// Runs one of the sync engine's storage tasks and answers it. Errors become
    /// [`StorageResult::Failed`] with the error's message as the reason.
    pub fn run(&self, task: StorageTask) -> StorageResult {
        match task {
            StorageTask::Load { task, document_id } => match self.load(&document_id) {
                Ok(data) => StorageResult::Loaded {
                    task,
                    document_id,
                    data,
                },
                Err(error) => StorageResult::Failed {
                    task,
                    document_id,
                    reason: error.to_string(),
                },
            },
            StorageTask::Append {
                task,
                document_id,
                chunk,
            } => match self.append(&document_id, &chunk) {
                Ok(()) => StorageResult::Appended { task, document_id },
                Err(error) => StorageResult::Failed {
                    task,
                    document_id,
                    reason: error.to_string(),
                },
            },
        }
    }

    /// The lock stripe of the document. Document ids are random bytes, so their first bytes
    /// spread documents evenly over the stripes.
    fn lock(&self, doc: &DocumentId) -> &RwLock<()> {
        let bytes = doc.as_bytes();
        let spread = u16::from_le_bytes([bytes[0], bytes[1]]) as usize;
        &self.locks[spread % self.locks.len()]
    }

    /// The document's lock, shared. A panic while it was held leaves no half-done state (the
    /// lock guards no data, only the order of storage calls), so poisoning is ignored.
    fn shared(&self, doc: &DocumentId) -> RwLockReadGuard<'_, ()> {
        self.lock(doc)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The document's lock, exclusive; see [`DocStore::shared`] about poisoning.
    fn exclusive(&self, doc: &DocumentId) -> RwLockWriteGuard<'_, ()> {
        self.lock(doc)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The document's chunks, snapshots first, each checked against the hash in its key. The
    /// caller holds the document's lock.
    fn read_chunks(&self, doc: &DocumentId) -> Result<Vec<Chunk>, StorageError> {
        // One scan of the document's keys (one read of a networked store, and one consistent
        // view there), snapshots put first.
        let prefix = StorageKey::from_valid_components(vec![doc.to_string()]);
        let (mut snapshots, mut incrementals) = (Vec::new(), Vec::new());
        for (key, bytes) in self.storage.scan_prefix(&prefix)? {
            let kind = match key.components() {
                [_, kind, ..] if kind == SNAPSHOT => &mut snapshots,
                [_, kind, ..] if kind == INCREMENTAL => &mut incrementals,
                // Its meta values (`put_meta`), read on their own.
                _ => continue,
            };
            check_chunk(&key, &bytes)?;
            kind.push(Chunk { key, bytes });
        }
        snapshots.append(&mut incrementals);
        Ok(snapshots)
    }
}

/// Checks that `bytes` are what chunk `key` names: `[docId, kind, sha256hex]` with the SHA-256
/// of `bytes`.
fn check_chunk(key: &StorageKey, bytes: &[u8]) -> Result<(), StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: key.to_string(),
        reason,
    };
    let [_, _, expected] = key.components() else {
        return Err(corrupt("a chunk key has three components".to_owned()));
    };
    let actual = sha256_hex(bytes);
    if *expected != actual {
        return Err(corrupt(format!(
            "the chunk's {} bytes hash to {actual}, not to the hash in its key (truncated or \
             overwritten)",
            bytes.len()
        )));
    }
    Ok(())
}

/// Loads the chunks and saves them as one snapshot, refusing whenever the snapshot might hold
/// less than the chunks.
fn merge_chunks(doc: &DocumentId, chunks: &[Chunk]) -> Result<Vec<u8>, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: doc.to_string(),
        reason: format!(
            "cannot compact {} chunks, left in place: {reason}",
            chunks.len()
        ),
    };
    let concatenated: Vec<u8> = chunks
        .iter()
        .flat_map(|c| c.bytes.iter().copied())
        .collect();
    let loaded = Automerge::load(&concatenated)
        .map_err(|e| corrupt(format!("they do not load as an Automerge document: {e}")))?;
    // A change whose dependencies are missing would wait in the document's queue, which
    // `save` leaves out: compacting would drop it. automerge 0.12's `load` already refuses
    // such chunks; this check keeps the guarantee if a later version queues them instead.
    let missing = loaded.get_missing_deps(&[]);
    if !missing.is_empty() {
        return Err(corrupt(format!(
            "they hold changes whose {} dependencies are missing",
            missing.len()
        )));
    }
    let snapshot = loaded.save();
    // Deleting the chunks relies on the snapshot holding the same history, so check it does
    // rather than trust `save`.
    let reloaded = Automerge::load(&snapshot)
        .map_err(|e| corrupt(format!("the new snapshot does not load back: {e}")))?;
    let mut expected = loaded.get_heads();
    let mut actual = reloaded.get_heads();
    expected.sort();
    actual.sort();
    if expected != actual {
        return Err(corrupt(
            "the new snapshot loads back with other heads".to_owned(),
        ));
    }
    Ok(snapshot)
}

/// Marks a document as being compacted for as long as it lives.
struct CompactionGuard<'a> {
    compacting: &'a Mutex<HashSet<DocumentId>>,
    doc: DocumentId,
}

impl<'a> CompactionGuard<'a> {
    /// The guard, or `None` when the document is already being compacted.
    fn start(compacting: &'a Mutex<HashSet<DocumentId>>, doc: DocumentId) -> Option<Self> {
        let inserted = compacting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(doc);
        inserted.then_some(Self { compacting, doc })
    }
}

impl Drop for CompactionGuard<'_> {
    fn drop(&mut self) {
        self.compacting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.doc);
    }
}

/// The name of the lock ([`Storage::try_lock`]) that compaction and erasure of a document
/// take, so that no two processes sharing the storage compact it at once, and a compaction
/// never writes its snapshot after another process erased the document.
fn document_lock_name(doc: &DocumentId) -> Vec<u8> {
    let mut name = b"document/".to_vec();
    name.extend_from_slice(doc.as_bytes());
    name
}

/// How long an erasure waits for another process's compaction of the document.
const ERASURE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `[docId]`: every key of the document.
fn document_prefix(doc: &DocumentId) -> StorageKey {
    StorageKey::from_valid_components(vec![doc.to_string()])
}

/// `[docId, kind, hash]`, where `kind` is one of the words above and `hash` a SHA-256 in hex.
fn chunk_key(doc: &DocumentId, kind: &str, hash: &str) -> StorageKey {
    StorageKey::from_valid_components(vec![doc.to_string(), kind.to_owned(), hash.to_owned()])
}

/// `["docs", docId]`.
fn index_key(doc: &DocumentId) -> StorageKey {
    StorageKey::from_valid_components(vec![DOCUMENT_INDEX_PREFIX.to_owned(), doc.to_string()])
}

/// `[docId, "meta", name]`; `name` comes from the caller, so it is checked.
fn meta_key(doc: &DocumentId, name: &str) -> Result<StorageKey, StorageError> {
    StorageKey::try_new([doc.to_string(), META.to_owned(), name.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStorage;
    use automerge::transaction::Transactable;

    /// The builders that skip validation must only build valid keys, for any document id,
    /// including the shortest (all zero bytes).
    #[test]
    fn internal_keys_are_valid_and_document_ids_are_long() {
        for doc in [
            DocumentId::from_bytes([0; 16]),
            DocumentId::from_bytes([255; 16]),
        ]
        .into_iter()
        .chain((0..100).map(|_| DocumentId::random()))
        {
            assert!(doc.to_string().len() >= 20, "{doc} is short");
            for key in [
                document_prefix(&doc),
                chunk_key(&doc, SNAPSHOT, &sha256_hex(b"x")),
                chunk_key(&doc, INCREMENTAL, &sha256_hex(b"")),
                index_key(&doc),
            ] {
                assert_eq!(StorageKey::try_new(key.components().to_vec()).unwrap(), key);
            }
        }
    }

    #[test]
    fn a_bad_frame_under_a_chunk_is_corrupt() {
        let storage = Arc::new(MemoryStorage::new());
        let store = DocStore::new(storage.clone());
        let doc = DocumentId::random();
        let mut am = Automerge::new();
        am.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(automerge::ROOT, "k", 1)?;
            Ok(())
        })
        .unwrap();
        let chunk = am.save();
        store.append(&doc, &chunk).unwrap();
        let key = chunk_key(&doc, INCREMENTAL, &sha256_hex(&chunk));
        let mut framed = crate::frame::seal(&chunk);
        let middle = framed.len() / 2;
        framed[middle] ^= 0x10;
        storage.put_raw(key.clone(), framed);
        match store.load(&doc) {
            Err(StorageError::Corrupt { key: named, reason }) => {
                assert_eq!(named, key.to_string());
                assert!(reason.contains("CRC32"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

//! `DocStore` on real backends: compaction, concurrency, corruption, listing and erasure, and
//! the sled backend's lock.

use crate::support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use automerge::{Automerge, ChangeHash, ReadDoc};
use passerelle_core::{DocumentId, StorageResult, StorageTask, TaskId};
use passerelle_store::testing::TestDatabase;
use passerelle_store::{
    Batch, Compaction, DEFAULT_MAX_CHUNKS, DocStore, MemoryStorage, SledStorage, Storage,
    StorageError, StorageKey,
};
use support::{change, int_at};

fn sled_store(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
    Arc::new(SledStorage::open(dir.path()).expect("open sled"))
}

/// The document's chunk keys of one kind, straight from the storage.
fn chunk_keys(storage: &dyn Storage, doc: &DocumentId, kind: &str) -> Vec<StorageKey> {
    storage
        .keys_with_prefix(&StorageKey::try_new([doc.to_string(), kind.to_owned()]).unwrap())
        .unwrap()
}

fn load_doc(store: &DocStore, doc: &DocumentId) -> Automerge {
    let bytes = store.load(doc).unwrap().expect("the document is stored");
    Automerge::load(&bytes).expect("the stored chunks load")
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

fn expect_corrupt<T: std::fmt::Debug>(result: Result<T, StorageError>) -> (String, String) {
    match result {
        Err(StorageError::Corrupt { key, reason }) => (key, reason),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Appends 25 changes one by one and checks that compaction keeps the chunk count bounded
/// while every change survives.
fn compaction_keeps_every_change(storage: Arc<dyn Storage>) {
    let store = DocStore::new(storage.clone());
    let doc_id = DocumentId::random();
    let mut doc = Automerge::new();
    let mut counts = Vec::new();
    for i in 0..25 {
        let (chunk, _) = change(&mut doc, &format!("k{i}"), i);
        store.append(&doc_id, &chunk).unwrap();
        counts.push(store.chunk_count(&doc_id).unwrap());
    }
    // The 11th chunk triggers the first compaction, down to one snapshot.
    assert_eq!(
        &counts[..DEFAULT_MAX_CHUNKS],
        &(1..=10).collect::<Vec<_>>()[..]
    );
    assert_eq!(counts[DEFAULT_MAX_CHUNKS], 1, "counts: {counts:?}");
    assert!(
        counts.iter().all(|&c| c <= DEFAULT_MAX_CHUNKS),
        "counts: {counts:?}"
    );
    assert_eq!(chunk_keys(&*storage, &doc_id, "snapshot").len(), 1);

    let loaded = load_doc(&store, &doc_id);
    assert_eq!(sorted(loaded.get_heads()), sorted(doc.get_heads()));
    for i in 0..25 {
        assert_eq!(int_at(&loaded, &format!("k{i}")), Some(i));
    }
}

#[test]
fn compaction_keeps_every_change_in_memory() {
    compaction_keeps_every_change(Arc::new(MemoryStorage::new()));
}

#[test]
fn compaction_keeps_every_change_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    compaction_keeps_every_change(sled_store(&dir));
}

#[test]
fn compaction_keeps_every_change_on_postgres() {
    let Some(db) = TestDatabase::create("compaction_keeps_every_change_on_postgres") else {
        return;
    };
    compaction_keeps_every_change(Arc::new(db.storage()));
}

/// Several writers append to one document (each its own actor) while the low threshold makes
/// compactions run all the time, and a reader loads it in a loop: no acknowledged change may
/// be missing from the end result, nor from any load that started after it was acknowledged.
#[test]
fn concurrent_appends_and_loads_during_compaction_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_appends_and_loads_lose_nothing(sled_store(&dir));
}

#[test]
fn concurrent_appends_and_loads_during_compaction_lose_nothing_on_postgres() {
    let Some(db) = TestDatabase::create(
        "concurrent_appends_and_loads_during_compaction_lose_nothing_on_postgres",
    ) else {
        return;
    };
    concurrent_appends_and_loads_lose_nothing(Arc::new(db.storage()));
}

fn concurrent_appends_and_loads_lose_nothing(storage: Arc<dyn Storage>) {
    let store = Arc::new(DocStore::new(storage.clone()).with_max_chunks(3));
    let doc_id = DocumentId::random();
    let acked = Arc::new(std::sync::Mutex::new(Vec::<ChangeHash>::new()));
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (store, acked, done) = (store.clone(), acked.clone(), done.clone());
        thread::spawn(move || {
            let mut loads = 0;
            while !done.load(Ordering::Relaxed) {
                let expected = acked.lock().unwrap().clone();
                let Some(bytes) = store.load(&doc_id).unwrap() else {
                    assert!(expected.is_empty());
                    continue;
                };
                let doc = Automerge::load(&bytes).expect("a load during compaction parses");
                for hash in &expected {
                    assert!(
                        doc.get_change_by_hash(hash).is_some(),
                        "a load missed acknowledged change {hash}"
                    );
                }
                loads += 1;
            }
            loads
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (store, acked) = (store.clone(), acked.clone());
            thread::spawn(move || {
                let mut doc = Automerge::new();
                for i in 0..25 {
                    let (chunk, hash) = change(&mut doc, &format!("w{writer}-{i}"), i);
                    store.append(&doc_id, &chunk).unwrap();
                    acked.lock().unwrap().push(hash);
                }
                doc.get_heads()
            })
        })
        .collect();
    let heads: Vec<ChangeHash> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::Relaxed);
    let loads = reader.join().unwrap();

    let loaded = load_doc(&store, &doc_id);
    assert_eq!(sorted(loaded.get_heads()), sorted(heads));
    for writer in 0..4 {
        for i in 0..25 {
            assert_eq!(int_at(&loaded, &format!("w{writer}-{i}")), Some(i));
        }
    }
    assert!(loads > 0, "the reader never loaded");
    // 100 appends with a threshold of 3: compaction must have run.
    assert!(!chunk_keys(&*storage, &doc_id, "snapshot").is_empty());
    assert!(store.chunk_count(&doc_id).unwrap() <= 3 + 4);
}

/// Appends three chunks on sled with compaction out of the way, and returns the store's
/// directory, the document and its chunks' keys.
fn three_chunks_on_sled() -> (tempfile::TempDir, DocumentId, Vec<StorageKey>) {
    let dir = tempfile::tempdir().unwrap();
    let doc_id = DocumentId::random();
    {
        let store = DocStore::new(sled_store(&dir));
        let mut doc = Automerge::new();
        for i in 0..3 {
            store.append(&doc_id, &change(&mut doc, "k", i).0).unwrap();
        }
    }
    let keys = {
        let storage = SledStorage::open(dir.path()).unwrap();
        chunk_keys(&storage, &doc_id, "incremental")
    };
    assert_eq!(keys.len(), 3);
    (dir, doc_id, keys)
}

/// Rewrites the raw sled value of `key` with `damage`, as a failing disk would.
fn damage_on_disk(dir: &tempfile::TempDir, key: &StorageKey, damage: impl Fn(&mut Vec<u8>)) {
    let db = sled::open(dir.path()).unwrap();
    let raw_key = key.to_ordered_bytes();
    let mut value = db
        .get(&raw_key)
        .unwrap()
        .expect("the key is stored")
        .to_vec();
    damage(&mut value);
    db.insert(raw_key, value).unwrap();
    db.flush().unwrap();
}

#[test]
fn a_flipped_byte_on_disk_is_corrupt_naming_the_key() {
    let (dir, doc_id, keys) = three_chunks_on_sled();
    damage_on_disk(&dir, &keys[1], |value| {
        let last = value.len() - 1;
        value[last] ^= 0x01;
    });
    let storage = sled_store(&dir);
    let (key, reason) = expect_corrupt(storage.get(&keys[1]));
    assert_eq!(key, keys[1].to_string());
    assert!(reason.contains("CRC32"), "{reason}");
    let (key, _) = expect_corrupt(DocStore::new(storage.clone()).load(&doc_id));
    assert_eq!(key, keys[1].to_string());
    // The other chunks are still readable one by one.
    assert!(storage.get(&keys[0]).unwrap().is_some());
}

/// Three chunks in a fresh PostgreSQL database, as `three_chunks_on_sled`.
fn three_chunks_on_postgres(test: &str) -> Option<(TestDatabase, DocumentId, Vec<StorageKey>)> {
    let db = TestDatabase::create(test)?;
    let doc_id = DocumentId::random();
    let storage: Arc<dyn Storage> = Arc::new(db.storage());
    let store = DocStore::new(storage.clone());
    let mut doc = Automerge::new();
    for i in 0..3 {
        store.append(&doc_id, &change(&mut doc, "k", i).0).unwrap();
    }
    let keys = chunk_keys(&*storage, &doc_id, "incremental");
    assert_eq!(keys.len(), 3);
    Some((db, doc_id, keys))
}

/// Rewrites the stored value of `key` in PostgreSQL with `expression` (SQL over `value`).
fn damage_in_postgres(db: &TestDatabase, key: &StorageKey, expression: &str) {
    let raw = hex::encode(key.to_ordered_bytes());
    db.execute(&format!(
        "UPDATE passerelle_kv SET value = {expression} WHERE key = '\\x{raw}'::bytea"
    ))
    .unwrap();
}

#[test]
fn a_flipped_byte_in_postgres_is_corrupt_naming_the_key() {
    let test = "a_flipped_byte_in_postgres_is_corrupt_naming_the_key";
    let Some((db, doc_id, keys)) = three_chunks_on_postgres(test) else {
        return;
    };
    damage_in_postgres(
        &db,
        &keys[1],
        "set_byte(value, length(value) - 1, get_byte(value, length(value) - 1) # 1)",
    );
    let storage: Arc<dyn Storage> = Arc::new(db.storage());
    let (key, reason) = expect_corrupt(storage.get(&keys[1]));
    assert_eq!(key, keys[1].to_string());
    assert!(reason.contains("CRC32"), "{reason}");
    let (key, _) = expect_corrupt(DocStore::new(storage.clone()).load(&doc_id));
    assert_eq!(key, keys[1].to_string());
    assert!(storage.get(&keys[0]).unwrap().is_some());
    // A truncated frame too, found by a scan.
    damage_in_postgres(&db, &keys[2], "substring(value from 1 for 3)");
    let prefix = StorageKey::try_new([doc_id.to_string()]).unwrap();
    let (key, reason) = expect_corrupt(storage.scan_prefix(&prefix));
    // The first damaged key in key order (keys come in key order).
    assert_eq!(key, keys[1].to_string());
    assert!(!reason.is_empty());
}

#[test]
fn a_truncated_frame_on_disk_is_corrupt() {
    let (dir, doc_id, keys) = three_chunks_on_sled();
    damage_on_disk(&dir, &keys[2], |value| value.truncate(value.len() / 2));
    let (key, reason) = expect_corrupt(DocStore::new(sled_store(&dir)).load(&doc_id));
    assert_eq!(key, keys[2].to_string());
    assert!(reason.contains("CRC32"), "{reason}");
}

/// A chunk stored whole-framed but cut short (a writer bug, not a disk error) passes the frame
/// check and is caught by the content hash.
#[test]
fn a_truncated_chunk_is_corrupt() {
    let db = TestDatabase::create("a_truncated_chunk_is_corrupt (on PostgreSQL)");
    let mut backends = vec![
        Arc::new(MemoryStorage::new()) as Arc<dyn Storage>,
        sled_store(&tempfile::tempdir().unwrap()),
    ];
    backends.extend(
        db.as_ref()
            .map(|db| Arc::new(db.storage()) as Arc<dyn Storage>),
    );
    for storage in backends {
        let store = DocStore::new(storage.clone());
        let doc_id = DocumentId::random();
        let mut doc = Automerge::new();
        store.append(&doc_id, &change(&mut doc, "k", 1).0).unwrap();
        let key = chunk_keys(&*storage, &doc_id, "incremental").remove(0);
        let mut chunk = storage.get(&key).unwrap().unwrap();
        chunk.truncate(chunk.len() - 3);
        let mut batch = Batch::new();
        batch.put(key.clone(), chunk);
        storage.apply(batch).unwrap();

        let (named, reason) = expect_corrupt(store.load(&doc_id));
        assert_eq!(named, key.to_string());
        assert!(reason.contains("hash"), "{reason}");
        let answer = store.run(StorageTask::Load {
            task: TaskId(7),
            document_id: doc_id,
        });
        match answer {
            StorageResult::Failed { task, reason, .. } => {
                assert_eq!(task, TaskId(7));
                assert!(reason.contains(&key.to_string()), "{reason}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
}

/// Chunks that are not Automerge are never compacted away: appends still succeed, every
/// chunk stays, and `compact` says why.
#[test]
fn chunks_that_do_not_load_are_left_in_place() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = DocStore::new(storage).with_max_chunks(3);
    let doc_id = DocumentId::random();
    let mut expected = Vec::new();
    for i in 0..6u8 {
        let junk = vec![i; 40];
        store.append(&doc_id, &junk).unwrap();
        expected.push(junk);
    }
    assert_eq!(store.chunk_count(&doc_id).unwrap(), 6);
    let (key, reason) = expect_corrupt(store.compact(&doc_id));
    assert_eq!(key, doc_id.to_string());
    assert!(reason.contains("left in place"), "{reason}");
    // Chunks are loaded in key (hash) order, so compare as sets of 40-byte pieces.
    let loaded = store.load(&doc_id).unwrap().unwrap();
    let pieces: HashSet<&[u8]> = loaded.chunks(40).collect();
    assert_eq!(pieces, expected.iter().map(Vec::as_slice).collect());
}

/// A snapshot followed by a change whose parent was never stored: compacting would drop the
/// change (automerge 0.12 refuses to load it; a version that queued it would leave it out of
/// `save`), so compaction refuses and keeps both chunks.
#[test]
fn compaction_refuses_changes_with_missing_dependencies() {
    let store = DocStore::new(Arc::new(MemoryStorage::new()));
    let doc_id = DocumentId::random();
    let mut doc = Automerge::new();
    change(&mut doc, "a", 1);
    store.append(&doc_id, &doc.save()).unwrap();
    change(&mut doc, "b", 2); // never stored
    let (orphan, _) = change(&mut doc, "c", 3);
    store.append(&doc_id, &orphan).unwrap();

    let (_, reason) = expect_corrupt(store.compact(&doc_id));
    assert!(reason.contains("left in place"), "{reason}");
    assert_eq!(store.chunk_count(&doc_id).unwrap(), 2);
}

#[test]
fn compacting_again_or_a_single_chunk_does_nothing() {
    let store = DocStore::new(Arc::new(MemoryStorage::new()));
    let doc_id = DocumentId::random();
    assert_eq!(store.compact(&doc_id).unwrap(), Compaction::NothingToDo);
    let mut doc = Automerge::new();
    for i in 0..3 {
        store.append(&doc_id, &change(&mut doc, "k", i).0).unwrap();
    }
    assert!(matches!(
        store.compact(&doc_id).unwrap(),
        Compaction::Compacted { replaced: 3, .. }
    ));
    assert_eq!(store.compact(&doc_id).unwrap(), Compaction::NothingToDo);
    // A chunk identical to the snapshot compaction produces must not delete the snapshot.
    store.append(&doc_id, &doc.save()).unwrap();
    store.compact(&doc_id).unwrap();
    assert_eq!(load_doc(&store, &doc_id).get_heads(), doc.get_heads());
}

#[test]
fn list_and_delete_documents() {
    let dir = tempfile::tempdir().unwrap();
    list_and_delete_documents_on(sled_store(&dir));
}

#[test]
fn list_and_delete_documents_on_postgres() {
    let Some(db) = TestDatabase::create("list_and_delete_documents_on_postgres") else {
        return;
    };
    list_and_delete_documents_on(Arc::new(db.storage()));
}

fn list_and_delete_documents_on(storage: Arc<dyn Storage>) {
    let store = DocStore::new(storage.clone());
    // Another user of the same storage, as the server's auth module will be.
    let auth_key = StorageKey::try_new(["auth", "user", "alice"]).unwrap();
    let mut batch = Batch::new();
    batch.put(auth_key.clone(), b"{}".to_vec());
    storage.apply(batch).unwrap();

    let ids: Vec<DocumentId> = (0..5).map(|_| DocumentId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        let mut doc = Automerge::new();
        for j in 0..12 {
            store.append(id, &change(&mut doc, "k", j).0).unwrap();
        }
        store
            .put_meta(id, "title", format!("doc {i}").as_bytes())
            .unwrap();
    }
    let meta_only = DocumentId::random();
    store.put_meta(&meta_only, "owner", b"bob").unwrap();
    store.append(&DocumentId::random(), &[]).unwrap(); // Nothing to store.

    let mut expected: Vec<DocumentId> = ids.iter().copied().chain([meta_only]).collect();
    let mut listed = store.list_documents().unwrap();
    expected.sort_by_key(|id| id.to_string());
    listed.sort_by_key(|id| id.to_string());
    assert_eq!(listed, expected);

    // Compacted chunks (1 snapshot + 1 incremental), one meta key.
    assert_eq!(store.delete_document(&ids[0]).unwrap(), 3);
    assert_eq!(store.load(&ids[0]).unwrap(), None);
    assert_eq!(store.get_meta(&ids[0], "title").unwrap(), None);
    let prefix = StorageKey::try_new([ids[0].to_string()]).unwrap();
    assert!(storage.keys_with_prefix(&prefix).unwrap().is_empty());
    assert!(!store.list_documents().unwrap().contains(&ids[0]));
    assert_eq!(store.list_documents().unwrap().len(), 5);
    assert_eq!(
        store.get_meta(&ids[1], "title").unwrap(),
        Some(b"doc 1".to_vec())
    );
    assert_eq!(storage.get(&auth_key).unwrap(), Some(b"{}".to_vec()));
    assert!(store.load(&ids[1]).unwrap().is_some());

    // Erasure with the caller's own records in the same batch: the document's keys go, the
    // caller's delete and put land with them.
    let tombstone = StorageKey::try_new(["tombstone", &ids[1].to_string()]).unwrap();
    let mut also = Batch::new();
    also.delete(auth_key.clone())
        .put(tombstone.clone(), b"t".to_vec());
    assert_eq!(store.delete_document_with(&ids[1], also).unwrap(), 3);
    assert_eq!(store.load(&ids[1]).unwrap(), None);
    assert_eq!(store.chunk_count(&ids[1]).unwrap(), 0);
    assert!(!store.list_documents().unwrap().contains(&ids[1]));
    assert_eq!(storage.get(&auth_key).unwrap(), None);
    assert_eq!(storage.get(&tombstone).unwrap(), Some(b"t".to_vec()));
}

#[test]
fn meta_names_are_validated() {
    let store = DocStore::new(Arc::new(MemoryStorage::new()));
    let doc_id = DocumentId::random();
    for name in ["", "a\0b"] {
        assert!(matches!(
            store.put_meta(&doc_id, name, b"x"),
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            store.get_meta(&doc_id, name),
            Err(StorageError::Invalid(_))
        ));
    }
    assert!(store.list_documents().unwrap().is_empty());
}

#[test]
fn run_answers_the_engines_tasks() {
    let store = DocStore::new(Arc::new(MemoryStorage::new()));
    let document_id = DocumentId::random();
    assert_eq!(
        store.run(StorageTask::Load {
            task: TaskId(1),
            document_id
        }),
        StorageResult::Loaded {
            task: TaskId(1),
            document_id,
            data: None
        }
    );
    let mut doc = Automerge::new();
    let (chunk, _) = change(&mut doc, "k", 1);
    assert_eq!(
        store.run(StorageTask::Append {
            task: TaskId(2),
            document_id,
            chunk: chunk.clone()
        }),
        StorageResult::Appended {
            task: TaskId(2),
            document_id
        }
    );
    assert_eq!(
        store.run(StorageTask::Load {
            task: TaskId(3),
            document_id
        }),
        StorageResult::Loaded {
            task: TaskId(3),
            document_id,
            data: Some(chunk)
        }
    );
}

#[test]
fn a_second_open_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = SledStorage::open(dir.path()).unwrap();
    match SledStorage::open(dir.path()) {
        Err(error @ StorageError::Locked { .. }) => {
            assert!(
                error.to_string().contains("in use by another process"),
                "{error}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    // Dropping releases the directory at once, every time.
    for _ in 0..20 {
        drop(SledStorage::open(dir.path()).unwrap());
    }
}

/// A process killed while sled wrote a snapshot leaves `snap.N.generating`; sled 0.34.7 then
/// refuses to open the store (its issue #1527). The store opens, with everything it held, once
/// the unfinished file is removed, which `SledStorage::open` does (found by
/// `tests/crash_loop.rs`: a client killed during an edit).
#[test]
fn a_snapshot_left_unfinished_by_a_killed_process_does_not_stop_the_store_opening() {
    let dir = tempfile::tempdir().unwrap();
    let key = StorageKey::try_new(["kept"]).unwrap();
    {
        let storage = SledStorage::open(dir.path()).unwrap();
        let mut batch = Batch::new();
        batch.put(key.clone(), b"value".to_vec());
        storage.apply(batch).unwrap();
    }
    let unfinished = dir.path().join("snap.00000000000FFFFF.generating");
    std::fs::write(&unfinished, b"half a snapshot").unwrap();
    let storage = SledStorage::open(dir.path()).unwrap();
    assert_eq!(storage.get(&key).unwrap().as_deref(), Some(&b"value"[..]));
    assert!(!unfinished.exists());
    // Another process holding the store: its unfinished snapshot is left alone.
    std::fs::write(&unfinished, b"being written").unwrap();
    assert!(matches!(
        SledStorage::open(dir.path()),
        Err(StorageError::Locked { .. })
    ));
    assert!(unfinished.exists());
}

/// Memory storage that counts key listings (what an append's compaction check reads).
#[derive(Default)]
struct CountingListings {
    inner: MemoryStorage,
    listings: std::sync::atomic::AtomicUsize,
}

impl Storage for CountingListings {
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key)
    }
    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        self.inner.scan_prefix(prefix)
    }
    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        self.inner.keys_with_prefix(prefix)
    }
    fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
        self.inner.apply_deferred(batch)
    }
    fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush()
    }
}

/// Once a document's chunks are counted (by a load), appends under the maximum read no key
/// listing; the one that passes it counts again and compacts, exactly as without the count
/// kept in memory.
#[test]
fn appends_under_the_maximum_do_not_count_chunks_again() {
    let storage = Arc::new(CountingListings::default());
    let store = DocStore::new(storage.clone()).with_max_chunks(3);
    let doc_id = DocumentId::random();
    let mut doc = Automerge::new();
    assert_eq!(store.load(&doc_id).unwrap(), None);
    for i in 0..3 {
        let (chunk, _) = change(&mut doc, &format!("k{i}"), i);
        store.append(&doc_id, &chunk).unwrap();
    }
    assert_eq!(storage.listings.load(Ordering::SeqCst), 0);
    let (chunk, _) = change(&mut doc, "k3", 3);
    store.append(&doc_id, &chunk).unwrap();
    assert!(storage.listings.load(Ordering::SeqCst) > 0);
    assert_eq!(
        store.chunk_count(&doc_id).unwrap(),
        1,
        "compacted to one snapshot"
    );
    assert_eq!(load_doc(&store, &doc_id).get_heads(), doc.get_heads());

    // A document this store never loaded is counted at its first append.
    let other = DocumentId::random();
    let before = storage.listings.load(Ordering::SeqCst);
    let (chunk, _) = change(&mut Automerge::new(), "x", 1);
    store.append(&other, &chunk).unwrap();
    assert_eq!(storage.listings.load(Ordering::SeqCst), before + 1);
}

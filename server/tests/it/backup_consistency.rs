//! A backup of a store that changes while it is read: each document is backed up as it was
//! at one instant, even when a compaction commits in the middle of reading it.

use std::sync::{Arc, Mutex};

use automerge::transaction::Transactable as _;
use automerge::{Automerge, ChangeHash};
use passerelle_core::DocumentId;
use passerelle_server::backup::{self, BackupError, Progress};
use passerelle_store::{
    Batch, Compaction, DocStore, MemoryStorage, SledStorage, Storage, StorageError, StorageKey,
};

type Entries = Vec<(StorageKey, Vec<u8>)>;

/// What a scan of the watched prefix returns, given the store and an honest scan.
type OnScan = Box<dyn FnMut(&Arc<MemoryStorage>, Entries) -> Entries + Send>;

/// A store whose scans of one prefix see what `on_scan` makes of them, as a sled scan racing
/// with a batch can.
struct Racing {
    inner: Arc<MemoryStorage>,
    watched: StorageKey,
    on_scan: Mutex<OnScan>,
}

impl Storage for Racing {
    fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key)
    }

    fn scan_prefix(&self, prefix: &StorageKey) -> Result<Entries, StorageError> {
        let entries = self.inner.scan_prefix(prefix)?;
        if *prefix != self.watched {
            return Ok(entries);
        }
        Ok((self.on_scan.lock().unwrap())(&self.inner, entries))
    }

    fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        self.inner.keys_with_prefix(prefix)
    }

    fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
        self.inner.apply_deferred(batch)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush()
    }
}

fn is_snapshot(key: &StorageKey) -> bool {
    key.components()
        .get(1)
        .is_some_and(|kind| kind == "snapshot")
}

fn edit(doc: &mut Automerge, field: &str, value: i64) -> Vec<u8> {
    let before = doc.get_heads();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, field, value).unwrap();
    tx.commit();
    doc.save_after(&before)
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// A document stored as one snapshot and two incrementals, on `inner`.
fn snapshot_and_incrementals(inner: &Arc<MemoryStorage>) -> (DocumentId, Automerge) {
    let docs = DocStore::new(inner.clone()).with_max_chunks(100);
    let id = DocumentId::random();
    let mut doc = Automerge::new();
    docs.append(&id, &edit(&mut doc, "a", 1)).unwrap();
    docs.append(&id, &edit(&mut doc, "b", 2)).unwrap();
    assert!(matches!(
        docs.compact(&id).unwrap(),
        Compaction::Compacted { .. }
    ));
    docs.append(&id, &edit(&mut doc, "c", 3)).unwrap();
    docs.append(&id, &edit(&mut doc, "d", 4)).unwrap();
    assert_eq!(docs.chunk_count(&id).unwrap(), 3);
    (id, doc)
}

#[test]
fn a_compaction_during_the_read_of_a_document_is_read_again() -> anyhow::Result<()> {
    let inner = Arc::new(MemoryStorage::new());
    let (id, doc) = snapshot_and_incrementals(&inner);

    // The first scan of the document races with its compaction: it read the incrementals
    // before the compaction committed, and went past the new snapshot's key before it
    // existed and the old one's after it was deleted. It sees incrementals whose base is
    // nowhere: a document that does not load.
    let broken_view = Arc::new(Mutex::new(None));
    let on_scan: OnScan = {
        let broken_view = Arc::clone(&broken_view);
        let mut raced = false;
        Box::new(move |inner, entries| {
            if raced {
                return entries;
            }
            raced = true;
            let docs = DocStore::new(inner.clone());
            assert!(matches!(
                docs.compact(&id).unwrap(),
                Compaction::Compacted { .. }
            ));
            let view: Entries = entries
                .into_iter()
                .filter(|(k, _)| !is_snapshot(k))
                .collect();
            *broken_view.lock().unwrap() = Some(view.clone());
            view
        })
    };
    let storage = Racing {
        inner: inner.clone(),
        watched: StorageKey::try_new([id.to_string()])?,
        on_scan: Mutex::new(on_scan),
    };

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("raced.pslbak");
    backup::backup_to_file(&storage, &file, Progress::Quiet)?;

    // That view is what a backup without the second look would have held.
    let view = broken_view.lock().unwrap().take().expect("the race ran");
    let bytes: Vec<u8> = view.iter().flat_map(|(_, v)| v.clone()).collect();
    assert!(
        Automerge::load(&bytes).is_err(),
        "the raced view should not load"
    );

    // The backup holds the compacted document, whole.
    let restored_dir = dir.path().join("restored");
    let summary = backup::restore(&restored_dir, &file, Progress::Quiet)?;
    assert_eq!(summary.documents_loaded, 1);
    assert_eq!(summary.verified.counts.chunks, 1);
    let restored = DocStore::new(Arc::new(SledStorage::open(&restored_dir)?));
    let loaded = Automerge::load(&restored.load(&id)?.unwrap())?;
    assert_eq!(sorted(loaded.get_heads()), sorted(doc.get_heads()));
    Ok(())
}

#[test]
fn a_document_that_changes_at_every_read_fails_the_backup_with_a_reason() -> anyhow::Result<()> {
    let inner = Arc::new(MemoryStorage::new());
    let (id, mut doc) = snapshot_and_incrementals(&inner);
    let mut round = 0;
    let on_scan: OnScan = Box::new(move |inner, entries| {
        // An append lands after every read.
        round += 1;
        let docs = DocStore::new(inner.clone()).with_max_chunks(1_000);
        docs.append(&id, &edit(&mut doc, "busy", round)).unwrap();
        entries
    });
    let storage = Racing {
        inner,
        watched: StorageKey::try_new([id.to_string()])?,
        on_scan: Mutex::new(on_scan),
    };
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("busy.pslbak");
    let error = backup::backup_to_file(&storage, &file, Progress::Quiet).unwrap_err();
    assert!(
        matches!(error, BackupError::DocumentKeptChanging { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("try the backup again"),
        "{error}"
    );
    assert!(!file.exists(), "a failed backup left its file");
    Ok(())
}

//! Locks across processes on one PostgreSQL database (`Storage::try_lock`), as several
//! server instances use them: two `PostgresStorage`s stand for two processes (each has its
//! own connections, so PostgreSQL sees two sessions).

use std::sync::Arc;

use automerge::transaction::Transactable;
use passerelle_core::DocumentId;
use passerelle_store::testing::TestDatabase;
use passerelle_store::{Compaction, DocStore, Storage};

#[test]
fn a_lock_held_by_one_process_is_refused_to_another_until_released() {
    let Some(db) = TestDatabase::create("a_lock_held_by_one_process_is_refused") else {
        return;
    };
    let (one, other) = (db.storage(), db.storage());
    let held = one.try_lock(b"document/x").unwrap().expect("free at first");
    assert!(
        other.try_lock(b"document/x").unwrap().is_none(),
        "held elsewhere"
    );
    let unrelated = other.try_lock(b"document/y").unwrap();
    assert!(unrelated.is_some(), "another name is another lock");
    drop(held);
    // The release is queued to the lock connection: it lands within a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if other.try_lock(b"document/x").unwrap().is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never released");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn two_processes_never_compact_one_document_at_once() {
    let Some(db) = TestDatabase::create("two_processes_never_compact_one_document_at_once") else {
        return;
    };
    let (one, other): (Arc<dyn Storage>, Arc<dyn Storage>) =
        (Arc::new(db.storage()), Arc::new(db.storage()));
    let docs = DocStore::new(Arc::clone(&other)).with_max_chunks(100);
    let doc = DocumentId::random();
    let mut automerge = automerge::AutoCommit::new();
    let mut saved = Vec::new();
    for n in 0..3 {
        automerge.put(automerge::ROOT, "n", n).unwrap();
        let chunk = automerge.save_after(&saved);
        saved = automerge.get_heads();
        docs.append(&doc, &chunk).unwrap();
    }
    // The other process is compacting it (holds the document's lock, as DocStore names it).
    let mut name = b"document/".to_vec();
    name.extend_from_slice(doc.as_bytes());
    let held = one.try_lock(&name).unwrap().expect("free");
    assert_eq!(docs.compact(&doc).unwrap(), Compaction::AlreadyRunning);
    assert_eq!(docs.chunk_count(&doc).unwrap(), 3, "nothing touched");
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match docs.compact(&doc).unwrap() {
            Compaction::Compacted { replaced, .. } => {
                assert_eq!(replaced, 3);
                break;
            }
            Compaction::AlreadyRunning => {
                assert!(std::time::Instant::now() < deadline, "never released");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let loaded = automerge::Automerge::load(&docs.load(&doc).unwrap().unwrap()).unwrap();
    assert_eq!(loaded.get_heads(), automerge.get_heads());
}

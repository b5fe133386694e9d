//! Figures for the design notes, not checks: run with
//! `cargo test -p passerelle-store --release --test measure -- --ignored --nocapture`.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::Automerge;
use passerelle_core::DocumentId;
use passerelle_store::{Batch, DocStore, SledStorage, Storage, StorageKey};
use support::change;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    format!(
        "median {:?}, p90 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "a measurement, run by hand"]
fn append_latency_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());

    let mut flush_only = Vec::new();
    for i in 0..200 {
        let mut batch = Batch::new();
        batch.put(
            StorageKey::try_new(["bench", &i.to_string()]).unwrap(),
            vec![0; 64],
        );
        let started = Instant::now();
        storage.apply(batch).unwrap();
        flush_only.push(started.elapsed());
    }
    println!("apply of one 64-byte put: {}", percentiles(flush_only));

    let store = DocStore::new(storage);
    let doc_id = DocumentId::random();
    let mut doc = Automerge::new();
    let mut appends = Vec::new();
    let mut compacting = Vec::new();
    for i in 0..300 {
        let (chunk, _) = change(&mut doc, &format!("k{i}"), i);
        let before = store.chunk_count(&doc_id).unwrap();
        let started = Instant::now();
        store.append(&doc_id, &chunk).unwrap();
        let elapsed = started.elapsed();
        if store.chunk_count(&doc_id).unwrap() < before {
            compacting.push(elapsed);
        } else {
            appends.push(elapsed);
        }
    }
    println!(
        "DocStore::append without compaction: {}",
        percentiles(appends)
    );
    println!(
        "DocStore::append with compaction (document of ~{} bytes): {}",
        doc.save().len(),
        percentiles(compacting)
    );
}

const LIST_DIR_ENV: &str = "PASSERELLE_MEASURE_DIR";

/// The child of `list_documents_of_100k`.
#[test]
#[ignore = "a measurement, run by hand"]
fn list_documents_child() {
    let Ok(dir) = std::env::var(LIST_DIR_ENV) else {
        return;
    };
    let rss_start = rss_kib();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir).unwrap());
    let rss_open = rss_kib();
    let store = DocStore::new(storage.clone());
    for _ in 0..3 {
        let started = Instant::now();
        let listed = store.list_documents().unwrap();
        println!(
            "list_documents (markers): {} ids in {:?}; RSS {rss_start} KiB at start, \
             {rss_open} KiB after open, {} KiB after listing",
            listed.len(),
            started.elapsed(),
            rss_kib()
        );
    }
    let started = Instant::now();
    let markers = storage
        .keys_with_prefix(&StorageKey::try_new(["docs"]).unwrap())
        .unwrap();
    println!(
        "of which the key scan alone ({} keys): {:?}",
        markers.len(),
        started.elapsed()
    );
}

#[test]
#[ignore = "a measurement, run by hand"]
fn list_documents_of_100k() {
    const DOCS: usize = 100_000;
    const CHUNKS_PER_DOC: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    let ids: Vec<DocumentId> = (0..DOCS).map(|_| DocumentId::random()).collect();
    let started = Instant::now();
    // Write what appends would write (chunk keys and markers), in big batches to save time.
    for group in ids.chunks(2_000) {
        let mut batch = Batch::new();
        for id in group {
            for c in 0..CHUNKS_PER_DOC {
                let hash = format!("{c:064x}");
                let key = StorageKey::try_new([id.to_string(), "incremental".into(), hash]);
                batch.put(key.unwrap(), vec![7; 100]);
            }
            let marker = StorageKey::try_new(["docs".to_owned(), id.to_string()]).unwrap();
            batch.put(marker, Vec::new());
        }
        storage.apply(batch).unwrap();
    }
    println!(
        "wrote {DOCS} documents x {CHUNKS_PER_DOC} chunks in {:?}",
        started.elapsed()
    );

    // A fresh process opens the store and lists it, so that its memory figures show what
    // the listing costs rather than what the writing left behind.
    drop(storage);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "list_documents_child",
            "--nocapture",
            "--ignored",
        ])
        .env(LIST_DIR_ENV, dir.path())
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
    // The alternative: every key of the store, deduplicated by first component.
    let started = Instant::now();
    let all = storage.keys_with_prefix(&StorageKey::root()).unwrap();
    let unique: BTreeSet<&str> = all
        .iter()
        .filter(|key| key.components()[0] != "docs")
        .map(|key| key.components()[0].as_str())
        .collect();
    println!(
        "scan of all {} keys, deduplicated: {} ids in {:?}",
        all.len(),
        unique.len(),
        started.elapsed()
    );
}

//! Crash test: a child process appends to a `DocStore` on sled and is killed with SIGKILL at a
//! random moment; every append it acknowledged must survive, and the document must load.
//!
//! The child is this test binary run again with `--exact crash::crash_child` and the directory in
//! `PASSERELLE_CRASH_DIR`. `PASSERELLE_TEST_SEED` replays the kill delays of a failed run.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash, ReadDoc};
use passerelle_core::DocumentId;
use passerelle_store::{DocStore, SledStorage};
use rand::{Rng, SeedableRng};
use support::{change, int_at};

const DIR_ENV: &str = "PASSERELLE_CRASH_DIR";
const DOC_ENV: &str = "PASSERELLE_CRASH_DOC";
const START_ENV: &str = "PASSERELLE_CRASH_START";
/// A low threshold, so that kills also land in compactions.
const MAX_CHUNKS: usize = 4;
/// What the child prints, followed by `<n> <change hash>`, once an append has returned.
const ACK: &str = "acked ";
const ROUNDS: usize = 10;

/// The child test's full name in this binary: its module path without the crate's name
/// (`crash::crash_child` in the `it` binary).
fn child_test_name() -> String {
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    if module.is_empty() {
        "crash_child".to_owned()
    } else {
        format!("{module}::crash_child")
    }
}

/// The child's side. In a normal test run the variable is unset and this does nothing.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let doc_id: DocumentId = std::env::var(DOC_ENV).unwrap().parse().unwrap();
    let start: i64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let store =
        DocStore::new(Arc::new(SledStorage::open(dir).unwrap())).with_max_chunks(MAX_CHUNKS);
    let mut doc = match store.load(&doc_id).unwrap() {
        Some(bytes) => Automerge::load(&bytes).unwrap(),
        None => Automerge::new(),
    };
    // Bounded, in case the parent dies without killing us.
    for n in start..start + 100_000 {
        let (chunk, hash) = change(&mut doc, &format!("k{n}"), n);
        store.append(&doc_id, &chunk).unwrap();
        // `println!` flushes at each newline; the line means "durable".
        println!("{ACK}{n} {hash}");
    }
}

/// Runs the child until killed, and returns what it acknowledged.
fn run_child_until_killed(
    dir: &std::path::Path,
    doc_id: DocumentId,
    start: i64,
    kill_after: Duration,
) -> Vec<(i64, ChangeHash)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &child_test_name(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(DOC_ENV, doc_id.to_string())
        .env(START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Count the delay from the first acknowledgement, so that process start-up (which
    // varies with the machine's load) does not eat it; give up waiting after 20 s.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(line) = lines_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let is_ack = line.contains(ACK);
        lines.push(line);
        if is_ack {
            break;
        }
    }
    thread::sleep(kill_after);
    child.kill().unwrap(); // SIGKILL on Unix.
    child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(lines_rx.try_iter());

    // The harness prints `test crash_child ... ` without a newline, so the first
    // acknowledgement shares its line: look for the word anywhere.
    lines
        .iter()
        .filter_map(|line| {
            let (_, rest) = line.split_once(ACK)?;
            let (n, hash) = rest.split_once(' ')?;
            Some((n.parse().unwrap(), hash.parse().unwrap()))
        })
        .collect()
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed = support::seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let doc_id = DocumentId::random();
    let mut acked: Vec<(i64, ChangeHash)> = Vec::new();
    let started = Instant::now();

    for round in 0..ROUNDS {
        let start = acked.last().map_or(0, |(n, _)| n + 1);
        let kill_after = Duration::from_millis(rng.gen_range(0..300));
        let new = run_child_until_killed(dir.path(), doc_id, start, kill_after);
        acked.extend(new);

        let store = DocStore::new(Arc::new(SledStorage::open(dir.path()).unwrap()))
            .with_max_chunks(MAX_CHUNKS);
        let Some(bytes) = store.load(&doc_id).unwrap() else {
            assert!(
                acked.is_empty(),
                "seed {seed}, round {round}: the document is gone"
            );
            continue;
        };
        let doc = Automerge::load(&bytes).unwrap_or_else(|e| {
            panic!("seed {seed}, round {round}: the document no longer loads: {e}")
        });
        for (n, hash) in &acked {
            assert!(
                doc.get_change_by_hash(hash).is_some(),
                "seed {seed}, round {round}: acknowledged change {n} ({hash}) is lost"
            );
            assert_eq!(
                int_at(&doc, &format!("k{n}")),
                Some(*n),
                "seed {seed}, round {round}"
            );
        }
        assert!(
            store.chunk_count(&doc_id).unwrap() <= MAX_CHUNKS + 1,
            "seed {seed}, round {round}: compaction stopped working"
        );
    }
    assert!(
        acked.len() >= ROUNDS,
        "seed {seed}: only {} appends were acknowledged in {ROUNDS} rounds",
        acked.len()
    );
    eprintln!(
        "{} acknowledged appends survived {ROUNDS} kills in {:?}",
        acked.len(),
        started.elapsed()
    );
}

//! kill -9 at random moments loses no edit that was reported saved.
//!
//! Two children are killed: this test binary re-executing itself as an editing loop (many
//! edits per round, so kills land during appends, flushes and compactions), and the real
//! `passerelle append` command (a kill between its start and its exit).
//!
//! Seeded: `PASSERELLE_TEST_SEED=<n>` replays a run; the seed is printed, and shown when a
//! test fails.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use passerelle_client::{DocPath, Replica};
use passerelle_core::DocumentId;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

/// Set in the child: the replica directory to edit.
const CHILD_HOME: &str = "PASSERELLE_CRASH_CHILD_HOME";
/// Set in the child: the document to edit.
const CHILD_DOC: &str = "PASSERELLE_CRASH_CHILD_DOC";
/// Set in the child: the number of its first edit.
const CHILD_FIRST: &str = "PASSERELLE_CRASH_CHILD_FIRST";

const ROUNDS: usize = 8;

fn seeded_rng(test: &str) -> StdRng {
    let seed = std::env::var("PASSERELLE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    // Captured by the test harness, and so printed when the test fails.
    println!("{test}: PASSERELLE_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// The child's body: appends `{"n": i}` to `entries` for i = first, first + 1, … and prints
/// `ACK i` once each append has returned, until it is killed. Does nothing unless the parent
/// test started it.
#[test]
fn crash_child_editing_loop() {
    let (Some(home), Some(doc), Some(first)) = (
        std::env::var_os(CHILD_HOME),
        std::env::var(CHILD_DOC).ok(),
        std::env::var(CHILD_FIRST).ok(),
    ) else {
        return;
    };
    let id: DocumentId = doc.parse().unwrap();
    let first: u64 = first.parse().unwrap();
    let entries: DocPath = "entries".parse().unwrap();
    let mut replica = Replica::open(home).unwrap();
    println!("OPEN");
    // Bounded, in case the parent dies without killing us.
    for n in first..first + 100_000 {
        replica.append(id, &entries, &json!({"n": n})).unwrap();
        println!("ACK {n}");
    }
}

/// Reads the child's stdout on a thread, sending each line.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The `n` of every entry, in list order.
fn entries(home: &Path, id: DocumentId) -> Vec<u64> {
    let mut replica = Replica::open(home).unwrap();
    let doc = replica.get_json(id).unwrap();
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["n"].as_u64().unwrap())
        .collect()
}

#[test]
fn kill_9_during_edits_loses_nothing_acknowledged() {
    let mut rng = seeded_rng("kill_9_during_edits_loses_nothing_acknowledged");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("replica");
    let id = Replica::open(&home)
        .unwrap()
        .create(&json!({"type": "journal", "entries": []}))
        .unwrap();
    let mut next = 0u64;
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child_editing_loop", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_HOME, &home)
            .env(CHILD_DOC, id.to_string())
            .env(CHILD_FIRST, next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = lines_of(&mut child);
        // Kill after a random number of acknowledged edits (0 kills it while it opens the
        // replica), then a random pause of up to a few edits' time.
        let kill_after = rng.gen_range(0..25);
        let pause = Duration::from_micros(rng.gen_range(0..8_000));
        let mut acked: Vec<u64> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.len() < kill_after {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("round {round}: the child stalled"));
            if let Some(n) = line.strip_prefix("ACK ") {
                acked.push(n.parse().unwrap());
            }
        }
        std::thread::sleep(pause);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines already written to the pipe before the kill are acknowledgements too.
        acked.extend(
            lines
                .iter()
                .filter_map(|line| line.strip_prefix("ACK ").map(|n| n.parse::<u64>().unwrap())),
        );
        total_acked += acked.len();

        let found = entries(&home, id);
        // Every edit ran after the previous one returned, so the list is 0, 1, 2, … with no
        // gap; it holds every acknowledged edit, and at most the one in flight beyond them.
        let expected: Vec<u64> = (0..found.len() as u64).collect();
        assert_eq!(
            found, expected,
            "round {round}: entries out of order or with gaps"
        );
        let last_acked = acked.last().copied();
        if let Some(last) = last_acked {
            assert!(
                found.len() as u64 > last,
                "round {round}: edit {last} was acknowledged but is lost ({} entries)",
                found.len()
            );
        }
        let floor = last_acked.map_or(next, |last| last + 1);
        assert!(
            found.len() as u64 <= floor + 1,
            "round {round}: more entries ({}) than edits started",
            found.len()
        );
        println!(
            "round {round}: {} acknowledged, {} entries",
            acked.len(),
            found.len()
        );
        next = found.len() as u64;
    }
    assert!(
        total_acked > 0,
        "no round acknowledged anything: nothing was tested"
    );
}

/// The real binary, killed at a random moment: an append that printed "saved locally" and
/// exited 0 is there after the kill of any later one.
#[test]
fn kill_9_of_the_cli_loses_nothing_reported_saved() {
    let mut rng = seeded_rng("kill_9_of_the_cli_loses_nothing_reported_saved");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("replica");
    let id = Replica::open(&home)
        .unwrap()
        .create(&json!({"entries": []}))
        .unwrap();
    let mut saved: Vec<u64> = Vec::new();
    let mut killed = 0;
    for n in 0..12u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .arg("--home")
            .arg(&home)
            .args([
                "append",
                &id.to_string(),
                "entries",
                &json!({"n": n}).to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..60_000)));
        match child.try_wait().unwrap() {
            Some(status) => {
                let output = child.wait_with_output().unwrap();
                let message = String::from_utf8_lossy(&output.stderr);
                assert!(status.success(), "append {n} failed: {message}");
                assert!(message.contains("saved locally"), "{message}");
                saved.push(n);
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            }
        }
        let found: Vec<u64> = entries(&home, id);
        for n in &saved {
            assert!(
                found.contains(n),
                "append {n} was reported saved but is lost: {found:?}"
            );
        }
    }
    // Print the mix, so a run that never killed (or never finished) an append shows it.
    println!("{} saved, {killed} killed", saved.len());
    let found: Vec<Value> = entries(&home, id).into_iter().map(Value::from).collect();
    assert!(found.len() >= saved.len());
}

//! Issue 8: storage cut mid-write is detected and reported, never silently served.
//!
//! A real server stores documents written by a real client replica, and is killed with
//! SIGKILL. Then, on copies of its sled directory (and of the client's replica directory),
//! one seeded kind of damage per case, as a torn write or a failing disk would leave it:
//! - `db` (sled's log file) truncated at a random offset, mostly in its last 64 KiB;
//! - a random range of up to 4 KiB of `db` overwritten with random bytes;
//! - sled's snapshot file (`snap.*`) truncated.
//!
//! For each case, what is asserted:
//! 1. `passerelle-server check --data COPY` either exits 0, printing "sound" with every
//!    document "loaded and verified", or exits non-zero printing "DAMAGED" and what is damaged
//!    (the store that does not open and sled's or the store's error, or the damaged record's
//!    key, or each damaged document's id). It never panics.
//! 2. A server started on the copy either refuses to start with an error in its log (exit
//!    non-zero, no panic), or serves; then a fresh replica syncs, and every document it
//!    receives holds only edits that were really made, in their order (an earlier state is
//!    fine; garbage is not), and a document `check` named as damaged is never received.
//!    When `check` said sound, the sync must complete and receive every document `check`
//!    loaded.
//! 3. On the client's damaged replica, `passerelle show DOC --json` either prints a document
//!    holding only edits really made (in order), or exits non-zero with an error; it never
//!    panics, and `passerelle status` does not panic either.
//!
//! `PASSERELLE_CRASH_SEED` replays a run; `PASSERELLE_TORN_CASES` sets the number of cases
//! (default 12).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use passerelle_client::{DocPath, HttpTransport, Replica, ServerConfig};
use passerelle_core::DocumentId;
use passerelle_tests::{CliReplica, Role, TestServer, server_binary};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

const SEED_VAR: &str = "PASSERELLE_CRASH_SEED";
const CASES_VAR: &str = "PASSERELLE_TORN_CASES";
const DOCUMENTS: usize = 4;
const EDITS_PER_DOCUMENT: u64 = 40;

#[derive(Debug, Clone)]
enum Damage {
    Truncate { at: u64 },
    Overwrite { at: u64, len: usize },
    TruncateSnapshot { at: u64 },
}

fn seed() -> u64 {
    match std::env::var(SEED_VAR) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={value:?} is not a number")),
        Err(_) => rand::random(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn snapshot_file(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
        })
}

/// Picks and applies one kind of damage to the sled directory `dir`.
fn damage(dir: &Path, rng: &mut StdRng) -> Damage {
    let db = dir.join("db");
    let len = fs::metadata(&db).unwrap().len();
    let choice = rng.gen_range(0..5);
    let damage = match choice {
        0 | 1 => {
            let tail = len.min(64 * 1024);
            let at = if rng.gen_bool(0.8) {
                len - rng.gen_range(1..=tail)
            } else {
                rng.gen_range(0..len)
            };
            Damage::Truncate { at }
        }
        2 | 3 => {
            let at = if rng.gen_bool(0.7) {
                len - rng.gen_range(1..=len.min(64 * 1024))
            } else {
                rng.gen_range(0..len)
            };
            let len = rng.gen_range(1..=4096);
            Damage::Overwrite { at, len }
        }
        _ => match snapshot_file(dir) {
            Some(snap) => {
                let snap_len = fs::metadata(&snap).unwrap().len();
                Damage::TruncateSnapshot {
                    at: rng.gen_range(0..snap_len.max(1)),
                }
            }
            None => Damage::Truncate {
                at: rng.gen_range(0..len),
            },
        },
    };
    match &damage {
        Damage::Truncate { at } => {
            fs::OpenOptions::new()
                .write(true)
                .open(&db)
                .unwrap()
                .set_len(*at)
                .unwrap();
        }
        Damage::Overwrite { at, len } => {
            let mut bytes = fs::read(&db).unwrap();
            let start = *at as usize;
            let end = (start + len).min(bytes.len());
            rng.fill(&mut bytes[start..end]);
            fs::write(&db, bytes).unwrap();
        }
        Damage::TruncateSnapshot { at } => {
            let snap = snapshot_file(dir).unwrap();
            fs::OpenOptions::new()
                .write(true)
                .open(snap)
                .unwrap()
                .set_len(*at)
                .unwrap();
        }
    }
    damage
}

/// The `n` of each entry of a document, in order.
fn entry_numbers(doc: &Value) -> Option<Vec<u64>> {
    doc["entries"]
        .as_array()?
        .iter()
        .map(|e| e["n"].as_u64())
        .collect()
}

/// Whether a document holds only edits that were made, in their order: a prefix of the
/// original (the edits were appended one after another, each after the previous was saved).
///
/// An empty document is one too: `create` stores the new, empty document, then its first
/// change (title and list), each durably in turn, so a store cut between the two holds the
/// document with nothing in it yet.
fn is_earlier_state(found: &Value, original: &[u64]) -> bool {
    if found.as_object().is_some_and(|fields| fields.is_empty()) {
        return true;
    }
    match entry_numbers(found) {
        Some(numbers) => original.starts_with(&numbers),
        None => false,
    }
}

/// What a server started on a directory did.
enum Started {
    /// It exited at start: its status and log.
    Refused(String),
    /// It listens at this URL; the child.
    Serving(String, std::process::Child),
}

fn start_server(dir: &Path, log: &Path) -> Started {
    let log_file = fs::File::create(log).unwrap();
    let mut child = Command::new(server_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .env_remove("PASSERELLE_DATA")
        .env_remove("PASSERELLE_LISTEN")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Started::Refused(format!("{status}: {}", fs::read_to_string(log).unwrap()));
        }
        let published = fs::read_to_string(dir.join("server.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .filter(|json| json["pid"].as_u64() == Some(u64::from(child.id())))
            .and_then(|json| json["address"].as_str().map(str::to_owned));
        if let Some(address) = published {
            return Started::Serving(format!("http://{address}"), child);
        }
        assert!(
            Instant::now() < deadline,
            "the server neither started nor exited: {}",
            fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `check`'s verdict: sound (and the documents it loaded), or damaged (and the ids named).
struct Verdict {
    sound: bool,
    output: String,
}

fn check(dir: &Path) -> Verdict {
    let output = Command::new(server_binary())
        .args(["check", "--data"])
        .arg(dir)
        .env_remove("PASSERELLE_DATA")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains("panicked"), "check panicked:\n{text}");
    if output.status.success() {
        assert!(text.contains(": sound"), "{text}");
        assert!(text.contains(" 0 damaged"), "{text}");
        Verdict {
            sound: true,
            output: text,
        }
    } else {
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            text.contains("DAMAGED"),
            "check failed without saying so:\n{text}"
        );
        assert!(
            text.contains("does not open")
                || text.contains("damaged record: ")
                || text.contains("damaged document ")
                || text.contains("the document list cannot be read"),
            "check does not say what is damaged:\n{text}"
        );
        Verdict {
            sound: false,
            output: text,
        }
    }
}

struct Original {
    server_data: PathBuf,
    client_home: PathBuf,
    token: String,
    /// Each document's entries.
    docs: BTreeMap<DocumentId, Vec<u64>>,
    _server: TestServer,
}

/// A server and a client replica holding `DOCUMENTS` documents of `EDITS_PER_DOCUMENT` edits
/// each, synced in several passes so the server's log holds many writes; then the server is
/// killed.
fn original() -> Original {
    let mut server = TestServer::start();
    let token = server.add_user("amina", "lille", Role::Editor);
    let client_home = server.data_dir.parent().unwrap().join("client");
    let mut replica = Replica::open(&client_home).unwrap();
    let config = ServerConfig::new(&server.url, &token).unwrap();
    replica.configure_server(&config).unwrap();
    let transport = HttpTransport::new(&config).unwrap();
    let entries: DocPath = "entries".parse().unwrap();
    let mut docs = BTreeMap::new();
    for d in 0..DOCUMENTS {
        let id = replica
            .create(&json!({"title": format!("journal {d}"), "entries": []}))
            .unwrap();
        docs.insert(id, Vec::new());
    }
    for n in 0..EDITS_PER_DOCUMENT {
        for (id, numbers) in docs.iter_mut() {
            replica
                .append(*id, &entries, &json!({"n": n, "text": "x".repeat(200)}))
                .unwrap();
            numbers.push(n);
        }
        if n % 5 == 4 {
            let report = replica.sync(&transport, &mut |_| {}).unwrap();
            assert!(report.is_complete());
        }
    }
    let report = replica.sync(&transport, &mut |_| {}).unwrap();
    assert!(report.is_complete());
    drop(replica);
    server.kill();
    Original {
        server_data: server.data_dir.clone(),
        client_home,
        token,
        docs,
        _server: server,
    }
}

fn server_case(original: &Original, dir: &Path, case: usize, rng: &mut StdRng, seed: u64) {
    let data = dir.join(format!("server{case}"));
    copy_dir(&original.server_data, &data);
    let _ = fs::remove_file(data.join("server.json"));
    let damage = damage(&data, rng);
    let context = format!("case {case}, server store, {damage:?}, {SEED_VAR}={seed}");
    let verdict = check(&data);
    let log = dir.join(format!("server{case}.log"));
    match start_server(&data, &log) {
        Started::Refused(log) => {
            assert!(
                !log.contains("panicked"),
                "{context}: the server panicked:\n{log}"
            );
            assert!(
                log.contains("error"),
                "{context}: no error in the log:\n{log}"
            );
            assert!(
                !verdict.sound,
                "{context}: check said sound, but the server does not start:\n{log}"
            );
            println!("{context}: check: damaged; the server refuses to start");
        }
        Started::Serving(url, mut child) => {
            let home = dir.join(format!("fresh{case}"));
            let fresh = CliReplica::new(&home);
            fresh.init(&url, &original.token);
            let sync = fresh.run(&["sync"]);
            let sync_err = String::from_utf8_lossy(&sync.stderr).into_owned();
            assert!(!sync_err.contains("panicked"), "{context}: {sync_err}");
            let mut received = 0;
            for (id, numbers) in &original.docs {
                let id = id.to_string();
                let shown = fresh.run(&["show", &id, "--json"]);
                if !shown.status.success() {
                    continue;
                }
                received += 1;
                let doc: Value = serde_json::from_slice(&shown.stdout).unwrap();
                assert!(
                    is_earlier_state(&doc, numbers),
                    "{context}: the server served {id} as something never written: {doc}"
                );
                assert!(
                    !verdict.output.contains(&format!("damaged document {id}")),
                    "{context}: check named {id} damaged, yet the server served it"
                );
            }
            if verdict.sound {
                assert!(
                    sync.status.success(),
                    "{context}: check said sound, but a sync fails: {sync_err}\n{}",
                    fs::read_to_string(&log).unwrap()
                );
                let loaded = format!("{} loaded and verified", received);
                assert!(
                    verdict.output.contains(&loaded),
                    "{context}: the sync received {received} documents; check said:\n{}",
                    verdict.output
                );
            }
            let _ = child.kill();
            let _ = child.wait();
            println!(
                "{context}: check: {}; server serves, {received} of {} documents received, \
                 sync {}",
                if verdict.sound { "sound" } else { "damaged" },
                original.docs.len(),
                if sync.status.success() {
                    "ok"
                } else {
                    "failed"
                }
            );
        }
    }
}

fn client_case(original: &Original, dir: &Path, case: usize, rng: &mut StdRng, seed: u64) {
    let home = dir.join(format!("client{case}"));
    copy_dir(&original.client_home, &home);
    // The replica keeps its sled database in `store/`.
    let damage = damage(&home.join("store"), rng);
    let context = format!("case {case}, client replica, {damage:?}, {SEED_VAR}={seed}");
    let replica = CliReplica::new(&home);
    let mut shown = 0;
    for (id, numbers) in &original.docs {
        let output = replica.run(&["show", &id.to_string(), "--json"]);
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!err.contains("panicked"), "{context}: show panicked: {err}");
        if output.status.success() {
            let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert!(
                is_earlier_state(&doc, numbers),
                "{context}: the replica shows {id} as something never written: {doc}"
            );
            shown += 1;
        } else {
            assert!(
                err.contains("error"),
                "{context}: show failed silently: {err}"
            );
        }
    }
    let status = replica.run(&["status"]);
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(
        !err.contains("panicked"),
        "{context}: status panicked: {err}"
    );
    println!(
        "{context}: {shown} of {} documents shown, status {}",
        original.docs.len(),
        if status.status.success() {
            "ok"
        } else {
            "failed"
        }
    );
}

#[test]
fn torn_writes_are_detected_or_recovered_to_an_earlier_state() {
    let seed = seed();
    let cases: usize = std::env::var(CASES_VAR)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12);
    println!("{SEED_VAR}={seed} {CASES_VAR}={cases}");
    let mut rng = StdRng::seed_from_u64(seed);
    let original = original();
    // The undamaged store checks sound, with every document.
    let verdict = check(&original.server_data);
    assert!(verdict.sound, "{}", verdict.output);
    assert!(
        verdict
            .output
            .contains(&format!("{DOCUMENTS} loaded and verified")),
        "{}",
        verdict.output
    );
    let dir = tempfile::tempdir().unwrap();
    for case in 0..cases {
        if case % 3 == 2 {
            client_case(&original, dir.path(), case, &mut rng, seed);
        } else {
            server_case(&original, dir.path(), case, &mut rng, seed);
        }
    }
}

/// A value overwritten in place (same length, so sled accepts its log) is caught by the
/// store's own CRC and named by `check`; the server logs it and does not serve that document
/// (the others are served).
#[test]
fn a_damaged_value_is_named_by_check_and_not_served() {
    let original = original();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    copy_dir(&original.server_data, &data);
    let _ = fs::remove_file(data.join("server.json"));
    // Flip bytes inside one stored chunk through sled itself: its log stays sound, the value
    // does not.
    let (victim, chunk_key) = {
        let storage = passerelle_store::SledStorage::open(&data).unwrap();
        let (id, _) = original.docs.iter().next().unwrap();
        let prefix = passerelle_store::StorageKey::try_new([id.to_string()]).unwrap();
        let keys = passerelle_store::Storage::keys_with_prefix(&storage, &prefix).unwrap();
        let key = keys
            .into_iter()
            .find(|k| {
                k.components()
                    .get(1)
                    .is_some_and(|c| c == "snapshot" || c == "incremental")
            })
            .unwrap();
        drop(storage);
        (*id, key)
    };
    {
        let db = sled::open(&data).unwrap();
        let raw = chunk_key.to_ordered_bytes();
        let mut value = db.get(&raw).unwrap().unwrap().to_vec();
        let middle = value.len() / 2;
        value[middle] ^= 0xff;
        db.insert(raw, value).unwrap();
        db.flush().unwrap();
    }
    let verdict = check(&data);
    assert!(!verdict.sound, "{}", verdict.output);
    assert!(
        verdict
            .output
            .contains(&format!("damaged document {victim}")),
        "{}",
        verdict.output
    );
    assert!(
        verdict.output.contains("CRC32 mismatch"),
        "{}",
        verdict.output
    );
    let Started::Serving(url, mut child) = start_server(&data, &dir.path().join("log")) else {
        panic!("the server does not start on a store with one damaged value");
    };
    let fresh = CliReplica::new(dir.path().join("fresh"));
    fresh.init(&url, &original.token);
    let sync = fresh.run(&["sync"]);
    let _ = child.kill();
    let _ = child.wait();
    let err = String::from_utf8_lossy(&sync.stderr);
    // The client hears that the server could not read the document (not that it does not
    // exist), so the sync is incomplete: a non-zero exit naming the document.
    assert!(!sync.status.success(), "sync exited 0: {err}");
    assert!(err.contains("damaged storage"), "{err}");
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        log.contains("ERROR")
            && log.contains(&victim.to_string())
            && log.contains("CRC32 mismatch"),
        "the server did not log the damage:\n{log}"
    );
    assert!(err.contains(&victim.to_string()), "{err}");
    assert!(
        !fresh
            .run(&["show", &victim.to_string(), "--json"])
            .status
            .success(),
        "the damaged document was served"
    );
    for id in original.docs.keys().filter(|id| **id != victim) {
        fresh.show_json(&id.to_string());
    }
    println!("check said:\n{}\nsync said: {err}", verdict.output);
}

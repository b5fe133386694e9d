//! `passerelle sync`, `status` and `watch` end to end: the real binary against a real server
//! running in this test process; and kill -9 in the middle of a sync.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestServer, replica, sync};
use passerelle_client::{DocPath, Replica};
use passerelle_core::DocumentId;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;

const SAVED: &str = "saved locally; will sync when the server is reachable";

fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    command
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn run(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn ok(home: &Path, args: &[&str]) -> Output {
    let output = run(home, args);
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}",
        text(&output.stderr)
    );
    output
}

/// Runs and expects exit code 1 with a one-line message holding every needle.
fn fails(home: &Path, args: &[&str], needles: &[&str]) -> String {
    let output = run(home, args);
    let message = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.starts_with("error: "), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    message
}

fn new_document(home: &Path, title: &str) -> DocumentId {
    let file = home.with_extension(format!("{title}.json"));
    std::fs::write(&file, json!({"type": "note", "title": title}).to_string()).unwrap();
    let output = ok(home, &["new", "--json", file.to_str().unwrap()]);
    assert!(text(&output.stderr).contains(SAVED));
    text(&output.stdout)
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn init_new_sync_status_against_a_real_server() {
    let server = TestServer::start();
    let token = server.editor("oujda");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    let out = ok(&home, &["init", "--server", &server.url, "--token", &token]);
    assert!(text(&out.stdout).contains("not contacted yet"));
    let id = new_document(&home, "Réunion du comité");
    let status = text(&ok(&home, &["status"]).stdout);
    assert!(status.contains("(reachable)"), "{status}");
    assert!(status.contains("last successful sync: never"), "{status}");
    assert!(status.contains("with pending changes: 1"), "{status}");

    let out = ok(&home, &["sync"]);
    // Not a terminal: quiet.
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "");
    let status = text(&ok(&home, &["status"]).stdout);
    assert!(
        status.contains(&format!("server: {} (reachable)", server.url)),
        "{status}"
    );
    assert!(status.contains("with pending changes: 0"), "{status}");
    assert!(
        status.contains(&format!("{id}  up to date  Réunion du comité")),
        "{status}"
    );
    assert!(status.contains("last successful sync: 20"), "{status}");
    assert!(status.contains("(just now)"), "{status}");

    // The document is on the server: another replica gets it.
    let other = tempfile::tempdir().unwrap();
    let lille_token = server.editor("lille");
    let mut lille = replica(other.path(), &server, &lille_token);
    sync(&mut lille, &server.transport(&lille_token));
    assert_eq!(lille.get_json(id).unwrap()["title"], "Réunion du comité");
}

#[test]
fn an_unreachable_server_fails_sync_but_not_edits() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    let url = format!("http://127.0.0.1:{}/", closed_port());
    ok(&home, &["init", "--server", &url, "--token", "abc"]);
    let id = new_document(&home, "Hors ligne");
    let out = ok(&home, &["set", &id.to_string(), "lieu", "\"Oujda\""]);
    assert!(text(&out.stderr).contains(SAVED));
    fails(&home, &["sync"], &["could not reach", &url, "refused"]);
    let status = text(&ok(&home, &["status"]).stdout);
    assert!(
        status.contains("(not reachable: could not reach"),
        "{status}"
    );
    assert!(status.contains("with pending changes: 1"), "{status}");
}

#[test]
fn a_bad_token_says_so() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    ok(
        &home,
        &[
            "init",
            "--server",
            &server.url,
            "--token",
            "not-a-valid-token",
        ],
    );
    new_document(&home, "Note");
    fails(
        &home,
        &["sync"],
        &[
            "the server refused the token; ask for a new one",
            "passerelle init",
        ],
    );
    let status = text(&ok(&home, &["status"]).stdout);
    assert!(
        status.contains("reachable, but the server refused the token"),
        "{status}"
    );
}

#[test]
fn sync_without_a_server_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    new_document(&home, "Note");
    fails(
        &home,
        &["sync"],
        &["no server is configured", "passerelle init"],
    );
}

#[test]
fn watch_prints_what_arrives_and_stops_on_ctrl_c() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    ok(
        &home,
        &["init", "--server", &server.url, "--token", &token_a],
    );
    let mut child = command(&home, &["watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = sender.send(line.unwrap());
        }
    });
    let other = tempfile::tempdir().unwrap();
    let mut lille = replica(other.path(), &server, &token_b);
    // Give `watch` time to start its long poll, so what follows arrives live.
    std::thread::sleep(Duration::from_millis(500));
    let id = lille
        .create(&json!({"title": "Arrivée en direct"}))
        .unwrap();
    sync(&mut lille, &server.transport(&token_b));
    let line = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        line.contains(&format!("received  {id}  Arrivée en direct")),
        "{line}"
    );

    // Ctrl-C.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("connected to"), "{stderr}");
    assert!(stderr.trim_end().ends_with("stopped"), "{stderr}");
}

fn seeded_rng(test: &str) -> StdRng {
    let seed = std::env::var("PASSERELLE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("{test}: PASSERELLE_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

#[test]
fn kill_9_during_sync_loses_nothing() {
    let mut rng = seeded_rng("kill_9_during_sync_loses_nothing");
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("oujda");
    let entries: DocPath = "entries".parse().unwrap();
    // What every document must end up holding, by document.
    let mut expected: BTreeMap<DocumentId, Vec<i64>> = BTreeMap::new();
    {
        let mut oujda = replica(&home, &server, &token_a);
        for n in 0..150 {
            let id = oujda
                .create(&json!({"title": format!("document {n}"), "entries": []}))
                .unwrap();
            expected.insert(id, Vec::new());
        }
    }
    let ids: Vec<DocumentId> = expected.keys().copied().collect();
    let mut kills = 0;
    let mut value = 0;
    // Rounds until three syncs were killed (some rounds may finish first: that is fine too).
    let mut round = 0;
    while kills < 3 {
        round += 1;
        assert!(round <= 30, "only {kills} sync(s) killed in 30 rounds");
        {
            // Most documents change in each round, so that a pass takes tens of requests.
            let mut oujda = Replica::open(&home).unwrap();
            for &id in &ids {
                if rng.gen_bool(0.7) {
                    value += 1;
                    oujda.append(id, &entries, &json!(value)).unwrap();
                    expected.get_mut(&id).unwrap().push(value);
                }
            }
        }
        let started = Instant::now();
        let mut child = command(&home, &["sync", "--batch-kib", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(rng.gen_range(5..300));
        std::thread::sleep(delay);
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "round {round}: sync failed");
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
        println!("round {round}: {:?}, killed: {kills}", started.elapsed());
    }
    // The next sync carries on and completes.
    ok(&home, &["sync"]);
    let mut oujda = Replica::open(&home).unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut lille = replica(other.path(), &server, &token_b);
    sync(&mut lille, &server.transport(&token_b));
    for (&id, values) in &expected {
        let status = oujda.sync_status(id).unwrap();
        assert!(
            !status.is_pending(),
            "{id} still pending after a complete sync"
        );
        let mine = oujda.get_json(id).unwrap();
        assert_eq!(mine, lille.get_json(id).unwrap(), "{id}");
        assert_eq!(status.heads, lille.sync_status(id).unwrap().heads, "{id}");
        let held: Vec<i64> = mine["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(&held, values, "{id}");
    }
    assert_eq!(lille.list().unwrap().len(), expected.len());
}

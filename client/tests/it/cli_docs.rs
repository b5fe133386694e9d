//! `passerelle history` and `passerelle share` end to end: the real binary against a real
//! server running in this test process (sled, 127.0.0.1).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::TestServer;
use passerelle_core::DocumentId;
use passerelle_server::auth::Role;
use serde_json::{Value, json};

fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs and expects success; returns stdout.
fn ok(home: &Path, args: &[&str]) -> String {
    let output = run(home, args);
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Runs and expects exit code 1 with a one-line message holding every needle.
fn fails(home: &Path, args: &[&str], needles: &[&str]) -> String {
    let output = run(home, args);
    let message = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.starts_with("error: "), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    message
}

/// A replica directory configured for `server` with `token`.
fn home(root: &Path, name: &str, server: &TestServer, token: &str) -> PathBuf {
    let home = root.join(name);
    ok(&home, &["init", "--server", &server.url, "--token", token]);
    home
}

fn new_document(home: &Path, title: &str) -> DocumentId {
    let file = home.join("new.json");
    std::fs::write(
        &file,
        json!({"type": "mission", "title": title}).to_string(),
    )
    .unwrap();
    ok(home, &["new", "--json", file.to_str().unwrap()])
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn history_names_who_wrote_each_change_and_lists_what_is_not_sent() {
    let server = TestServer::start();
    let samira = server.user("samira", "oujda", Role::Admin);
    let karim = server.user("karim", "oujda", Role::Editor);
    let root = tempfile::tempdir().unwrap();
    let laptop = home(root.path(), "laptop", &server, &samira);
    let desk = home(root.path(), "desk", &server, &karim);

    let id = new_document(&laptop, "Mission à Lille");
    let doc = id.to_string();
    // Not on the server yet: said so, with the fix.
    fails(
        &laptop,
        &["history", &doc],
        &["has not reached the server yet", "passerelle sync"],
    );
    ok(&laptop, &["sync"]);
    ok(&desk, &["sync"]);
    ok(&desk, &["set", &doc, "lieu", "\"Oujda\""]);
    ok(&desk, &["sync"]);
    ok(&laptop, &["sync"]);
    // One more edit on the laptop, not synced.
    ok(&laptop, &["set", &doc, "statut", "\"prévue\""]);

    let out = ok(&laptop, &["history", &doc]);
    assert!(
        out.contains(&format!("history of {id}  Mission à Lille")),
        "{out}"
    );
    let samira_at = out.find("samira  (oujda)").expect(&out);
    let karim_at = out.find("karim   (oujda)").expect(&out);
    assert!(samira_at < karim_at, "oldest first: {out}");
    assert!(out.contains(" UTC  "), "{out}");
    let pending = out
        .split("only in this replica, not on the server:")
        .nth(1)
        .expect(&out);
    assert_eq!(
        pending.lines().filter(|l| l.contains("pending")).count(),
        1,
        "{out}"
    );

    let json: Value = serde_json::from_str(&ok(&laptop, &["history", &doc, "--json"])).unwrap();
    assert_eq!(json["document"], doc);
    let users: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user"].as_str().unwrap())
        .collect();
    assert_eq!(users.last(), Some(&"karim"), "{json}");
    assert!(
        users[..users.len() - 1].iter().all(|u| *u == "samira"),
        "{json}"
    );
    assert_eq!(json["pending"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["pending"][0]["state"], "pending");
    assert_eq!(json["pending"][0]["hash"].as_str().unwrap().len(), 64);
    // Both replicas see the same server history.
    let theirs: Value = serde_json::from_str(&ok(&desk, &["history", &doc, "--json"])).unwrap();
    assert_eq!(theirs["changes"], json["changes"]);

    // Errors a person understands.
    fails(
        &laptop,
        &["history", "not-a-doc"],
        &["invalid document id `not-a-doc`"],
    );
    let stranger = home(root.path(), "stranger", &server, "psl_not-a-token");
    fails(
        &stranger,
        &["history", &doc],
        &["the server refused the token", "passerelle init"],
    );
    let outsider = server.user("claire", "lille", Role::Editor);
    let outsider = home(root.path(), "outsider", &server, &outsider);
    fails(
        &outsider,
        &["history", &doc],
        &[&format!(
            "the server has no document {id}, or you may not see it"
        )],
    );
}

#[test]
fn an_admin_shares_a_document_with_another_organisation() {
    let server = TestServer::start();
    let samira = server.user("samira", "oujda", Role::Admin);
    let karim = server.user("karim", "oujda", Role::Editor);
    let claire = server.user("claire", "lille", Role::Editor);
    let root = tempfile::tempdir().unwrap();
    let laptop = home(root.path(), "laptop", &server, &samira);
    let colleague = home(root.path(), "colleague", &server, &karim);
    let lille = home(root.path(), "lille", &server, &claire);

    let id = new_document(&laptop, "Mission Lille → Oujda");
    let doc = id.to_string();
    fails(
        &laptop,
        &["share", &doc, "--org", "lille", "--access", "write"],
        &["has not reached the server yet", "passerelle sync"],
    );
    ok(&laptop, &["sync"]);
    ok(&lille, &["sync"]);
    fails(&lille, &["show", &doc], &["there is no document"]);

    // An editor of the owner organisation may not share; the server says who may.
    ok(&colleague, &["sync"]);
    fails(
        &colleague,
        &["share", &doc, "--org", "lille", "--access", "read"],
        &["only an admin of `oujda`"],
    );
    let shown = ok(&colleague, &["share", &doc]);
    assert!(
        shown.contains("owned by the organisation oujda (created by samira)"),
        "{shown}"
    );
    assert!(shown.contains("you: write\n"), "{shown}");

    let out = ok(
        &laptop,
        &["share", &doc, "--org", "lille", "--access", "write"],
    );
    assert!(out.contains("  org:lille: write\n"), "{out}");
    assert!(out.contains("org:lille may now write"), "{out}");
    assert!(out.contains("you may change who sees it"), "{out}");

    // Lille syncs (its feed cursor predates the share) and gets the document, then edits it.
    ok(&lille, &["sync"]);
    let theirs: Value = serde_json::from_str(&ok(&lille, &["show", &doc, "--json"])).unwrap();
    assert_eq!(theirs["title"], "Mission Lille → Oujda");
    ok(&lille, &["set", &doc, "delegation", "\"Claire\""]);
    ok(&lille, &["sync"]);
    ok(&laptop, &["sync"]);
    let mine: Value = serde_json::from_str(&ok(&laptop, &["show", &doc, "--json"])).unwrap();
    assert_eq!(mine["delegation"], "Claire");
    let history = ok(&laptop, &["history", &doc]);
    assert!(history.contains("claire  (lille)"), "{history}");

    // Bad requests name what is wrong.
    fails(
        &laptop,
        &["share", &doc, "--access", "read"],
        &["say whom to share with"],
    );
    fails(
        &laptop,
        &["share", &doc, "--org", "lille"],
        &["say what to give"],
    );
    fails(
        &laptop,
        &["share", &doc, "--org", "lille ", "--access", "read"],
        &["cannot start or end with a space"],
    );
    fails(
        &laptop,
        &["share", &doc, "--user", "nobody", "--access", "read"],
        &["there is no user named `nobody`"],
    );

    // `none` takes the access away.
    let out = ok(
        &laptop,
        &["share", &doc, "--org", "lille", "--access", "none"],
    );
    assert!(out.contains("org:lille no longer has access"), "{out}");
    assert!(!out.contains("org:lille: "), "{out}");
    fails(
        &lille,
        &["history", &doc],
        &[&format!(
            "the server has no document {id}, or you may not see it"
        )],
    );
}

//! `passerelle actor export|erase` end to end: the real `passerelle` binary, a real server on
//! 127.0.0.1 (in this process, over sled), and replicas that sync through it.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::TestServer;
use passerelle_client::{ClientError, Replica};
use passerelle_core::DocumentId;
use passerelle_server::auth::Role;
use passerelle_store::StorageKey;
use serde_json::Value as Json;

fn run(home: &Path, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG")
        .env("LANG", "en_GB.UTF-8")
        .env("PASSERELLE_USER", user)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(home: &Path, user: &str, args: &[&str]) -> String {
    let output = run(home, user, args);
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn fails(home: &Path, user: &str, args: &[&str], needle: &str) {
    let output = run(home, user, args);
    let message = text(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded: {message}");
    assert!(message.contains(needle), "`{needle}` not in: {message}");
}

fn init(home: &Path, server: &TestServer, token: &str, user: &str) {
    ok(
        home,
        user,
        &[
            "init",
            "--server",
            &server.url,
            "--token",
            token,
            "--user",
            user,
        ],
    );
}

fn last_line(out: &str) -> String {
    out.lines().last().unwrap().trim().to_owned()
}

fn backup_bytes(server: &TestServer, dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    passerelle_server::backup::backup_to_file(
        server.state.storage().as_ref(),
        &path,
        passerelle_server::backup::Progress::Quiet,
    )
    .unwrap();
    std::fs::read(path).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn export_gives_history_and_erase_removes_the_actor_everywhere_for_good() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let samira = server.editor("samira");
    let claire = server.editor("claire");
    let viewer = server.user("victor", "cooperation", Role::Viewer);
    let outsider = server.user("omar", "autre-org", Role::Admin);
    init(&a, &server, &samira, "samira");
    init(&b, &server, &claire, "claire");

    // A person, whose owner is set then overwritten, and a journal entry that names them.
    let person = last_line(&ok(
        &a,
        "samira",
        &[
            "actor",
            "add",
            "Karim Benali",
            "--person",
            "--basis",
            "consent",
            "--email",
            "karim.benali@example.ma",
        ],
    ));
    let id: DocumentId = person.parse().unwrap();
    ok(
        &a,
        "samira",
        &["edit", &person, "owner", "ancien-proprietaire"],
    );
    ok(&a, "samira", &["edit", &person, "owner", "samira"]);
    let journal = last_line(&ok(
        &a,
        "samira",
        &[
            "journal",
            "add",
            &format!("Rencontre avec {person} à Oujda"),
        ],
    ));
    ok(&a, "samira", &["sync"]);
    ok(&b, "claire", &["sync"]);
    assert!(ok(&b, "claire", &["show", &person]).contains("karim.benali@example.ma"));

    // Export: the current record, the overwritten value in the history, the server's
    // history, and the journal that mentions the person.
    let file = dir.path().join("export.json");
    ok(
        &a,
        "samira",
        &[
            "actor",
            "export",
            &person,
            "--output",
            file.to_str().unwrap(),
        ],
    );
    let export: Json = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(export["document"], person.as_str());
    let current = export["current"].to_string();
    assert!(current.contains("karim.benali@example.ma"), "{current}");
    assert!(!current.contains("ancien-proprietaire"), "{current}");
    let history = export["history"]["changes"].to_string();
    assert!(
        history.contains("ancien-proprietaire"),
        "overwritten value kept"
    );
    assert!(export["history"]["changes"].as_array().unwrap().len() >= 3);
    assert_eq!(export["server_history"]["available"], true, "{export}");
    let server_changes = export["server_history"]["changes"].as_array().unwrap();
    assert!(!server_changes.is_empty());
    assert!(server_changes.iter().all(|c| c["user"] == "samira"));
    let mentions = export["mentioned_in"].as_array().unwrap();
    assert_eq!(mentions.len(), 1, "{mentions:?}");
    assert_eq!(mentions[0]["id"], journal.as_str());
    // On standard output too, and offline (a replica whose server is down) with what it holds.
    let offline = dir.path().join("offline");
    ok(
        &offline,
        "samira",
        &[
            "init",
            "--server",
            "http://127.0.0.1:1/",
            "--token",
            &samira,
        ],
    );
    let held = Replica::open(&a).unwrap().export_automerge(id).unwrap();
    Replica::open(&offline)
        .unwrap()
        .import_automerge(id, &held)
        .unwrap();
    let offline_export: Json =
        serde_json::from_str(&ok(&offline, "samira", &["actor", "export", &person])).unwrap();
    assert_eq!(offline_export["server_history"]["available"], false);
    assert!(
        offline_export["history"]
            .to_string()
            .contains("ancien-proprietaire")
    );

    // B keeps the old changes, to push them again after the erasure.
    let old_copy = Replica::open(&b).unwrap().export_automerge(id).unwrap();
    let before = backup_bytes(&server, dir.path(), "before.bak");
    assert!(
        contains(&before, "karim.benali@example.ma"),
        "the check can fail"
    );

    // Who may not erase: a viewer of the owner (403), another organisation's admin (404,
    // as for a missing document). Erasure needs the server: offline, nothing is erased.
    assert!(matches!(
        server.transport(&viewer).erase(id),
        Err(ClientError::Forbidden(_))
    ));
    assert!(matches!(
        server.transport(&outsider).erase(id),
        Err(ClientError::NotOnServer(_))
    ));
    fails(
        &offline,
        "samira",
        &["actor", "erase", &person, "--yes"],
        "cannot erase",
    );
    assert!(ok(&offline, "samira", &["show", &person]).contains("karim"));
    // Not on a terminal, without --yes: refused.
    fails(&a, "samira", &["actor", "erase", &person], "--yes");
    assert!(server.transport(&samira).history(id).is_ok());

    // Erase from A: gone on the server (history, storage, backups) and on A.
    ok(&a, "samira", &["actor", "erase", &person, "--yes"]);
    assert!(matches!(
        server.transport(&samira).history(id),
        Err(ClientError::NotOnServer(_))
    ));
    let storage = server.state.storage();
    let doc_keys = StorageKey::try_new([person.as_str()]).unwrap();
    assert!(storage.keys_with_prefix(&doc_keys).unwrap().is_empty());
    for space in ["acl", "authorship", "docs"] {
        let key = StorageKey::try_new([space, person.as_str()]).unwrap();
        assert!(
            storage.keys_with_prefix(&key).unwrap().is_empty(),
            "{space}"
        );
    }
    let tombstone = StorageKey::try_new(["tombstone", person.as_str()]).unwrap();
    let record = text(&storage.get(&tombstone).unwrap().unwrap());
    assert!(
        record.contains("samira") && !record.contains("karim"),
        "{record}"
    );
    let after = backup_bytes(&server, dir.path(), "after.bak");
    assert!(!contains(&after, "karim.benali@example.ma"));
    assert!(contains(&after, "tombstone"));
    fails(&a, "samira", &["show", &person], &person);
    assert!(!ok(&a, "samira", &["docs"]).contains(&person));
    // A fresh replica of the same user does not get it.
    let fresh = dir.path().join("fresh");
    init(&fresh, &server, &samira, "samira");
    ok(&fresh, "samira", &["sync"]);
    assert!(!ok(&fresh, "samira", &["docs"]).contains(&person));
    assert!(ok(&fresh, "samira", &["docs"]).contains(&journal));

    // B's next sync deletes its copy.
    ok(&b, "claire", &["sync"]);
    assert!(!ok(&b, "claire", &["docs"]).contains(&person));
    fails(&b, "claire", &["show", &person], &person);

    // B pushes the old changes again: refused, and the id stays erased.
    Replica::open(&b)
        .unwrap()
        .import_automerge(id, &old_copy)
        .unwrap();
    let _ = run(&b, "claire", &["sync"]);
    assert!(storage.keys_with_prefix(&doc_keys).unwrap().is_empty());
    let acl = StorageKey::try_new(["acl", person.as_str()]).unwrap();
    assert!(storage.get(&acl).unwrap().is_none());
    assert!(matches!(
        server.transport(&claire).history(id),
        Err(ClientError::NotOnServer(_))
    ));
    ok(&fresh, "samira", &["sync"]);
    assert!(!ok(&fresh, "samira", &["docs"]).contains(&person));
}

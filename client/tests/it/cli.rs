//! The `passerelle` binary end to end, on real replica directories, with no network.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use automerge::{Automerge, ReadDoc};
use passerelle_core::DocumentId;
use serde_json::{Value, json};

const SAVED: &str = "saved locally; will sync when the server is reachable";

/// Runs `passerelle --home HOME ARGS...`, with `stdin` on its standard input.
fn run_with_stdin(home: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn run(home: &Path, args: &[&str]) -> Output {
    run_with_stdin(home, args, b"")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs and expects success; returns stdout.
fn ok(home: &Path, args: &[&str]) -> String {
    let output = run(home, args);
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs and expects failure with a one-line message containing every one of `needles`.
fn fails(home: &Path, args: &[&str], needles: &[&str]) -> String {
    let output = run(home, args);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "passerelle {args:?} succeeded: {}",
        stdout(&output)
    );
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(message.starts_with("error: "), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    message
}

/// `new --json FILE`, checking the id is the last line of stdout; returns it.
fn new_document(home: &Path, document: &Value) -> String {
    let file = home.with_extension("new.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let output = run(home, &["new", "--json", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(SAVED));
    let out = stdout(&output);
    let id = out.lines().last().expect("an id line").to_owned();
    id.parse::<DocumentId>()
        .expect("the last line is a document id");
    id
}

fn show_json(home: &Path, id: &str) -> Value {
    serde_json::from_str(&ok(home, &["show", id, "--json"])).unwrap()
}

#[test]
fn a_document_from_init_to_export() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("oujda");
    let out = ok(
        &home,
        &[
            "init",
            "--server",
            "https://sync.example.org",
            "--token",
            "t0k",
        ],
    );
    assert!(out.contains("https://sync.example.org"), "{out}");

    let mission = json!({
        "type": "mission",
        "title": {"fr": "Mission à Oujda", "ar": "برنامج التعاون"},
        "budget": [{"heading": "transport", "planned": 1200}],
        "agenda": [],
    });
    let id = new_document(&home, &mission);
    assert_eq!(show_json(&home, &id), mission);

    let output = run(&home, &["set", &id, "budget.0.planned", "1500"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(SAVED));
    let output = run(
        &home,
        &[
            "append",
            &id,
            "agenda",
            r#"{"title": "Réunion", "place": "Oujda"}"#,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(SAVED));
    assert_eq!(stdout(&output).trim(), "agenda.0");
    // The `automerge:` URL form names the same document.
    ok(
        &home,
        &[
            "set",
            &format!("automerge:{id}"),
            "title.fr",
            r#""Mission économique""#,
        ],
    );

    let expected = json!({
        "type": "mission",
        "title": {"fr": "Mission économique", "ar": "برنامج التعاون"},
        "budget": [{"heading": "transport", "planned": 1500}],
        "agenda": [{"title": "Réunion", "place": "Oujda"}],
    });
    assert_eq!(show_json(&home, &id), expected);

    let readable = ok(&home, &["show", &id]);
    assert!(readable.contains("  - place: Oujda\n"), "{readable}");
    assert!(readable.contains("  ar: برنامج التعاون\n"), "{readable}");

    let docs: Value = serde_json::from_str(&ok(&home, &["docs", "--json"])).unwrap();
    assert_eq!(
        docs,
        json!([{"id": id, "type": "mission", "title": "Mission économique"}])
    );
    let table = ok(&home, &["docs"]);
    assert_eq!(table.trim(), format!("{id}  mission  Mission économique"));

    let exported: Value =
        serde_json::from_str(&ok(&home, &["export", &id, "--format", "json"])).unwrap();
    assert_eq!(exported, expected);
    let file = tmp.path().join("mission.automerge");
    ok(
        &home,
        &[
            "export",
            &id,
            "--format",
            "automerge",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    let doc = Automerge::load(&std::fs::read(&file).unwrap()).unwrap();
    assert!(doc.get(automerge::ROOT, "agenda").unwrap().is_some());
    // To a pipe, the binary goes to stdout.
    let piped = run(&home, &["export", &id, "--format", "automerge"]);
    assert!(piped.status.success());
    assert_eq!(
        Automerge::load(&piped.stdout).unwrap().get_heads(),
        doc.get_heads()
    );

    let status = ok(&home, &["status"]);
    assert!(
        status.contains("server: https://sync.example.org/ (not reachable: could not reach"),
        "{status}"
    );
    assert!(status.contains("with pending changes: 1"), "{status}");
    assert!(
        status.contains(&format!("{id}  pending: 5 change(s)")),
        "{status}"
    );
}

#[test]
fn new_reads_standard_input_and_works_before_init() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("replica");
    let document = json!({"type": "journal", "entries": [], "note": "زيارة"});
    let output = run_with_stdin(
        &home,
        &["new", "--json", "-"],
        document.to_string().as_bytes(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let id = stdout(&output).lines().last().unwrap().to_owned();
    assert_eq!(show_json(&home, &id), document);
    let status = ok(&home, &["status"]);
    assert!(status.contains("server: not configured"), "{status}");
}

#[test]
fn errors_say_what_is_wrong_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("replica");

    // Before anything exists.
    fails(&home, &["docs"], &["no replica at", "passerelle init"]);
    // A bad URL names what is wrong, and creates nothing.
    fails(
        &home,
        &["init", "--server", "sync.example.org", "--token", "t"],
        &["invalid server URL `sync.example.org`", "no scheme"],
    );
    fails(
        &home,
        &["init", "--server", "ftp://sync.example.org", "--token", "t"],
        &["`ftp`", "http:// or https://"],
    );
    fails(
        &home,
        &["init", "--server", "https://", "--token", "t"],
        &["invalid server URL", "host"],
    );
    fails(
        &home,
        &["init", "--server", "https://example.org", "--token", ""],
        &["invalid token", "empty"],
    );
    assert!(!home.exists(), "a failed init leaves nothing behind");

    ok(
        &home,
        &["init", "--server", "http://127.0.0.1:9", "--token", "t"],
    );
    let id = new_document(&home, &json!({"agenda": [], "title": "x"}));

    // A malformed document id.
    fails(
        &home,
        &["show", "not-an-id"],
        &["invalid document id `not-an-id`", "bs58check"],
    );
    let mut typo = id.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    fails(
        &home,
        &["set", &typo, "title", "1"],
        &["invalid document id", "checksum"],
    );
    // A valid id that is not in the replica.
    let stranger = DocumentId::random().to_string();
    fails(&home, &["show", &stranger], &[&stranger, "no document"]);

    // Bad paths.
    fails(
        &home,
        &["set", &id, "agendaa.0", "1"],
        &["`agendaa` does not exist", "no field `agendaa`"],
    );
    fails(
        &home,
        &["set", &id, "agenda.3", "1"],
        &["`agenda.3` does not exist", "0 item(s)"],
    );
    fails(
        &home,
        &["append", &id, "title", "1"],
        &["cannot append to `title`", "a string, not a list"],
    );
    fails(&home, &["set", &id, "a..b", "1"], &["empty segment"]);
    // A value that is not JSON.
    fails(
        &home,
        &["set", &id, "title", "Oujda"],
        &["`Oujda` is not JSON", "'\"Oujda\"'"],
    );
    // A document from something that is not an object.
    let file = tmp.path().join("list.json");
    std::fs::write(&file, "[1, 2]").unwrap();
    fails(
        &home,
        &["new", "--json", file.to_str().unwrap()],
        &["from a JSON object", "not from a list"],
    );
    std::fs::write(&file, "{\"a\": ").unwrap();
    fails(
        &home,
        &["new", "--json", file.to_str().unwrap()],
        &["list.json is not valid JSON"],
    );

    // Nothing above changed the document.
    assert_eq!(show_json(&home, &id), json!({"agenda": [], "title": "x"}));
}

//! The real `passerelle` binary driven as a person would, for the programme verbs' tests:
//! one process per command, a replica directory per person, no locale (French by default).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

/// `passerelle --home HOME ARGS` as `user`, with no locale (French by default).
pub fn command(home: &Path, user: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    command
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PASSERELLE_HOME")
        .env_remove("RUST_LOG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG")
        .env("PASSERELLE_USER", user)
        .stdin(Stdio::null());
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(home: &Path, user: &str, args: &[&str]) -> String {
    let output = command(home, user, args).output().unwrap();
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// The last line of stdout: the new document's (or item's) id.
pub fn created(home: &Path, user: &str, args: &[&str]) -> String {
    ok(home, user, args).lines().last().unwrap().to_owned()
}

/// Stdout parsed as JSON.
pub fn json(home: &Path, user: &str, args: &[&str]) -> Json {
    serde_json::from_str(&ok(home, user, args)).unwrap()
}

/// Expects exit code 1 and one line on stderr holding every needle.
pub fn fails(home: &Path, args: &[&str], needles: &[&str]) -> String {
    let output: Output = command(home, "samira", args).output().unwrap();
    let message = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    message
}

/// Today plus `days`, as `YYYY-MM-DD`.
pub fn date_in(days: i64) -> String {
    use jiff::ToSpan as _;
    jiff::Zoned::now()
        .date()
        .checked_add(days.days())
        .unwrap()
        .to_string()
}

/// `passerelle sync`, which must succeed.
pub fn sync(home: &Path) {
    ok(home, "-", &["sync"]);
}

/// `passerelle init` against `url` with `token`, edits signed `user`.
pub fn init(home: &Path, url: &str, token: &str, user: &str) {
    ok(
        home,
        user,
        &["init", "--server", url, "--token", token, "--user", user],
    );
}

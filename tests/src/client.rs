//! [`CliReplica`]: a replica directory driven by the real `passerelle` command-line binary,
//! one process per command, so that a test can SIGKILL a command half way.
//!
//! The binary is found like the server's (see `server.rs`): `PASSERELLE_CLIENT_BIN`, or
//! `passerelle` next to the test executable's profile directory. `cargo test --workspace`
//! builds it; with `cargo test -p passerelle-tests`, run `cargo build -p passerelle-client`
//! first.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// The `passerelle` binary to test: `PASSERELLE_CLIENT_BIN`, or the one cargo built in the
/// same target directory as the running test. Panics, saying how to build it, when missing.
pub fn client_binary() -> PathBuf {
    crate::server::workspace_binary(
        "passerelle",
        "PASSERELLE_CLIENT_BIN",
        "Run `cargo build -p passerelle-client` first",
    )
    .0
}

/// A replica directory of the real CLI. Commands run with `--home` set to it.
#[derive(Debug, Clone)]
pub struct CliReplica {
    /// The replica directory (`passerelle --home`).
    pub home: PathBuf,
    binary: PathBuf,
}

impl CliReplica {
    /// A replica in `home` (created by the first command that needs it).
    pub fn new(home: impl Into<PathBuf>) -> CliReplica {
        CliReplica {
            home: home.into(),
            binary: client_binary(),
        }
    }

    /// The command `passerelle --home HOME ARGS…`, with stdin closed and the environment
    /// variables the CLI reads removed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env_remove("PASSERELLE_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Runs a command to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("the passerelle binary runs")
    }

    /// Runs a command that must succeed; its stdout. Panics with stderr otherwise.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "`passerelle {}` failed ({}) in {}:\n{}{}",
            args.join(" "),
            output.status,
            self.home.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts a command with its stdout and stderr piped, without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the passerelle binary starts")
    }

    /// `passerelle init --server URL --token TOKEN`.
    pub fn init(&self, url: &str, token: &str) {
        self.run_ok(&["init", "--server", url, "--token", token]);
    }

    /// `passerelle show DOC --json`, parsed.
    pub fn show_json(&self, doc: &str) -> serde_json::Value {
        let text = self.run_ok(&["show", doc, "--json"]);
        serde_json::from_str(&text).expect("`show --json` prints JSON")
    }

    /// `passerelle export DOC --format automerge`: the document's bytes.
    pub fn export(&self, doc: &str) -> Vec<u8> {
        let output = self.run(&["export", doc, "--format", "automerge"]);
        assert!(
            output.status.success(),
            "`passerelle export {doc}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }
}

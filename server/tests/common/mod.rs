//! Helpers shared by the tests that drive the real `passerelle-server` binary.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The binary under test.
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_passerelle-server");

/// Runs `passerelle-server ARGS --data DATA`, without the environment's `PASSERELLE_*` and
/// `RUST_LOG` overrides, and waits for it.
pub(crate) fn run(args: &[&str], data: &Path) -> Output {
    Command::new(BINARY)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("PASSERELLE_DATA")
        .env_remove("PASSERELLE_LISTEN")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

/// A command's standard output, as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command's standard error, as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

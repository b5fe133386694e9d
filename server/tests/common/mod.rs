//! Helpers shared by the tests that drive the real `passerelle-server` binary.
//!
//! Compiled once into the `it` test binary (tests/it/main.rs); each test module uses part of it.
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

/// A running `passerelle-server serve --listen 127.0.0.1:0` on `data`, killed when dropped.
pub(crate) struct ServeProcess {
    child: Option<std::process::Child>,
    log: std::path::PathBuf,
    /// The address it listens on, from `DATA/server.json`.
    pub(crate) address: std::net::SocketAddr,
}

impl ServeProcess {
    /// Starts the server and waits (at most 30 s) until it publishes its address.
    pub(crate) fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    /// [`ServeProcess::start`] with more arguments to `serve` (limits).
    pub(crate) fn start_with(data: &Path, extra: &[&str]) -> Self {
        let log = data.with_extension("log");
        let child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the binary starts");
        let mut server = Self {
            child: Some(child),
            log,
            address: ([0, 0, 0, 0], 0).into(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(Some(file)) = passerelle_server::admin::ServerFile::read(data) {
                server.address = file.address;
                return server;
            }
            let exited = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "the server exited early; log:\n{}",
                server.log()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "no server.json after 30 s; log:\n{}",
                server.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// What the server logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Sends SIGTERM and waits (at most 20 s) for a clean exit.
    pub(crate) fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "exit {status}; log:\n{}", self.log());
                return;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server did not stop within 20 s; log:\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

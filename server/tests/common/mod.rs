//! Helpers shared by the tests that drive the real `passerelle-server` binary.
//!
//! Compiled once into the `it` test binary (tests/it/main.rs); each test module uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use passerelle_store::testing::TestDatabase;
use passerelle_store::{SledStorage, Storage};

/// The binary under test.
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_passerelle-server");

/// Whether the suites run on PostgreSQL (`PASSERELLE_TEST_STORE=postgres`): then each
/// [`TestData`] gets a fresh database, and the helpers pass `--store URL` to every command.
pub(crate) fn on_postgres() -> bool {
    std::env::var("PASSERELLE_TEST_STORE").is_ok_and(|store| store == "postgres")
}

/// `true` (after saying why) when the suites run on PostgreSQL and `test` is about sled
/// itself (its files, its lock, backups of its directory): the caller returns.
pub(crate) fn skip_on_postgres(test: &str, why: &str) -> bool {
    if on_postgres() {
        eprintln!("skipping {test} under PASSERELLE_TEST_STORE=postgres: {why}");
    }
    on_postgres()
}

/// The data directories that have a database of their own, with its URL.
static DATABASES: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// The `--store` URL for a data directory: that of the [`TestData`] holding it, if any.
pub(crate) fn store_url(data: &Path) -> Option<String> {
    let databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    databases
        .iter()
        .find(|(dir, _)| data.starts_with(dir))
        .map(|(_, url)| url.clone())
}

/// A test's data directory (a temporary directory) and, when the suites run on PostgreSQL,
/// its own fresh database, dropped with it. Every server and admin command the helpers run
/// on this directory, or on one inside it, is given `--store <the database>`.
pub(crate) struct TestData {
    dir: tempfile::TempDir,
    database: Option<Arc<TestDatabase>>,
}

impl TestData {
    /// A new data directory (and database). Under `PASSERELLE_TEST_STORE=postgres`, panics
    /// when `PASSERELLE_TEST_POSTGRES` is not set: that run asked for PostgreSQL.
    pub(crate) fn new(test: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = on_postgres().then(|| {
            Arc::new(TestDatabase::create(test).unwrap_or_else(|| {
                panic!("PASSERELLE_TEST_STORE=postgres needs PASSERELLE_TEST_POSTGRES")
            }))
        });
        if let Some(database) = &database {
            DATABASES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((dir.path().to_path_buf(), database.url().to_owned()));
        }
        Self { dir, database }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The test's storage, opened here: the database, or sled in `data` (the directory or
    /// one inside it). Drop it before starting a server on a sled directory.
    pub(crate) fn storage(&self, data: &Path) -> Arc<dyn Storage> {
        match &self.database {
            Some(database) => Arc::new(database.storage()),
            None => Arc::new(SledStorage::open(data).expect("open the sled store")),
        }
    }
}

impl Drop for TestData {
    fn drop(&mut self) {
        let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
        databases.retain(|(dir, _)| dir != self.dir.path());
    }
}

/// `--store URL` for `data` when it has a database, else nothing.
fn store_args(data: &Path) -> Vec<String> {
    match store_url(data) {
        Some(url) => vec!["--store".to_owned(), url],
        None => Vec::new(),
    }
}

/// Runs `passerelle-server ARGS --data DATA` (and `--store` for a [`TestData`]'s database),
/// without the environment's `PASSERELLE_*` and `RUST_LOG` overrides, and waits for it.
pub(crate) fn run(args: &[&str], data: &Path) -> Output {
    Command::new(BINARY)
        .args(args)
        .arg("--data")
        .arg(data)
        .args(store_args(data))
        .env_remove("PASSERELLE_STORE")
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
            .args(store_args(data))
            .args(extra)
            .env_remove("PASSERELLE_STORE")
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

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
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

/// `GET BASE/v1/changes` as `token`, from `since` (none: from the start), long-polling up to
/// `wait` seconds; asserts a 200.
pub(crate) async fn changes(
    base: &str,
    token: &str,
    since: Option<&str>,
    wait: u64,
) -> passerelle_server::sync::ChangesResponse {
    let mut url = format!("{base}/v1/changes?wait={wait}");
    if let Some(since) = since {
        url.push_str(&format!("&since={since}"));
    }
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

//! [`TestServer`]: the real `passerelle-server` binary on `127.0.0.1:0` with a data
//! directory of its own, users created through the real admin CLI, SIGKILL and restart on
//! the same data to test durability. It is killed when dropped.
//!
//! # Where the binary comes from
//!
//! This package cannot use `CARGO_BIN_EXE_passerelle-server` (that only exists for the
//! server package's own tests), and running `cargo build` from a test would nest cargo. So
//! [`server_binary`] looks for the binary next to the test executable
//! (`target/<profile>/deps/<test>` → `target/<profile>/passerelle-server`), or takes
//! `PASSERELLE_SERVER_BIN`. `cargo test --workspace` (what `scripts/test` and CI run) builds
//! every binary of the workspace before running any test, so it is there and up to date.
//! `cargo test -p passerelle-tests` alone does **not** build it: run
//! `cargo build -p passerelle-server` first, or the tests use whatever binary was built last.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long a server may take to publish its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A role in an organisation, as `passerelle-server user add --role` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages users; reads and writes the organisation's documents.
    Admin,
    /// Reads and writes the organisation's documents.
    Editor,
    /// Reads the organisation's documents.
    Viewer,
    /// A peer server's link: an editor that may state who made the changes it delivers.
    Peer,
}

impl Role {
    /// The name the CLI takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Peer => "peer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `passerelle-server` binary to test: `PASSERELLE_SERVER_BIN`, or the one cargo built in
/// the same target directory as the running test. Panics, saying how to build it, when it
/// is missing.
pub fn server_binary() -> PathBuf {
    let (binary, profile_dir) = workspace_binary(
        "passerelle-server",
        "PASSERELLE_SERVER_BIN",
        "The end-to-end tests run the real server binary, which `cargo test --workspace` \
         builds; with `cargo test -p passerelle-tests`, run `cargo build -p passerelle-server` \
         first",
    );
    if let Some(profile_dir) = profile_dir {
        warn_if_stale(&binary, &profile_dir.join("deps"));
    }
    binary
}

/// A binary of the workspace for the tests: the one `env_var` names, or `name` as cargo built
/// it in the same target directory and profile as the running test (then also returned: the
/// profile directory). Panics with `how_to_build` when it is missing.
pub(crate) fn workspace_binary(
    name: &str,
    env_var: &str,
    how_to_build: &str,
) -> (PathBuf, Option<PathBuf>) {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{env_var}={} is not a file", path.display());
        return (path, None);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable is in target/<profile>/deps");
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} does not exist. {how_to_build} (same CARGO_TARGET_DIR and profile), or set \
         {env_var}.",
        binary.display()
    );
    (binary, Some(profile_dir.to_path_buf()))
}

/// Warns (without failing) when the server library in `deps` was rebuilt after the binary:
/// `cargo test -p passerelle-tests` rebuilds the library but not the binary.
fn warn_if_stale(binary: &Path, deps: &Path) {
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
    let Some(built) = modified(binary) else {
        return;
    };
    let newest_lib: Option<SystemTime> = fs::read_dir(deps)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libpasserelle_server-") && name.ends_with(".rlib")
        })
        .filter_map(|entry| modified(&entry.path()))
        .max();
    if newest_lib.is_some_and(|lib| lib > built) {
        eprintln!(
            "warning: {} is older than the passerelle-server library built since; the tests \
             may run a stale server. Run `cargo build -p passerelle-server` or `cargo test \
             --workspace`.",
            binary.display()
        );
    }
}

/// A running `passerelle-server serve`, with its own data directory (a temporary directory
/// removed on drop). The process is killed when this is dropped.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`: the address it listens on now (it changes on restart).
    pub url: String,
    /// The socket address it listens on now.
    pub address: SocketAddr,
    /// The data directory, kept across restarts.
    pub data_dir: PathBuf,
    child: Option<Child>,
    binary: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0` with a fresh data directory, and waits (bounded)
    /// until it listens. Panics with the server's log if it does not start.
    pub fn start() -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("passerelle-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let data_dir = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut server = TestServer {
            url: String::new(),
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            child: None,
            binary: server_binary(),
            log,
            _dir: dir,
        };
        server.spawn("127.0.0.1:0");
        server
    }

    /// The WebSocket endpoint without a token: `ws://127.0.0.1:PORT/ws`.
    pub fn ws_endpoint(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// The WebSocket URL for one user: `ws://127.0.0.1:PORT/ws?token=TOKEN`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("{}?token={token}", self.ws_endpoint())
    }

    /// Creates a user with the real admin CLI (through the running server, or on the store
    /// when it is stopped) and returns their bearer token.
    pub fn add_user(&self, name: &str, org: &str, role: Role) -> String {
        let output = self.admin(&["user", "add", name, "--org", org, "--role", role.as_str()]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "`user add {name}` failed ({}):\n{stdout}\n{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        let token = stdout.lines().last().unwrap_or_default().trim().to_owned();
        assert!(
            token.starts_with("psl_"),
            "`user add {name}` did not print a token last:\n{stdout}"
        );
        token
    }

    /// Runs an admin command of the binary on this server's data directory.
    pub fn admin(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .args(args)
            .arg("--data")
            .arg(&self.data_dir)
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("the server binary runs")
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the server logged, across restarts.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.note(&format!("killed pid {} with SIGKILL", child.id()));
        }
    }

    /// Kills the server (if it runs) and starts it again on the same data directory, on a
    /// new port: `url` and `address` change.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn("127.0.0.1:0");
    }

    /// Kills the server (if it runs) and starts it again on the same data directory and the
    /// same address, so that connected clients can reconnect.
    pub fn restart_on_same_address(&mut self) {
        self.kill();
        let address = self.address.to_string();
        self.spawn(&address);
    }

    fn spawn(&mut self, listen: &str) {
        assert!(self.child.is_none(), "the server is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the server log file");
        let child = Command::new(&self.binary)
            .args(["serve", "--listen", listen, "--data"])
            .arg(&self.data_dir)
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", self.binary.display()));
        let pid = child.id();
        self.child = Some(child);
        self.address = self.wait_until_listening(pid);
        self.url = format!("http://{}", self.address);
    }

    /// Waits for `server.json` written by this very process (a killed server leaves its
    /// file behind, with the old address).
    fn wait_until_listening(&mut self, pid: u32) -> SocketAddr {
        let file = self.data_dir.join("server.json");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(address) = fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .filter(|json| json["pid"].as_u64() == Some(u64::from(pid)))
                .and_then(|json| json["address"].as_str()?.parse().ok())
            {
                return address;
            }
            let child = self.child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                panic!(
                    "the server exited at start ({status}); log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the server did not publish its address in {} within {START_TIMEOUT:?}; log:\n{}",
                    file.display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Writes a line of the test's own into the server log, to tell runs apart.
    fn note(&self, line: &str) {
        if let Ok(mut log) = fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(log, "---- test harness: {line}");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

//! The three servers under test, started the same way: on a free loopback port chosen here,
//! with a data directory of their own, their log in a file. A server is "up" when it answers
//! an HTTP request on its port (any answer: its store is open by then, since each of them
//! opens the store before it listens).

use std::fmt;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a server may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// automerge-repo 2.5.6 on node, NodeFS storage (`js/reference-server.mjs`).
    Js,
    /// samod 0.16, tokio filesystem storage, axum (`samod-ref/`).
    Samod,
    /// passerelle-server, sled.
    Passerelle,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Js, Kind::Samod, Kind::Passerelle];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Js => "js",
            Kind::Samod => "samod",
            Kind::Passerelle => "passerelle",
        }
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.key() == text)
            .with_context(|| format!("unknown server {text:?} (js, samod, passerelle)"))
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Where the programs are.
#[derive(Debug, Clone)]
pub(crate) struct Programs {
    pub(crate) passerelle: PathBuf,
    pub(crate) samod: PathBuf,
    pub(crate) node: PathBuf,
    /// `crates/bench/js`, with its `node_modules` installed.
    pub(crate) js_dir: PathBuf,
}

impl Programs {
    pub(crate) fn check(&self, kinds: &[Kind]) -> anyhow::Result<()> {
        let mut needed: Vec<(PathBuf, &str)> = vec![
            (self.js_dir.join("driver.mjs"), "the JS driver"),
            (
                self.js_dir
                    .join("node_modules/@automerge/automerge-repo/package.json"),
                "the JS packages (npm ci in crates/bench/js)",
            ),
        ];
        if kinds.contains(&Kind::Passerelle) {
            needed.push((
                self.passerelle.clone(),
                "passerelle-server (cargo build --release)",
            ));
        }
        if kinds.contains(&Kind::Samod) {
            needed.push((
                self.samod.clone(),
                "samod-ref (cargo build --release in crates/bench/samod-ref)",
            ));
        }
        for (path, what) in needed {
            if !path.exists() {
                bail!(
                    "{what} not found at {}; scripts/bench builds it",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// A running server. Stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) kind: Kind,
    pub(crate) pid: u32,
    pub(crate) port: u16,
    /// From spawning the process until it answered on its port.
    pub(crate) start_up: Duration,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `kind` on `data` and waits until it answers. `store` (passerelle only): a
    /// `postgres://` URL for `--store`, the data directory then holding only the server's
    /// own files; `None` for sled.
    pub(crate) fn start(
        kind: Kind,
        programs: &Programs,
        data: &Path,
        store: Option<&str>,
        log: &Path,
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut command = match kind {
            Kind::Js => {
                let mut c = Command::new(&programs.node);
                c.arg(programs.js_dir.join("reference-server.mjs"));
                c
            }
            Kind::Samod => Command::new(&programs.samod),
            Kind::Passerelle => {
                let mut c = Command::new(&programs.passerelle);
                c.arg("serve").env("RUST_LOG", "warn");
                if let Some(url) = store {
                    c.arg("--store").arg(url);
                }
                c
            }
        };
        command
            .arg("--listen")
            .arg(&listen)
            .arg("--data")
            .arg(data)
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env_remove("PASSERELLE_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).context("creating the server log")?);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting the {kind} server"))?;
        let mut server = Server {
            kind,
            pid: child.id(),
            port,
            start_up: Duration::ZERO,
            child,
            log: log.to_owned(),
        };
        loop {
            if answers(port) {
                server.start_up = started.elapsed();
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the {kind} server exited at start ({status}); log:\n{}",
                    server.log()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the {kind} server did not answer within {START_TIMEOUT:?}; log:\n{}",
                    server.log()
                );
            }
            sleep(Duration::from_millis(2));
        }
    }

    /// The WebSocket URL the JS client connects to (the references ignore the token).
    pub(crate) fn ws_url(&self, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws?token={token}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails, with the log, if the server died.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the {} server died ({status}); log:\n{}",
                self.kind,
                self.log()
            );
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: passerelle and samod flush and exit; a SIGKILL'd sled store would
        // replay its log at the next start and make the next start-up look slower.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether an HTTP request to the port gets any answer.
fn answers(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(1))
}

/// Creates the benchmark's user in a passerelle data directory (or, with `store`, in that
/// PostgreSQL database), with the real admin CLI (no server running on it), and returns the
/// token.
pub(crate) fn add_passerelle_user(
    programs: &Programs,
    data: &Path,
    store: Option<&str>,
) -> anyhow::Result<String> {
    let mut command = Command::new(&programs.passerelle);
    command
        .args(["user", "add", "bench", "--org", "bench", "--role", "editor"])
        .arg("--data")
        .arg(data);
    if let Some(url) = store {
        command.arg("--store").arg(url);
    }
    let output = command
        .env_remove("PASSERELLE_DATA")
        .env_remove("PASSERELLE_STORE")
        .stdin(Stdio::null())
        .output()
        .context("running passerelle-server user add")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "user add failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let token = stdout.lines().last().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        bail!("user add printed no token: {stdout}");
    }
    Ok(token)
}

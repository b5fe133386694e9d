//! End to end, with the real binary: admin commands on a stopped store, then through a
//! running server (`serve --listen 127.0.0.1:0`), then a clean SIGTERM shutdown.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use common::{BINARY, run, stderr, stdout};
use passerelle_server::admin::ServerFile;
use passerelle_store::SledStorage;

/// Runs an admin command on `data`.
fn admin(data: &Path, args: &[&str]) -> Output {
    run(args, data)
}

/// The token an admin command printed: its last line.
fn printed_token(output: &Output) -> anyhow::Result<String> {
    ensure!(
        output.status.success(),
        "command failed: {}\n{}",
        stdout(output),
        stderr(output)
    );
    let out = stdout(output);
    let last = out.lines().last().context("no output")?.to_owned();
    ensure!(last.starts_with("psl_"), "last line is not a token: {out}");
    Ok(last)
}

/// A `serve` child that is killed if the test fails before stopping it.
struct Server {
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    fn start(data: &Path, log: PathBuf) -> anyhow::Result<Self> {
        Self::start_with(data, log, &[])
    }

    fn start_with(data: &Path, log: PathBuf, extra: &[&str]) -> anyhow::Result<Self> {
        let child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env_remove("PASSERELLE_STORE")
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()?;
        Ok(Self {
            child: Some(child),
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        ensure!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the server did not stop within 20 s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) for the running server to publish its address file.
fn wait_for_server_file(data: &Path, server: &mut Server) -> anyhow::Result<ServerFile> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(file) = ServerFile::read(data)? {
            return Ok(file);
        }
        if let Some(status) = server.child.as_mut().context("stopped")?.try_wait()? {
            bail!("the server exited early ({status}); log:\n{}", server.log());
        }
        if Instant::now() > deadline {
            bail!("no server.json after 30 s; log:\n{}", server.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn whoami(address: std::net::SocketAddr, token: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?
        .get(format!("http://{address}/v1/whoami"))
        .bearer_auth(token)
        .send()?;
    Ok((response.status().as_u16(), response.json()?))
}

#[test]
fn admin_commands_work_with_the_server_stopped_and_running() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "admin_commands_work_with_the_server_stopped_and_running",
        "it is about sled's directory lock (admin commands go through the server holding it)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");

    // Stopped: commands other than `user add` want an existing store.
    let listed = admin(&data, &["user", "list"]);
    ensure!(!listed.status.success());
    ensure!(
        stderr(&listed).contains("there is no data directory"),
        "{}",
        stderr(&listed)
    );

    // Stopped: `user add` creates the store and prints a token.
    let admin_token = printed_token(&admin(
        &data,
        &[
            "user",
            "add",
            "amina",
            "--org",
            "ville-de-lille",
            "--role",
            "admin",
        ],
    ))?;
    let listed = admin(&data, &["user", "list"]);
    ensure!(listed.status.success(), "{}", stderr(&listed));
    ensure!(stdout(&listed).contains("amina"), "{}", stdout(&listed));

    // Running.
    let mut server = Server::start(&data, dir.path().join("server.log"))?;
    let file = wait_for_server_file(&data, &mut server)?;
    ensure!(file.address.port() != 0, "the real port is published");
    ensure!(file.pid == server.pid());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(ServerFile::path(&data))?.permissions().mode();
        ensure!(mode & 0o777 == 0o600, "server.json mode is {mode:o}");
    }
    let (status, body) = whoami(file.address, &admin_token)?;
    ensure!(status == 200 && body["user"] == "amina", "{status} {body}");

    // `user add` while it runs goes through the server; the new token works at once.
    let youssef_token = printed_token(&admin(
        &data,
        &[
            "user",
            "add",
            "youssef",
            "--org",
            "commune-oujda",
            "--role",
            "editor",
        ],
    ))?;
    let (status, body) = whoami(file.address, &youssef_token)?;
    ensure!(status == 200, "{status} {body}");
    ensure!(
        body == serde_json::json!({"user": "youssef", "org": "commune-oujda", "role": "editor"}),
        "{body}"
    );

    // Refusals come back as messages a person understands.
    let duplicate = admin(
        &data,
        &["user", "add", "youssef", "--org", "x", "--role", "viewer"],
    );
    ensure!(!duplicate.status.success());
    ensure!(
        stderr(&duplicate).contains("already exists"),
        "{}",
        stderr(&duplicate)
    );
    let unknown = admin(&data, &["token", "create", "ghost"]);
    ensure!(!unknown.status.success());
    ensure!(
        stderr(&unknown).contains("no user named `ghost`"),
        "{}",
        stderr(&unknown)
    );

    // A second token, then revocation through the server: refused at the next request.
    let second = printed_token(&admin(&data, &["token", "create", "youssef"]))?;
    let revoked = admin(&data, &["token", "revoke", &youssef_token]);
    ensure!(revoked.status.success(), "{}", stderr(&revoked));
    let (status, _) = whoami(file.address, &youssef_token)?;
    ensure!(status == 401, "revoked token still accepted: {status}");
    let (status, _) = whoami(file.address, &second)?;
    ensure!(status == 200, "the other token was revoked too: {status}");

    // A second server on the same directory says why it cannot start.
    let second_server = admin(&data, &["serve", "--listen", "127.0.0.1:0"]);
    ensure!(!second_server.status.success());
    ensure!(
        stderr(&second_server).contains("already in use by another server"),
        "{}",
        stderr(&second_server)
    );

    // SIGTERM: a clean exit, and the address file is gone.
    let log = server.log();
    let status = server.terminate()?;
    ensure!(status.success(), "exit status {status}; log:\n{log}");
    ensure!(!ServerFile::path(&data).exists(), "server.json left behind");
    let log = fs::read_to_string(dir.path().join("server.log"))?;
    ensure!(log.contains("listening on 127.0.0.1:"), "log:\n{log}");
    for secret in [
        admin_token.as_str(),
        youssef_token.as_str(),
        second.as_str(),
        file.admin_secret.expose_secret(),
    ] {
        ensure!(!log.contains(secret), "a secret is in the log:\n{log}");
    }

    // Stopped again: everything done through the server is in the store.
    let listed = admin(&data, &["user", "list"]);
    ensure!(listed.status.success(), "{}", stderr(&listed));
    let out = stdout(&listed);
    ensure!(out.contains("amina") && out.contains("youssef"), "{out}");
    Ok(())
}

#[test]
fn a_held_store_without_an_address_file_is_explained() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "a_held_store_without_an_address_file_is_explained",
        "it is about sled's directory lock (admin commands go through the server holding it)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    // This test process holds the store, as a server would, but publishes no address.
    let _held = SledStorage::open(&data)?;
    let output = admin(&data, &["user", "list"]);
    ensure!(!output.status.success());
    let message = stderr(&output);
    ensure!(
        message.contains("is in use by a running server, but its address file")
            && message.contains("is missing"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_dead_server_address_is_explained() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "a_dead_server_address_is_explained",
        "it is about sled's directory lock (admin commands go through the server holding it)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let _held = SledStorage::open(&data)?;
    // An address nothing listens on: bind a port, then free it.
    let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    ServerFile {
        address,
        admin_secret: passerelle_server::admin::AdminSecret::generate(),
        pid: 4242,
    }
    .write(&data)?;
    let output = admin(&data, &["token", "create", "amina"]);
    ensure!(!output.status.success());
    let message = stderr(&output);
    ensure!(
        message.contains("does not answer") && message.contains("pid 4242"),
        "{message}"
    );
    Ok(())
}

/// On PostgreSQL there is no lock: admin commands run straight on the database while a
/// server runs on it, and the server sees their effect at its next check (a new user's token
/// works at once, a revoked one stops at once). Runs whenever PASSERELLE_TEST_POSTGRES is set.
#[test]
fn admin_commands_on_postgres_run_beside_a_running_server() -> anyhow::Result<()> {
    let Some(db) = passerelle_store::testing::TestDatabase::create(
        "admin_commands_on_postgres_run_beside_a_running_server",
    ) else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let with_store = |args: &[&str]| {
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--store", db.url()]);
        admin(&data, &args)
    };
    let amina = printed_token(&with_store(&[
        "user", "add", "amina", "--org", "lille", "--role", "admin",
    ]))?;
    ensure!(
        !data.join("db").exists() && !data.join("conf").exists(),
        "no sled store is made with --store postgres://"
    );
    let mut server =
        Server::start_with(&data, dir.path().join("server.log"), &["--store", db.url()])?;
    let file = wait_for_server_file(&data, &mut server)?;
    let (status, _) = whoami(file.address, &amina)?;
    ensure!(status == 200, "{status}");

    // Another process adds a user while the server runs: no forwarding, the token works.
    let youssef = printed_token(&with_store(&[
        "user", "add", "youssef", "--org", "oujda", "--role", "editor",
    ]))?;
    let (status, body) = whoami(file.address, &youssef)?;
    ensure!(
        status == 200 && body["user"] == "youssef",
        "{status} {body}"
    );
    let revoked = with_store(&["token", "revoke", &youssef]);
    ensure!(revoked.status.success(), "{}", stderr(&revoked));
    let (status, _) = whoami(file.address, &youssef)?;
    ensure!(status == 401, "revoked token still accepted: {status}");

    // `check` and `backup` run on the database beside the server.
    let checked = with_store(&["check"]);
    ensure!(
        checked.status.success(),
        "{}{}",
        stdout(&checked),
        stderr(&checked)
    );
    ensure!(stdout(&checked).contains("sound"), "{}", stdout(&checked));
    let backup = dir.path().join("b.pslbak");
    let backed_up = with_store(&["backup", "--to", backup.to_str().context("utf-8 path")?]);
    ensure!(backed_up.status.success(), "{}", stderr(&backed_up));

    // The password never reaches the log.
    let status = server.terminate()?;
    ensure!(status.success(), "exit status {status}");
    let log = fs::read_to_string(dir.path().join("server.log"))?;
    if let Some(password) = db
        .url()
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(info, _)| info.split_once(':'))
        .map(|(_, password)| password)
    {
        ensure!(
            !log.contains(password),
            "the password is in the log:\n{log}"
        );
    }
    ensure!(
        log.contains("storage: the database postgres://"),
        "log:\n{log}"
    );

    // The backup restores into another, empty database, and not into a used one.
    let Some(other) = passerelle_store::testing::TestDatabase::create("restore target") else {
        return Ok(());
    };
    let backup = backup.to_str().context("utf-8 path")?;
    let restored = admin(
        &data,
        &["restore", "--from", backup, "--store", other.url()],
    );
    ensure!(restored.status.success(), "{}", stderr(&restored));
    let again = admin(
        &data,
        &["restore", "--from", backup, "--store", other.url()],
    );
    ensure!(!again.status.success());
    ensure!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
    let listed = admin(&data, &["user", "list", "--store", other.url()]);
    ensure!(stdout(&listed).contains("youssef"), "{}", stdout(&listed));
    Ok(())
}

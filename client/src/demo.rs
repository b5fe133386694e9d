//! `passerelle demo`: a guided run for a newcomer, on one machine.
//!
//! It starts the real `passerelle-server` binary on a free port of 127.0.0.1 over a
//! temporary data directory, creates two users with the server's own admin command, and
//! drives two replicas ("oujda" and "lille", in the same temporary directory) through the
//! library: edits made while no server runs or before syncing, a share across
//! organisations, syncs, the merged document, and the server's history of who wrote what.
//! Each step prints what a person would type and what it means.
//!
//! Cleaning up: the server process is killed and the directory removed when the demo ends,
//! on success or on error (both are guards dropped on every path). Ctrl-C reaches the server
//! too, as it runs in the same process group.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use automerge::AutoCommit;
use jiff::Timestamp;
use passerelle_client::{AccessLevel, Grantee, HttpTransport, Replica, ReplicaEvent, ServerConfig};
use passerelle_core::DocumentId;
use passerelle_model::{Direction, Document, ModelError, Place, Stamp, mission};
use serde_json::json;

use crate::cli::history_text;
use crate::programme::conflicts::conflict_text;
use crate::programme::mission::show_text;
use crate::programme::{load_document, save_document};

fn status_path() -> passerelle_model::FieldPath {
    "status".parse().expect("a valid field path")
}

/// One edit of a programme document, as the CLI's verbs make it: load, change, check, save.
fn edit(
    replica: &mut Replica,
    id: DocumentId,
    change: impl FnOnce(&mut AutoCommit) -> Result<(), ModelError>,
) -> anyhow::Result<()> {
    let (mut doc, _) = load_document(replica, id)??;
    change(&mut doc)?;
    save_document(replica, id, &mut doc)
}

/// The environment variable naming the server binary, when it is not next to this one.
const SERVER_BIN_VARIABLE: &str = "PASSERELLE_SERVER_BIN";
/// How long the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The server process; killed (and waited for) when dropped.
struct ServerProcess {
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// The last lines the server logged, to explain a failure.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Everything it acknowledged is on disk already, and the data is thrown away next.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the demo.
pub(crate) fn run() -> anyhow::Result<()> {
    let server_binary = find_server_binary()?;
    let dir = tempfile::Builder::new()
        .prefix("passerelle-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let outcome = tour(&server_binary, dir.path());
    println!();
    println!(
        "Cleaning up: the server is stopped and {} removed.",
        dir.path().display()
    );
    outcome
}

/// `passerelle-server`: `PASSERELLE_SERVER_BIN`, else next to this binary, else in the
/// other build profile's directory of the same cargo target directory (a release server
/// with a debug client, as `cargo run --release -p passerelle-server` builds it).
fn find_server_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(SERVER_BIN_VARIABLE).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "{SERVER_BIN_VARIABLE} is {}, but there is no file there",
                path.display()
            );
        }
        return Ok(path);
    }
    let name = format!("passerelle-server{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().context("cannot tell where this program is")?;
    let mut candidates = Vec::new();
    if let Some(dir) = exe.parent() {
        candidates.push(dir.join(&name));
        if let Some(target) = dir.parent() {
            for profile in ["release", "debug"] {
                candidates.push(target.join(profile).join(&name));
            }
        }
    }
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "cannot find the passerelle-server binary (looked for {}); build it with `cargo build \
         --release -p passerelle-server`, or set {SERVER_BIN_VARIABLE} to its path",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn step(number: u32, title: &str) {
    println!();
    println!("{number}. {title}");
}

fn say(text: &str) {
    println!("   {text}");
}

fn command(text: &str) {
    println!("   $ {text}");
}

fn tour(server_binary: &Path, dir: &Path) -> anyhow::Result<()> {
    println!("passerelle demo: two offices, one document, a bad network.");
    println!("Everything runs on this machine, in {}:", dir.display());
    println!("a sync server, and two replicas: the cooperation officer's laptop in Oujda and a");
    println!("desk of Lille's international relations service. The lines starting with $ are");
    println!("what each person would type; the demo does the same through the client library.");
    let oujda_home = dir.join("oujda");
    let lille_home = dir.join("lille");

    step(
        1,
        "Oujda, offline: the officer plans a mission. No server is running yet.",
    );
    let mut oujda = Replica::open(&oujda_home)?;
    let samira = |at| Stamp::new("samira", at);
    let claire = |at| Stamp::new("claire", at);
    command(
        "passerelle mission new --direction lille-to-oujda --title \"Mission Lille → Oujda\" \\\n       --title-ar \"بعثة ليل إلى وجدة\"",
    );
    let mut doc = mission::new_mission(
        &mission::NewMission {
            direction: Direction::LilleToOujda,
            title: vec![
                ("fr".to_owned(), "Mission Lille → Oujda".to_owned()),
                ("ar".to_owned(), "بعثة ليل إلى وجدة".to_owned()),
            ],
            start: None,
            end: None,
        },
        &samira(Timestamp::now()),
    )?;
    let id = DocumentId::random();
    save_document(&mut oujda, id, &mut doc)?;
    command(&format!(
        "passerelle mission agenda add {id} \"Visite de la régie de quartier\""
    ));
    edit(&mut oujda, id, |doc| {
        mission::add_agenda_item(
            doc,
            Place::End,
            None,
            "Visite de la régie de quartier",
            None,
            &samira(Timestamp::now()),
        )
        .map(drop)
    })?;
    say(&format!(
        "Saved on the laptop's disk: document {id}, a typed mission (schema 2), {} change(s) \
         waiting for a server.",
        oujda.sync_status(id)?.pending_changes
    ));

    step(
        2,
        "The sync server starts, and its administrator creates two users.",
    );
    let data = dir.join("server-data");
    command("passerelle-server serve --listen 127.0.0.1:0");
    let (server, url) = start_server(server_binary, &data)?;
    say(&format!(
        "Listening on {url} (pid {}); its data is in {}.",
        server.child.id(),
        data.display()
    ));
    command("passerelle-server user add samira --org oujda --role admin");
    let samira_token = add_user(server_binary, &data, "samira", "oujda", "admin")?;
    command("passerelle-server user add claire --org lille --role editor");
    let claire_token = add_user(server_binary, &data, "claire", "lille", "editor")?;
    say("samira is the officer, admin of the organisation \"oujda\": she decides who sees its");
    say("documents. claire works in Lille's international relations service (an editor).");

    step(3, "Both replicas are pointed at the server, and sync.");
    command(&format!(
        "passerelle init --server {url} --token $SAMIRA_TOKEN    # in Oujda"
    ));
    command(&format!(
        "passerelle init --server {url} --token $CLAIRE_TOKEN    # in Lille"
    ));
    let oujda_server = ServerConfig::new(&url, &samira_token)?;
    oujda.configure_server(&oujda_server)?;
    let oujda_link = HttpTransport::new(&oujda_server)?;
    let mut lille = Replica::open(&lille_home)?;
    let lille_server = ServerConfig::new(&url, &claire_token)?;
    lille.configure_server(&lille_server)?;
    let lille_link = HttpTransport::new(&lille_server)?;
    command("passerelle sync    # on the laptop in Oujda");
    let report = oujda.sync(&oujda_link, &mut |_| {})?;
    say(&format!(
        "Oujda sent {} document(s): the mission is on the server, owned by \"oujda\".",
        report.documents_sent
    ));
    command("passerelle sync    # in Lille");
    let report = lille.sync(&lille_link, &mut |_| {})?;
    say(&format!(
        "Lille received {} document(s): an organisation's documents are its own until shared.",
        report.received.len()
    ));

    step(4, "Samira shares the mission with Lille, for writing.");
    command(&format!("passerelle share {id} --org lille --access write"));
    oujda_link
        .share(id, &Grantee::Org("lille".to_owned()), AccessLevel::Write)
        .map_err(|e| anyhow::anyhow!("sharing failed: {e}"))?;
    command("passerelle sync    # in Lille");
    let report = lille.sync(&lille_link, &mut |_| {})?;
    for event in &report.events {
        if let ReplicaEvent::RemoteChanges { document_id, .. } = event {
            say(&format!(
                "event for the application: changes arrived in {document_id}"
            ));
        }
    }
    if !report.received.contains(&id) {
        bail!("Lille did not receive the shared document");
    }
    say("Lille now holds the mission, saved on its own disk.");

    step(
        5,
        "Both edit while offline: neither syncs, both save locally.",
    );
    command(&format!(
        "passerelle mission edit {id} --status planned    # in Oujda"
    ));
    edit(&mut oujda, id, |doc| {
        passerelle_model::set(
            doc,
            &status_path(),
            &json!("planned"),
            &samira(Timestamp::now()),
        )
    })?;
    command(&format!(
        "passerelle mission agenda add {id} \"Rencontre avec l'Université Mohammed Ier\"    # in Oujda"
    ));
    edit(&mut oujda, id, |doc| {
        mission::add_agenda_item(
            doc,
            Place::End,
            None,
            "Rencontre avec l'Université Mohammed Ier",
            None,
            &samira(Timestamp::now()),
        )
        .map(drop)
    })?;
    command(&format!(
        "passerelle mission agenda add {id} \"Accueil de la délégation lilloise\"    # in Lille"
    ));
    edit(&mut lille, id, |doc| {
        mission::add_agenda_item(
            doc,
            Place::End,
            None,
            "Accueil de la délégation lilloise",
            None,
            &claire(Timestamp::now()),
        )
        .map(drop)
    })?;
    for person in ["Claire", "Marc"] {
        command(&format!(
            "passerelle mission delegation add {id} {person} --org \"Ville de Lille\"    # in Lille"
        ));
        edit(&mut lille, id, |doc| {
            mission::add_delegate(
                doc,
                person,
                Some("Ville de Lille"),
                None,
                &claire(Timestamp::now()),
            )
            .map(drop)
        })?;
    }
    command(&format!(
        "passerelle mission edit {id} --status confirmed    # in Lille"
    ));
    edit(&mut lille, id, |doc| {
        passerelle_model::set(
            doc,
            &status_path(),
            &json!("confirmed"),
            &claire(Timestamp::now()),
        )
    })?;
    say("Two versions of the mission now exist, one on each side. Both set its status.");

    step(6, "The link comes back: both sync.");
    command("passerelle sync    # in Oujda: sends its edits");
    oujda.sync(&oujda_link, &mut |_| {})?;
    command("passerelle sync    # in Lille: sends its edits, receives Oujda's");
    lille.sync(&lille_link, &mut |_| {})?;
    command("passerelle sync    # in Oujda again: receives Lille's");
    oujda.sync(&oujda_link, &mut |_| {})?;

    step(
        7,
        "The merged mission: both sides kept every edit; the one true conflict waits for a person.",
    );
    say("Every agenda item and both delegates are kept. The status was set twice, to two");
    say("values: passerelle does not pick one silently, it lists both, with who and when.");
    command(&format!("passerelle conflicts {id}"));
    let (doc, _) = load_document(&mut oujda, id)??;
    let found = passerelle_model::conflicts(&doc)?;
    if found.is_empty() {
        bail!("the concurrent status edits left no conflict");
    }
    for conflict in &found {
        for line in conflict_text(id, conflict).lines() {
            say(line);
        }
    }
    command(&format!(
        "passerelle resolve {id} status planned    # in Oujda"
    ));
    edit(&mut oujda, id, |doc| {
        passerelle_model::resolve(doc, &status_path(), "planned", &samira(Timestamp::now()))
            .map(drop)
    })?;
    command("passerelle sync    # in Oujda, then in Lille");
    oujda.sync(&oujda_link, &mut |_| {})?;
    lille.sync(&lille_link, &mut |_| {})?;
    let (mut merged, typed) = load_document(&mut oujda, id)??;
    let (mut other, _) = load_document(&mut lille, id)??;
    if merged.get_heads() != other.get_heads() {
        bail!("the two replicas differ after syncing");
    }
    let Document::Mission(mission) = typed else {
        bail!("the demo's document is not a mission");
    };
    command(&format!("passerelle mission show {id}"));
    for line in show_text(None, id, &mission, &merged)?.lines() {
        say(line);
    }

    step(
        8,
        "Who wrote what: the server records the user who delivered each change.",
    );
    command(&format!("passerelle history {id}"));
    let history = lille.history(&lille_link, id)?;
    for line in history_text(&history, Some("Mission Lille → Oujda")).lines() {
        say(line);
    }

    println!();
    println!(
        "That is the whole loop: edit offline, sync when a link appears, merge without losing \
         anyone's words. Next: run your own server (README), `passerelle --help`."
    );
    std::io::stdout().flush()?;
    drop(server);
    Ok(())
}

/// Starts `passerelle-server serve` on a free port of 127.0.0.1 and waits until it
/// publishes its address in `DATA/server.json`. Returns the process guard and its URL.
fn start_server(binary: &Path, data: &Path) -> anyhow::Result<(ServerProcess, String)> {
    std::fs::create_dir_all(data)?;
    let log = data.with_extension("log");
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env_remove("PASSERELLE_DATA")
        .env_remove("PASSERELLE_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut server = ServerProcess { child, log };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(bytes) = std::fs::read(data.join("server.json"))
            && let Ok(file) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(address) = file["address"].as_str()
        {
            let url = format!("http://{address}/");
            return Ok((server, url));
        }
        if let Some(status) = server.child.try_wait()? {
            bail!(
                "the server stopped at once ({status}); its log:\n{}",
                server.log_tail()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the server did not start within {} s; its log:\n{}",
                START_TIMEOUT.as_secs(),
                server.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `passerelle-server user add NAME --org ORG --role ROLE` (through the running server);
/// returns the token, the last line it prints.
fn add_user(
    binary: &Path,
    data: &Path,
    name: &str,
    org: &str,
    role: &str,
) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .args(["user", "add", name, "--org", org, "--role", role, "--data"])
        .arg(data)
        .env_remove("PASSERELLE_DATA")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "creating the user {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
        .with_context(|| format!("creating the user {name} printed no token"))
}

//! The command line of `passerelle`: its clap definitions, what each command does, and how
//! results are printed. Results go to stdout (scripts read them); notices and errors to
//! stderr.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use passerelle_client::{
    AccessLevel, CHECK_TIMEOUT, ClientError, DocPath, DocSummary, DocumentAccess, DocumentHistory,
    Grantee, HttpTransport, LoopConfig, LoopEvent, RejectionKind, Replica, ReplicaEvent,
    ServerConfig, StopSignal, SyncEvent, SyncLoop, SyncOptions, SyncReport,
};
use passerelle_core::DocumentId;
use serde_json::Value as Json;

/// What a local edit prints: the edit is on disk, and the network is not needed for it.
const SAVED_LOCALLY: &str = "saved locally; will sync when the server is reachable";

/// The passerelle client: an offline-first replica of your documents.
#[derive(Debug, Parser)]
#[command(name = "passerelle", version)]
pub(crate) struct Cli {
    /// The replica directory [default: $XDG_DATA_HOME/passerelle, or
    /// ~/.local/share/passerelle].
    #[arg(long, global = true, value_name = "DIR", env = "PASSERELLE_HOME")]
    home: Option<PathBuf>,
    /// The language of the programme's commands: fr or en [default: from LC_ALL,
    /// LC_MESSAGES or LANG; French if they say neither].
    #[arg(long, global = true, value_enum)]
    lang: Option<crate::lang::Lang>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up the replica and the server it syncs with. Works offline: nothing is contacted.
    Init {
        /// The server's base URL, e.g. `https://sync.example.org`.
        #[arg(long, value_name = "URL")]
        server: String,
        /// Your access token, as given by the server's administrator.
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// Your user name on the server, recorded with your edits of the programme's
        /// documents [default: PASSERELLE_USER, else your login name].
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Create a document from a JSON object; prints its id as the last line.
    New {
        /// The JSON file, or `-` for standard input.
        #[arg(long, value_name = "FILE")]
        json: PathBuf,
    },
    /// Set one field or list item, e.g. `set DOC budget.0.planned 12000`.
    Set {
        /// The document id (or its automerge: URL).
        doc: String,
        /// The field: map keys and list indexes separated by dots, e.g. `title.fr`.
        path: String,
        /// The new value, as JSON (a string needs quotes: '"Oujda"').
        value: String,
    },
    /// Append an item to a list, e.g. `append DOC agenda '{"title": "Visite"}'`.
    Append {
        /// The document id (or its automerge: URL).
        doc: String,
        /// The list: map keys and list indexes separated by dots.
        path: String,
        /// The new item, as JSON.
        value: String,
    },
    /// Show a document.
    Show {
        /// The document id (or its automerge: URL).
        doc: String,
        /// Print the document as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the documents of the replica: id, type and title.
    Docs {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a document; or, as `export csv COLLECTION`, a whole collection as CSV
    /// (projects, actors, calls or actions) for a spreadsheet.
    Export {
        /// The document id (or its automerge: URL), or `csv`.
        doc: String,
        /// After `csv`: projects, actors, calls or actions.
        collection: Option<String>,
        /// `automerge` (the binary format any Automerge implementation loads) or `json`.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The server (reachable or not), the last sync, and per document the changes not yet
    /// confirmed by the server and those it refused.
    Status,
    /// Send local changes to the server and receive those made elsewhere, once.
    Sync {
        /// The size of each request in KiB (up and down together): smaller requests finish
        /// on a slower link, and a dropped connection costs less.
        #[arg(long, value_name = "KIB", default_value_t = 256)]
        batch_kib: usize,
    },
    /// Stay in sync until Ctrl-C: changes made elsewhere arrive as they are made, local
    /// edits go out, and an unreachable server is retried with growing pauses.
    Watch,
    /// The web pages over this replica, on 127.0.0.1 only, until Ctrl-C; keeps syncing in
    /// the background like `watch`. Works offline.
    Ui {
        /// The loopback address and port to listen on (port 0: any free port).
        #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:7781")]
        listen: std::net::SocketAddr,
    },
    /// Who changed a document and when, as the server recorded it (oldest first), then the
    /// changes still only in this replica. Needs the server.
    History {
        /// The document id (or its automerge: URL).
        doc: String,
        /// Print the history as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show who may see a document or, with --org or --user and --access, change it (admins
    /// of the organisation that owns the document only). Needs the server.
    Share {
        /// The document id (or its automerge: URL).
        doc: String,
        /// Give access to every member of this organisation.
        #[arg(long, value_name = "ORG", conflicts_with = "user")]
        org: Option<String>,
        /// Give access to this user.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// `read`, `write`, or `none` to take access away.
        #[arg(long, value_enum)]
        access: Option<AccessArg>,
    },
    /// A guided tour on this machine: starts a sync server in a temporary directory, and two
    /// replicas, Oujda and Lille, that edit one document offline and then merge. Needs the
    /// `passerelle-server` binary next to this one (or PASSERELLE_SERVER_BIN).
    Demo,
    /// Reports: the periodic report to Lille (md, html, or the xlsx workbook), mission
    /// reports, and submitted reports frozen at the documents' heads.
    #[command(subcommand)]
    Report(crate::report_cli::ReportCommand),
    #[command(flatten)]
    Programme(Box<crate::programme::ProgrammeCommand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AccessArg {
    None,
    Read,
    Write,
}

impl From<AccessArg> for AccessLevel {
    fn from(access: AccessArg) -> Self {
        match access {
            AccessArg::None => AccessLevel::None,
            AccessArg::Read => AccessLevel::Read,
            AccessArg::Write => AccessLevel::Write,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Automerge,
    Json,
}

/// Runs the command.
pub(crate) fn execute(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo = cli.command {
        // The demo keeps its replicas in its own temporary directory, and speaks English.
        crate::lang::Lang::set_current(crate::lang::Lang::En);
        return crate::demo::run();
    }
    crate::lang::Lang::set_current(crate::lang::Lang::detect(cli.lang));
    let home = match cli.home {
        Some(home) => home,
        None => default_home()?,
    };
    match cli.command {
        Command::Init {
            server,
            token,
            user,
        } => {
            let config = ServerConfig::new(&server, &token)?;
            let replica = Replica::open(&home)?;
            replica.configure_server(&config)?;
            if let Some(user) = user {
                crate::programme::remember_user(&home, &user)?;
            }
            println!(
                "replica ready at {}; it will sync with {} (not contacted yet)",
                home.display(),
                config.url()
            );
        }
        Command::New { json } => {
            let object = read_json_file(&json)?;
            let mut replica = Replica::open(&home)?;
            let id = replica.create(&object)?;
            eprintln!("{SAVED_LOCALLY}");
            println!("{id}");
        }
        Command::Set { doc, path, value } => {
            let (id, path, value) = (parse_doc(&doc)?, parse_path(&path)?, parse_value(&value)?);
            let mut replica = open_existing(&home)?;
            replica.set(id, &path, &value)?;
            eprintln!("{SAVED_LOCALLY}");
        }
        Command::Append { doc, path, value } => {
            let (id, path, value) = (parse_doc(&doc)?, parse_path(&path)?, parse_value(&value)?);
            let mut replica = open_existing(&home)?;
            let index = replica.append(id, &path, &value)?;
            eprintln!("{SAVED_LOCALLY}");
            println!("{path}.{index}");
        }
        Command::Show { doc, json } => {
            let id = parse_doc(&doc)?;
            let mut replica = open_existing(&home)?;
            let value = replica.get_json(id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("document {id}\n{}", render(&value));
            }
        }
        Command::Docs { json } => {
            let mut replica = open_existing(&home)?;
            let summaries = replica.list()?;
            if json {
                let list: Vec<Json> = summaries.iter().map(summary_json).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if summaries.is_empty() {
                eprintln!("no documents yet; create one with `passerelle new --json FILE`");
            } else {
                for summary in &summaries {
                    println!("{}", summary_line(summary));
                }
            }
        }
        Command::Export {
            doc,
            collection,
            format,
            output,
        } => {
            if doc == "csv" || collection.is_some() {
                if doc != "csv" {
                    bail!("export: give `export csv COLLECTION` or `export DOC --format FORMAT`");
                }
                let collection = collection.unwrap_or_default();
                return crate::report_cli::export_csv(&home, &collection, output.as_deref());
            }
            let format = format.context("export DOC needs --format automerge or json")?;
            let id = parse_doc(&doc)?;
            let mut replica = open_existing(&home)?;
            let bytes = match format {
                ExportFormat::Automerge => replica.export_automerge(id)?,
                ExportFormat::Json => {
                    let mut text = serde_json::to_string_pretty(&replica.get_json(id)?)?;
                    text.push('\n');
                    text.into_bytes()
                }
            };
            match output {
                Some(path) => std::fs::write(&path, &bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => {
                    if format == ExportFormat::Automerge && std::io::stdout().is_terminal() {
                        bail!(
                            "not writing binary Automerge data to a terminal; use --output FILE \
                             or redirect standard output"
                        );
                    }
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                }
            }
        }
        Command::Status => {
            let mut replica = open_existing(&home)?;
            print!("{}", status_report(&mut replica)?);
        }
        Command::Sync { batch_kib } => {
            let mut replica = open_existing(&home)?;
            let config = replica.server()?.ok_or(ClientError::NoServer)?;
            let transport = HttpTransport::new(&config)?;
            let options = SyncOptions {
                max_batch_bytes: batch_kib.max(1).saturating_mul(1024),
                ..SyncOptions::default()
            };
            let terminal = std::io::stderr().is_terminal();
            let mut bar = ProgressLine::new(terminal);
            let outcome = replica.sync_with(&transport, &options, &mut |event| bar.show(event));
            bar.clear();
            let report = outcome?;
            report_problems(&report);
            if terminal {
                eprintln!("{}", sync_summary(config.url().as_str(), &report));
            }
            if let Some((id, reason)) = report.failed.first() {
                bail!(
                    "the sync did not complete: {} document(s) could not be synced ({id}: \
                     {reason}); run `passerelle sync` again",
                    report.failed.len()
                );
            }
        }
        Command::Watch => {
            let replica = open_existing(&home)?;
            let config = replica.server()?.ok_or(ClientError::NoServer)?;
            drop(replica);
            let transport = HttpTransport::new(&config)?;
            let mut sync_loop = SyncLoop::new(&home, transport, LoopConfig::default());
            stop_on_ctrl_c(sync_loop.stop_signal());
            let url = config.url().to_string();
            eprintln!("watching {url}; Ctrl-C to stop");
            let mut reachable = false;
            sync_loop.run(&mut |event| watch_line(&url, &mut reachable, event))?;
            eprintln!("stopped");
        }
        Command::Ui { listen } => crate::ui::run(&home, listen)?,
        Command::History { doc, json } => {
            let id = parse_doc(&doc)?;
            let mut replica = open_existing(&home)?;
            let config = replica.server()?.ok_or(ClientError::NoServer)?;
            let transport = HttpTransport::new(&config)?;
            let history = replica.history(&transport, id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history_json(&history))?);
            } else {
                let title = replica
                    .list()?
                    .into_iter()
                    .find(|summary| summary.id == id)
                    .and_then(|summary| summary.title);
                print!("{}", history_text(&history, title.as_deref()));
            }
        }
        Command::Share {
            doc,
            org,
            user,
            access,
        } => {
            let id = parse_doc(&doc)?;
            let grantee = match (org, user) {
                (Some(org), None) => Some(Grantee::Org(org)),
                (None, Some(user)) => Some(Grantee::User(user)),
                _ => None,
            };
            let mut replica = open_existing(&home)?;
            let config = replica.server()?.ok_or(ClientError::NoServer)?;
            let transport = HttpTransport::new(&config)?;
            let outcome = match (&grantee, access) {
                (None, None) => transport.document_access(id),
                (Some(grantee), Some(access)) => transport.share(id, grantee, access.into()),
                (None, Some(_)) => bail!("say whom to share with: --org ORG or --user USER"),
                (Some(_), None) => bail!("say what to give: --access read, write or none"),
            };
            let rules = match outcome {
                Ok(rules) => rules,
                Err(ClientError::NotOnServer(id)) => {
                    return Err(replica.why_not_on_server(id)?.into());
                }
                Err(error) => return Err(error.into()),
            };
            print!("{}", access_text(&rules));
            if let (Some(grantee), Some(access)) = (grantee, access) {
                println!("{}", share_outcome(&grantee, access.into(), &rules));
            }
        }
        Command::Demo => unreachable!("handled above"),
        Command::Report(command) => crate::report_cli::run(command, &home)?,
        Command::Programme(command) => crate::programme::run(*command, &home)?,
    }
    Ok(())
}

/// A server time for a person: to the second, UTC.
fn when(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .ok()
        .and_then(|t| t.round(jiff::Unit::Second).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "?".to_owned())
}

/// A change hash as people quote it: its first 8 hex digits.
fn short_hash(hash: &automerge::ChangeHash) -> String {
    hash.to_string()[..8].to_owned()
}

pub(crate) fn history_text(history: &DocumentHistory, title: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "history of {}{}",
        history.document_id,
        title.map(|t| format!("  {t}")).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "on the server (author and time as the server recorded them):"
    );
    if history.on_server.is_empty() {
        let _ = writeln!(out, "  nothing yet");
    }
    let width = history
        .on_server
        .iter()
        .map(|r| r.author().chars().count())
        .max()
        .unwrap_or(0);
    for record in &history.on_server {
        let _ = writeln!(
            out,
            "  {}  {:width$}  {:<12}  {}{}",
            when(record.time),
            record.author(),
            format!("({})", record.org),
            short_hash(&record.hash),
            // After the hash, where no user name can reach: this one is not a user here.
            match record.origin.first() {
                Some(peer) => format!("  from the peer server {peer}"),
                None => String::new(),
            },
        );
    }
    if !history.pending.is_empty() {
        let _ = writeln!(out, "only in this replica, not on the server:");
        for change in &history.pending {
            let state = match &change.refused {
                Some(reason) => format!("refused: {reason}"),
                None => "pending: goes out at the next `passerelle sync`".to_owned(),
            };
            let _ = writeln!(out, "  {}  {state}", short_hash(&change.hash));
        }
    }
    out
}

fn history_json(history: &DocumentHistory) -> Json {
    let changes: Vec<Json> = history
        .on_server
        .iter()
        .map(|record| {
            serde_json::json!({
                "hash": record.hash.to_string(),
                "user": record.user,
                "org": record.org,
                "origin": record.origin,
                "time": jiff::Timestamp::try_from(record.time)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
            })
        })
        .collect();
    let pending: Vec<Json> = history
        .pending
        .iter()
        .map(|change| match &change.refused {
            Some(reason) => serde_json::json!({
                "hash": change.hash.to_string(),
                "state": "refused",
                "reason": reason,
            }),
            None => serde_json::json!({"hash": change.hash.to_string(), "state": "pending"}),
        })
        .collect();
    serde_json::json!({
        "document": history.document_id.to_string(),
        "changes": changes,
        "pending": pending,
    })
}

fn access_text(access: &DocumentAccess) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "document {} is owned by the organisation {} (created by {})",
        access.document_id, access.owner_org, access.created_by
    );
    let _ = writeln!(
        out,
        "  members of {}: write (editors), read (viewers); its admins decide who else sees it",
        access.owner_org
    );
    for rule in &access.rules {
        let meaning = match rule.access {
            AccessLevel::None => "no access (denied)",
            AccessLevel::Read => "read",
            AccessLevel::Write => "write",
        };
        let _ = writeln!(out, "  {}: {meaning}", rule.grantee);
    }
    let _ = writeln!(
        out,
        "you: {}{}",
        access.your_access,
        if access.you_can_share {
            ", and you may change who sees it"
        } else {
            ""
        }
    );
    out
}

fn share_outcome(grantee: &Grantee, access: AccessLevel, rules: &DocumentAccess) -> String {
    match access {
        AccessLevel::None => format!(
            "{grantee} no longer has access to {} (the change applies to its next sync)",
            rules.document_id
        ),
        level => format!(
            "{grantee} may now {level} {}; their next `passerelle sync` fetches it",
            rules.document_id
        ),
    }
}

/// The progress of `passerelle sync` on a terminal: one line, rewritten in place.
struct ProgressLine {
    terminal: bool,
    shown: bool,
}

impl ProgressLine {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            shown: false,
        }
    }

    fn show(&mut self, event: &SyncEvent) {
        if !self.terminal {
            return;
        }
        let line = match event {
            SyncEvent::Planned { documents, .. } if *documents > 0 => {
                format!("syncing {documents} document(s)…")
            }
            SyncEvent::Progress {
                done,
                total,
                bytes_up,
                bytes_down,
            } => format!(
                "syncing: {done}/{total} document(s), {} up, {} down",
                human_bytes(*bytes_up),
                human_bytes(*bytes_down)
            ),
            SyncEvent::Retrying { error, delay } => {
                format!("{error}; retrying in {}", human_duration(*delay))
            }
            _ => return,
        };
        eprint!("\r\x1b[2K{line}");
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// Refusals and unavailable documents, on stderr whatever the terminal: they need a person.
fn report_problems(report: &SyncReport) {
    for rejection in &report.refused {
        eprintln!(
            "refused: {}: {} change(s) not accepted: {}",
            rejection.document_id,
            rejection.changes.len(),
            rejection.reason
        );
    }
    for id in &report.unavailable {
        eprintln!("unavailable: {id}: the server has no such document, or you may not see it");
    }
}

fn sync_summary(url: &str, report: &SyncReport) -> String {
    format!(
        "synced with {url}: {} document(s) sent, {} received; {} up, {} down in {} request(s)",
        report.documents_sent,
        report.documents_received(),
        human_bytes(report.bytes_up),
        human_bytes(report.bytes_down),
        report.round_trips
    )
}

/// One line of `passerelle watch` per thing that happened: arrivals on stdout, the rest on
/// stderr. `reachable` is what was last said of the server.
fn watch_line(url: &str, reachable: &mut bool, event: LoopEvent<'_>) {
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now());
    match event {
        LoopEvent::Replica(ReplicaEvent::RemoteChanges {
            document_id,
            heads,
            title,
        }) => {
            let heads: Vec<String> = heads.iter().map(short_hash).collect();
            println!(
                "{now}  received  {document_id}  {}  (now at {})",
                title.as_deref().unwrap_or("-"),
                heads.join(", ")
            );
        }
        LoopEvent::Replica(ReplicaEvent::ChangeRefused {
            document_id,
            reason,
        }) => eprintln!("{now}  refused  {document_id}: {reason}"),
        LoopEvent::Replica(ReplicaEvent::SyncStateChanged {
            reachable: now_reachable,
            last_sync,
            ..
        }) => {
            let last = last_sync.map_or_else(|| "never".to_owned(), when);
            if *now_reachable && !*reachable {
                eprintln!("{now}  connected to {url}; last successful sync: {last}");
            } else if !*now_reachable {
                eprintln!("{now}  lost {url}; last successful sync: {last}");
            }
            *reachable = *now_reachable;
        }
        LoopEvent::Offline { error, retry_in } => {
            eprintln!("{now}  {error}; retrying in {}", human_duration(retry_in));
        }
        LoopEvent::Sync(SyncEvent::Unavailable { document_id }) => {
            eprintln!("{now}  unavailable  {document_id}");
        }
        LoopEvent::Synced(report) if report.documents_sent > 0 => {
            eprintln!("{now}  sent {} document(s)", report.documents_sent);
        }
        _ => {}
    }
}

/// Stops the loop on the first Ctrl-C (it finishes the request in flight, whose results are
/// kept); a second Ctrl-C exits at once, which is as safe as any crash.
fn stop_on_ctrl_c(stop: StopSignal) {
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".to_owned())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("stopping…");
                    stop.stop();
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            });
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot watch for Ctrl-C");
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

fn human_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.0} s", duration.as_secs_f64())
    }
}

fn ago(when: SystemTime) -> String {
    let seconds = SystemTime::now()
        .duration_since(when)
        .unwrap_or_default()
        .as_secs();
    match seconds {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// The replica directory when `--home` and `PASSERELLE_HOME` are not given: the user's data
/// directory, as the XDG base directory specification places it (`$XDG_DATA_HOME`, else
/// `~/.local/share`), or the platform's equivalent on macOS and Windows.
fn default_home() -> anyhow::Result<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let data_dir = if cfg!(windows) {
        non_empty("APPDATA").map(PathBuf::from)
    } else if let Some(xdg) = non_empty("XDG_DATA_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        Some(xdg)
    } else if cfg!(target_os = "macos") {
        non_empty("HOME").map(|home| PathBuf::from(home).join("Library/Application Support"))
    } else {
        non_empty("HOME").map(|home| PathBuf::from(home).join(".local/share"))
    };
    match data_dir {
        Some(dir) => Ok(dir.join("passerelle")),
        None => bail!("cannot find your data directory (HOME is not set); pass --home DIR"),
    }
}

/// Opens a replica that must exist already: a typo in `--home` should not silently create an
/// empty replica and then report that the document does not exist.
fn open_existing(home: &Path) -> anyhow::Result<Replica> {
    if !home.join("store").is_dir() {
        bail!(
            "there is no replica at {}; run `passerelle init --server URL --token TOKEN` or \
             `passerelle new --json FILE` first, or pass --home DIR",
            home.display()
        );
    }
    Ok(Replica::open(home)?)
}

fn parse_doc(input: &str) -> anyhow::Result<DocumentId> {
    input
        .parse()
        .with_context(|| format!("invalid document id `{input}`"))
}

fn parse_path(input: &str) -> anyhow::Result<DocPath> {
    Ok(input.parse()?)
}

fn parse_value(input: &str) -> anyhow::Result<Json> {
    serde_json::from_str(input).with_context(|| {
        format!(
            "the value `{input}` is not JSON (a string needs quotes, e.g. '\"{}\"')",
            input.replace('"', "")
        )
    })
}

/// The JSON in `path`, or in standard input for `-`.
fn read_json_file(path: &Path) -> anyhow::Result<Json> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        ("standard input".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        (path.display().to_string(), text)
    };
    serde_json::from_str(&text).with_context(|| format!("{name} is not valid JSON"))
}

fn summary_json(summary: &DocSummary) -> Json {
    let mut object = serde_json::json!({
        "id": summary.id.to_string(),
        "type": summary.doc_type,
        "title": summary.title,
    });
    if let Some(problem) = &summary.problem {
        object["problem"] = Json::String(problem.clone());
    }
    object
}

fn summary_line(summary: &DocSummary) -> String {
    if let Some(problem) = &summary.problem {
        return format!("{}  (cannot be read: {problem})", summary.id);
    }
    format!(
        "{}  {}  {}",
        summary.id,
        summary.doc_type.as_deref().unwrap_or("-"),
        summary.title.as_deref().unwrap_or("-")
    )
}

fn status_report(replica: &mut Replica) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "replica: {}",
        replica.directory().unwrap_or(Path::new("")).display()
    )?;
    match replica.server()? {
        Some(config) => {
            let reachability = match HttpTransport::new(&config)?.check(CHECK_TIMEOUT) {
                Ok(()) => "reachable".to_owned(),
                Err(error @ ClientError::TokenRefused { .. }) => {
                    format!("reachable, but {error}")
                }
                Err(error) => format!("not reachable: {error}"),
            };
            writeln!(out, "server: {} ({reachability})", config.url())?;
        }
        None => writeln!(
            out,
            "server: not configured (run `passerelle init --server URL --token TOKEN`)"
        )?,
    }
    match replica.last_sync()? {
        Some(when) => {
            let stamp = jiff::Timestamp::try_from(when)
                .ok()
                .and_then(|t| t.round(jiff::Unit::Second).ok())
                .map(|t| t.to_string())
                .unwrap_or_default();
            writeln!(out, "last successful sync: {stamp} ({})", ago(when))?;
        }
        None => writeln!(out, "last successful sync: never")?,
    }
    let summaries = replica.list()?;
    let mut lines = Vec::new();
    let mut pending = 0;
    let mut refused = 0;
    for summary in &summaries {
        if let Some(problem) = &summary.problem {
            lines.push(format!("{}  cannot be read: {problem}", summary.id));
            continue;
        }
        let status = replica.sync_status(summary.id)?;
        // Changes the server refused are not pending: they wait for a person, not a sync.
        let rejected = status
            .rejection
            .as_ref()
            .map_or(0, |r| r.changes.len())
            .min(status.pending_changes);
        let waiting = status.pending_changes - rejected;
        let mut states = Vec::new();
        match (&status.confirmed_heads, waiting) {
            (_, 0) => {}
            (None, n) => states.push(format!(
                "pending: {n} change(s), never confirmed by the server"
            )),
            (Some(_), n) => states.push(format!(
                "pending: {n} change(s) not yet confirmed by the server"
            )),
        }
        match &status.rejection {
            Some(rejection) if rejection.kind == RejectionKind::Refused => {
                let hashes: Vec<&str> = rejection
                    .changes
                    .iter()
                    .map(|h| h.get(..8).unwrap_or(h))
                    .collect();
                states.push(format!(
                    "refused changes: {} change(s) not accepted: {} (changes {})",
                    rejection.changes.len(),
                    rejection.reason,
                    hashes.join(", ")
                ));
            }
            Some(rejection) => states.push(format!("unavailable: {}", rejection.reason)),
            None => {}
        }
        if states.is_empty() {
            states.push("up to date".to_owned());
        }
        pending += usize::from(waiting > 0);
        refused += usize::from(status.rejection.is_some());
        let title = summary.title.as_deref().unwrap_or("-");
        lines.push(format!("{}  {}  {title}", summary.id, states.join("; ")));
    }
    writeln!(
        out,
        "documents: {}, with pending changes: {pending}, with refused changes: {refused}",
        summaries.len()
    )?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(out)
}

/// A document for a person to read: YAML-like, nested by indentation, strings as they are.
pub(crate) fn render(value: &Json) -> String {
    let mut out = String::new();
    match value {
        Json::Object(_) | Json::Array(_) => render_into(value, 0, &mut out),
        scalar => out.push_str(&format!("{}\n", scalar_text(scalar))),
    }
    out
}

fn render_into(value: &Json, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Json::Object(fields) => {
            for (key, field) in fields {
                if is_leaf(field) {
                    render_leaf(&format!("{pad}{key}:"), field, indent, out);
                } else {
                    out.push_str(&format!("{pad}{key}:\n"));
                    render_into(field, indent + 2, out);
                }
            }
        }
        Json::Array(items) => {
            for item in items {
                if is_leaf(item) {
                    render_leaf(&format!("{pad}-"), item, indent, out);
                } else {
                    // The item's first line goes on the dash's line, as YAML writes it.
                    let mut inner = String::new();
                    render_into(item, indent + 2, &mut inner);
                    out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                }
            }
        }
        scalar => render_leaf(&pad, scalar, indent, out),
    }
}

/// Scalars, empty maps and empty lists fit on their key's line.
fn is_leaf(value: &Json) -> bool {
    match value {
        Json::Object(fields) => fields.is_empty(),
        Json::Array(items) => items.is_empty(),
        _ => true,
    }
}

fn render_leaf(prefix: &str, value: &Json, indent: usize, out: &mut String) {
    match value {
        Json::String(text) if text.contains('\n') => {
            out.push_str(&format!("{prefix} |\n"));
            for line in text.lines() {
                out.push_str(&format!("{}{line}\n", " ".repeat(indent + 2)));
            }
        }
        other => out.push_str(&format!("{prefix} {}\n", scalar_text(other))),
    }
}

fn scalar_text(value: &Json) -> String {
    match value {
        Json::String(text) if text.is_empty() => "\"\"".to_owned(),
        Json::String(text) => text.clone(),
        Json::Object(_) => "{}".to_owned(),
        Json::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_documents_readably() {
        let value = serde_json::json!({
            "title": {"fr": "Mission", "ar": "بعثة"},
            "agenda": [{"place": "Oujda", "when": "lundi"}, "libre"],
            "empty": [],
            "notes": "ligne 1\nligne 2",
        });
        let expected = "\
agenda:
  - place: Oujda
    when: lundi
  - libre
empty: []
notes: |
  ligne 1
  ligne 2
title:
  ar: بعثة
  fr: Mission
";
        assert_eq!(render(&value), expected);
    }
}

//! The command line of `passerelle-server`: its clap definitions and what each command does.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use passerelle_server::admin::{self, AdminCommand, AdminSecret, ServerFile};
use passerelle_server::auth::{OrgName, Role, TokenRef, UserName};
use passerelle_server::backend::StoreBackend;
use passerelle_server::backup::{self, Progress};
use passerelle_server::{AppState, ServerConfig};
use passerelle_store::{SledOptions, StorageError};
use tokio::net::TcpListener;

/// The passerelle sync server, and the commands that manage its users, tokens and backups.
#[derive(Debug, Parser)]
#[command(name = "passerelle-server", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the sync server until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write every document, access rule, authorship record, user and token to a new file
    /// (through the running server if there is one).
    Backup(BackupArgs),
    /// Restore a backup into a new, empty data directory (with no server running on it).
    Restore(RestoreArgs),
    /// Verify a stopped server's data directory: read every record (checksums) and load every
    /// document (chunk hashes, Automerge); name what is damaged and exit non-zero if anything
    /// is.
    Check(CheckArgs),
    /// Manage the other passerelle servers this one replicates with (federation).
    #[command(subcommand)]
    Peer(PeerCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum PeerCommand {
    /// Dial another server and replicate with it (a running server picks it up within a
    /// second). Stored in DIR/peers.json, readable by the owner only.
    Add {
        /// The peer's base URL (https://passerelle.lille.example/).
        url: String,
        /// A token the peer issued to this server: the peer's access rules apply to us as to
        /// that user. With the role peer there, the peer also records who made the changes
        /// we send (as users of this server); otherwise it records them as that user's.
        #[arg(long)]
        token: String,
        /// A short name for the peer (lowercase letters, digits, - and _); default: from
        /// the URL's host.
        #[arg(long)]
        name: Option<String>,
        /// The local user whose read access decides which documents are offered to the
        /// peer; the peer's changes are written here as this user (whose organisation owns
        /// the documents that first arrive from the peer), and the history names their
        /// authors on the peer, as `karim (NAME)`.
        #[arg(long, value_name = "USER")]
        offer: UserName,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the peers (never their tokens).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Stop replicating with a peer and forget what was known of it.
    Remove {
        /// The peer's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Per peer: connected or not, last complete sync, documents behind.
    Status {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

/// Where the data lives. Every command takes it.
#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// The data directory: the documents, users and tokens when the store is sled, and the
    /// server's own files (server.json, peers.json) whatever the store.
    #[arg(
        long,
        value_name = "DIR",
        env = "PASSERELLE_DATA",
        default_value = "./passerelle-data"
    )]
    pub(crate) data: PathBuf,
    /// Where documents, users and tokens are stored: `sled` (in the data directory) or a
    /// PostgreSQL database, postgres://USER:PASSWORD@HOST:PORT/DATABASE, which several
    /// servers and admin commands may use at once (docs/OPERATIONS.md).
    #[arg(
        long,
        value_name = "sled|URL",
        env = "PASSERELLE_STORE",
        hide_env_values = true,
        default_value = "sled"
    )]
    pub(crate) store: StoreBackend,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// The address to listen on; port 0 picks a free port (logged, and written to
    /// DIR/server.json).
    #[arg(
        long,
        value_name = "ADDR",
        env = "PASSERELLE_LISTEN",
        default_value = "127.0.0.1:7780"
    )]
    pub(crate) listen: String,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

/// The limits of `serve`. Each defaults to [`ServerConfig::default`]'s value.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// The largest WebSocket message or `/v1/sync` body a client may send, in bytes
    /// (default 64 MiB). A larger one gets a clear error and nothing of it is stored.
    #[arg(long, value_name = "BYTES", env = "PASSERELLE_MAX_MESSAGE_BYTES")]
    pub(crate) max_message_bytes: Option<usize>,
    /// The largest body of the other HTTP requests, in bytes (default 64 KiB).
    #[arg(long, value_name = "BYTES", env = "PASSERELLE_MAX_REQUEST_BYTES")]
    pub(crate) max_request_bytes: Option<usize>,
    /// At most this many documents in memory at once (default 100); the least recently
    /// used are evicted first. Memory grows with this, not with the documents stored.
    #[arg(long, value_name = "N", env = "PASSERELLE_MAX_LOADED_DOCUMENTS")]
    pub(crate) max_loaded_documents: Option<usize>,
    /// Evict a document from memory after this many seconds without use (default 10).
    #[arg(long, value_name = "SECONDS", env = "PASSERELLE_EVICT_IDLE_SECS")]
    pub(crate) evict_idle_secs: Option<u64>,
    /// How often open connections check their token again, in seconds (default 30): a
    /// revoked token stops working on open connections within this time.
    #[arg(long, value_name = "SECONDS", env = "PASSERELLE_TOKEN_RECHECK_SECS")]
    pub(crate) token_recheck_secs: Option<u64>,
    /// Messages queued for one slow connection before it is dropped (default 1024).
    #[arg(long, value_name = "N", env = "PASSERELLE_OUTBOX_CAPACITY")]
    pub(crate) outbox_capacity: Option<usize>,
    /// The storage's page cache, in MiB (default 4). Documents are cached by the sync
    /// engine within its own budget; this only needs to hold hot index pages.
    #[arg(long, value_name = "MIB", env = "PASSERELLE_STORE_CACHE_MIB")]
    pub(crate) store_cache_mib: Option<u64>,
    /// Seconds a request body may take to arrive (default 30), plus one per
    /// --request-body-min-rate bytes received; a slower upload gets 408 and is cut off.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "PASSERELLE_REQUEST_BODY_TIMEOUT_SECS"
    )]
    pub(crate) request_body_timeout_secs: Option<u64>,
    /// Seconds a request's headers may take to arrive (default 30), from the connection
    /// opening or its previous request; then the connection is closed.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "PASSERELLE_REQUEST_HEADER_TIMEOUT_SECS"
    )]
    pub(crate) request_header_timeout_secs: Option<u64>,
    /// Bytes per second a request body must average past its first seconds (default 1024).
    #[arg(long, value_name = "BYTES", env = "PASSERELLE_REQUEST_BODY_MIN_RATE")]
    pub(crate) request_body_min_rate: Option<u64>,
    /// Mark the web pages' cookies Secure (sent over https only). Use it when people reach
    /// the server over https (directly or through a reverse proxy); over plain http the
    /// browser would then drop the session cookie.
    #[arg(long, env = "PASSERELLE_SECURE_COOKIES")]
    pub(crate) secure_cookies: bool,
}

impl LimitArgs {
    /// The server's configuration: these limits over the defaults. Zero is refused where it
    /// would make the server useless.
    pub(crate) fn config(&self) -> anyhow::Result<ServerConfig> {
        fn positive<T: PartialEq + Default + Copy>(
            value: Option<T>,
            name: &str,
        ) -> anyhow::Result<Option<T>> {
            if value == Some(T::default()) {
                anyhow::bail!("--{name} must be more than 0");
            }
            Ok(value)
        }
        let mut config = ServerConfig::default();
        if let Some(bytes) = positive(self.max_message_bytes, "max-message-bytes")? {
            config.max_message_bytes = bytes;
        }
        if let Some(bytes) = positive(self.max_request_bytes, "max-request-bytes")? {
            config.max_request_body_bytes = bytes;
        }
        if let Some(n) = positive(self.max_loaded_documents, "max-loaded-documents")? {
            config.hub.max_loaded_documents = n;
        }
        if let Some(secs) = self.evict_idle_secs {
            config.hub.evict_idle_after = Duration::from_secs(secs);
        }
        if let Some(secs) = positive(self.token_recheck_secs, "token-recheck-secs")? {
            config.token_recheck_interval = Duration::from_secs(secs);
        }
        if let Some(n) = positive(self.outbox_capacity, "outbox-capacity")? {
            config.hub.outbox_capacity = n;
        }
        if let Some(secs) = positive(self.request_body_timeout_secs, "request-body-timeout-secs")? {
            config.body_deadline.initial = Duration::from_secs(secs);
        }
        if let Some(secs) = positive(
            self.request_header_timeout_secs,
            "request-header-timeout-secs",
        )? {
            config.header_timeout = Duration::from_secs(secs);
        }
        if let Some(rate) = positive(self.request_body_min_rate, "request-body-min-rate")? {
            config.body_deadline.min_bytes_per_sec = rate;
        }
        config.secure_cookies = self.secure_cookies;
        Ok(config)
    }

    /// sled's page cache, in bytes.
    fn store_cache_bytes(&self) -> u64 {
        self.store_cache_mib.map_or(SERVER_SLED_CACHE_BYTES, |mib| {
            mib.saturating_mul(1024 * 1024)
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The backup file to create (it must not exist; relative to the current directory).
    #[arg(long, value_name = "FILE")]
    pub(crate) to: PathBuf,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup file to restore.
    #[arg(long, value_name = "FILE")]
    pub(crate) from: PathBuf,
    #[command(flatten)]
    pub(crate) data: DataArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user and print their first token (as the last line).
    Add {
        /// The user's login name.
        name: UserName,
        /// The user's organisation.
        #[arg(long)]
        org: OrgName,
        /// The user's role in it.
        #[arg(long, value_enum)]
        role: RoleArg,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the users.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue another token to a user and print it (as the last line).
    Create {
        /// The user.
        user: UserName,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token, given the token itself or its id (tok_…).
    Revoke {
        /// The token (psl_…) or its id (tok_…).
        #[arg(value_name = "TOKEN_OR_ID")]
        token: TokenRef,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// [`Role`] as a command-line value (kept here so the auth module does not depend on clap).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// Governs the organisation's documents and shares them.
    Admin,
    /// Reads and writes; creates documents.
    Editor,
    /// Reads only.
    Viewer,
    /// A peer server's link (federation): an editor that may also state who made the
    /// changes it delivers (see `peer add`).
    Peer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Editor => Role::Editor,
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Peer => Role::Peer,
        }
    }
}

impl Command {
    /// Whether this is `serve` (the only command that logs at `info` by default).
    pub(crate) fn is_serve(&self) -> bool {
        matches!(self, Command::Serve(_))
    }
}

/// Runs the command.
pub(crate) fn execute(cli: Cli) -> anyhow::Result<()> {
    let (data, command) = match cli.command {
        Command::Serve(args) => {
            // Before the runtime's threads allocate (sync/memory.rs).
            passerelle_server::sync::fix_mmap_threshold();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("could not start the async runtime")?;
            return runtime.block_on(serve(args));
        }
        Command::User(UserCommand::Add {
            name,
            org,
            role,
            data,
        }) => (
            data,
            AdminCommand::AddUser {
                name,
                org,
                role: role.into(),
            },
        ),
        Command::User(UserCommand::List { data }) => (data, AdminCommand::ListUsers),
        Command::Token(TokenCommand::Create { user, data }) => {
            (data, AdminCommand::CreateToken { user })
        }
        Command::Token(TokenCommand::Revoke { token, data }) => {
            (data, AdminCommand::RevokeToken { token })
        }
        Command::Backup(BackupArgs { to, data }) => (data, AdminCommand::Backup { to }),
        Command::Peer(command) => return peer_command(command),
        Command::Check(CheckArgs { data }) => {
            return passerelle_server::check::run_check_on(&data.store, &data.data);
        }
        Command::Restore(RestoreArgs { from, data }) => {
            let summary = if data.store.is_postgres() {
                let shown = data.store.shown(&data.data);
                let storage = data
                    .store
                    .open(&data.data, SledOptions::default())
                    .with_context(|| format!("could not open {shown}"))?;
                backup::restore_into_database(storage, &shown, &from, Progress::for_terminal())?
            } else {
                backup::restore(&data.data, &from, Progress::for_terminal())?
            };
            print!("{}", summary.render());
            return Ok(());
        }
    };
    let outcome = admin::run_admin_command_on(&data.store, &data.data, command)?;
    print!("{}", outcome.render());
    Ok(())
}

/// `peer add|list|remove|status`: files of the data directory, whether the server runs or not.
fn peer_command(command: PeerCommand) -> anyhow::Result<()> {
    use passerelle_server::federation::config::{PeerConfig, PeersFile, StatusFile};
    match command {
        PeerCommand::Add {
            url,
            token,
            name,
            offer,
            data,
        } => {
            let mut file = PeersFile::read(&data.data)?;
            let peer = PeerConfig::new(name.as_deref(), &url, &token, offer)?;
            let name = peer.name.clone();
            file.add(peer)?;
            file.write(&data.data)?;
            println!("peer {name} added");
        }
        PeerCommand::List { data } => {
            let file = PeersFile::read(&data.data)?;
            if file.peers.is_empty() {
                println!("no peers");
            }
            for peer in file.peers {
                println!("{}\t{}\toffer {}", peer.name, peer.url, peer.offer);
            }
        }
        PeerCommand::Remove { name, data } => {
            let mut file = PeersFile::read(&data.data)?;
            file.remove(&name)?;
            file.write(&data.data)?;
            println!("peer {name} removed");
        }
        PeerCommand::Status { data } => {
            let file = PeersFile::read(&data.data)?;
            let running = ServerFile::read(&data.data).ok().flatten();
            let status = StatusFile::read(&data.data)
                .filter(|status| running.as_ref().is_some_and(|r| r.pid == status.pid));
            if running.is_none() {
                println!("the server is not running: no peer is connected");
            }
            for peer in file.peers {
                let known = status.as_ref().and_then(|s| s.peers.get(&peer.name));
                let state = match known {
                    Some(s) if s.connected => "connected",
                    Some(_) => "not connected",
                    None => "not started",
                };
                let last = known
                    .and_then(|s| s.last_sync.clone())
                    .unwrap_or_else(|| "never".into());
                let behind = known.map_or(0, |s| s.behind);
                print!(
                    "{}\t{}\t{state}\tlast sync {last}\tbehind {behind}",
                    peer.name, peer.url
                );
                match known.and_then(|s| s.error.as_deref()) {
                    Some(error) if !known.is_some_and(|s| s.connected) => println!("\t{error}"),
                    _ => println!(),
                }
            }
        }
    }
    Ok(())
}

/// sled's page cache for a serving server.
const SERVER_SLED_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// `serve`: holds the store, publishes `server.json`, serves until a signal, cleans up.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let dir = args.data.data;
    let mut config = args.limits.config()?;
    // Documents are cached by the engine (within its budget); sled's own page cache only
    // needs to hold the hot index pages, and every MiB of it is resident memory.
    let options = SledOptions::default().cache_capacity(args.limits.store_cache_bytes());
    let backend = &args.data.store;
    let storage = match backend.open(&dir, options) {
        Ok(storage) => storage,
        Err(StorageError::Locked { .. }) => anyhow::bail!(
            "the data directory {} is already in use by another server{}",
            dir.display(),
            running_server_hint(&dir)
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("could not open {}", backend.shown(&dir)));
        }
    };
    if backend.is_postgres() {
        // sled creates the directory; with PostgreSQL it holds only the server's own files.
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create the data directory {}", dir.display()))?;
    }
    tracing::info!("storage: {}", backend.shown(&dir));
    if let StoreBackend::Postgres { url } = backend {
        // Other instances may serve the same database: share the changes feed with them.
        config.hub.cluster_url = Some(url.clone());
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    let secret = AdminSecret::generate();
    ServerFile {
        address,
        admin_secret: secret.clone(),
        pid: std::process::id(),
    }
    .write(&dir)
    .with_context(|| format!("could not write {}", ServerFile::path(&dir).display()))?;

    let state = AppState::new(storage, config).with_admin_secret(secret);
    let _peers = passerelle_server::federation::start(dir.clone(), &state);
    let served = passerelle_server::run(listener, state, shutdown).await;
    // The store is released when `state` is dropped inside `run`; the address file goes now,
    // even if serving failed, so that admin commands do not call a dead address.
    if let Err(e) = ServerFile::remove(&dir) {
        tracing::warn!("could not remove {}: {e}", ServerFile::path(&dir).display());
    }
    served
}

/// ` (pid N, at ADDR)` from the running server's address file, when there is one.
fn running_server_hint(dir: &Path) -> String {
    match ServerFile::read(dir) {
        Ok(Some(file)) => format!(" (pid {}, at {})", file.pid, file.address),
        _ => String::new(),
    }
}

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM (what `systemctl stop` and
/// `docker stop` send).
///
/// The handlers are installed here, before the future is first polled: until a handler is
/// installed, a signal has its default action and kills the process on the spot, so a SIGTERM
/// arriving just after `server.json` is published would leave the file behind.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("Ctrl-C received, shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received, shutting down");
            } else {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_interface() {
        let cli = Cli::try_parse_from([
            "passerelle-server",
            "user",
            "add",
            "amina",
            "--org",
            "ville-de-lille",
            "--role",
            "admin",
            "--data",
            "/tmp/x",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::User(UserCommand::Add {
                role: RoleArg::Admin,
                ..
            })
        ));
        let cli =
            Cli::try_parse_from(["passerelle-server", "serve", "--listen", "127.0.0.1:0"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        assert_eq!(args.listen, "127.0.0.1:0");
        assert!(
            Cli::try_parse_from([
                "passerelle-server",
                "user",
                "add",
                "a",
                "--org",
                "o",
                "--role",
                "boss"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["passerelle-server", "token", "revoke", "nonsense"]).is_err());
        let cli = Cli::try_parse_from(["passerelle-server", "backup", "--to", "b.pslbak"]).unwrap();
        assert!(
            matches!(cli.command, Command::Backup(BackupArgs { ref to, .. }) if to.as_os_str() == "b.pslbak")
        );
        let cli = Cli::try_parse_from([
            "passerelle-server",
            "restore",
            "--from",
            "b.pslbak",
            "--data",
            "/tmp/new",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Restore(RestoreArgs { ref from, .. }) if from.as_os_str() == "b.pslbak")
        );
        let cli = Cli::try_parse_from([
            "passerelle-server",
            "peer",
            "add",
            "https://lille.example/",
            "--token",
            "psl_x",
            "--offer",
            "lille-link",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Peer(PeerCommand::Add { ref name, ref offer, .. }) if name.is_none() && offer.as_str() == "lille-link")
        );
        // The token is required.
        assert!(
            Cli::try_parse_from([
                "passerelle-server",
                "peer",
                "add",
                "https://lille.example/",
                "--offer",
                "x"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["passerelle-server", "backup"]).is_err());
        assert!(Cli::try_parse_from(["passerelle-server", "restore"]).is_err());
        assert!(
            Cli::try_parse_from([
                "passerelle-server",
                "user",
                "add",
                " ",
                "--org",
                "o",
                "--role",
                "viewer"
            ])
            .is_err()
        );
    }
}

//! The admin commands (`user add`, `user list`, `token create`, `token revoke`, `backup`) and
//! how they reach the store whether the server is running or not.
//!
//! sled lets one process at a time open a data directory. So an admin command first tries to
//! open the store itself; if a running server holds it ([`StorageError::Locked`]), the command
//! goes through that server instead:
//!
//! 1. `serve`, once it holds the store and has bound its socket, writes
//!    `<data>/server.json` ([`ServerFile`]: the address, a fresh random [`AdminSecret`], its
//!    pid), readable by its owner only, and removes it on a clean shutdown.
//! 2. The command reads that file and sends `POST /v1/admin/command` with the secret in the
//!    [`ADMIN_SECRET_HEADER`] header, over loopback.
//! 3. The server accepts the request only from a loopback address and with the right secret
//!    (compared in constant time), runs the very same [`execute`] as the local path, and
//!    answers with the [`AdminOutcome`].
//!
//! Whoever can read the data directory can already read and change everything in it, so the
//! file grants nothing new; the loopback rule keeps the endpoint shut to the network even if
//! the secret leaked.
//!
//! `backup` through a running server: the server streams the backup in the response (as
//! [`BACKUP_CONTENT_TYPE`], the very bytes [`backup::write_backup`] writes to a file) and the
//! command writes it to its file, then reads the file back to check it whole. So the file is
//! created by the user who asked, with their permissions, where they can write, even when the
//! server's service unit may write nowhere but its data directory (systemd's
//! `ProtectSystem=strict`, `PrivateTmp=`), and the endpoint never writes a file a caller
//! names. Memory stays bounded on both sides (a small channel of chunks on the server). A
//! server that fails half way ends the response early: the check fails and the command
//! removes the file; the server's log says why. `restore` has no such path: it writes only
//! into a fresh data directory, which no server runs on.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_store::{SledOptions, Storage, StorageError};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::auth::{
    AuthError, AuthStore, BearerToken, OrgName, Refusal, Role, TokenInfo, TokenRef, User, UserName,
};
use crate::backend::StoreBackend;
use crate::backup::{self, BackupError, BackupSummary, Progress};
use crate::error::AppError;
use crate::http::AppState;

/// The header that carries the admin secret.
pub const ADMIN_SECRET_HEADER: &str = "x-passerelle-admin-secret";

/// The name of the file, in the data directory, where a running server publishes its
/// address and admin secret.
pub const SERVER_FILE_NAME: &str = "server.json";

/// How long an admin command waits for the running server.
const ADMIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The media type of a backup streamed by a running server.
pub const BACKUP_CONTENT_TYPE: &str = "application/vnd.passerelle.backup";

/// The size of the chunks a running server streams a backup in, and how many may wait in the
/// channel to the socket: at most about 1 MiB is buffered, whatever the size of the store.
const BACKUP_CHUNK_BYTES: usize = 256 * 1024;
const BACKUP_CHANNEL_CHUNKS: usize = 4;

/// The secret that authenticates admin commands sent to a running server: 32 random bytes,
/// new at every start of the server. `Debug` hides it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdminSecret(String);

impl AdminSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a known secret (tests).
    pub fn from_secret(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, to send it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time that does not depend on how much of it
    /// matches.
    fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for AdminSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminSecret(<redacted>)")
    }
}

/// One admin command, as the CLI parses it and as it travels to a running server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum AdminCommand {
    /// Create a user and their first token.
    AddUser {
        /// The new user's name.
        name: UserName,
        /// Their organisation.
        org: OrgName,
        /// Their role in it.
        role: Role,
    },
    /// List the users.
    ListUsers,
    /// Issue another token to a user.
    CreateToken {
        /// The user.
        user: UserName,
    },
    /// Revoke a token, by secret or id.
    RevokeToken {
        /// The token or its id.
        token: TokenRef,
    },
    /// Write a backup of the whole store to a new file.
    Backup {
        /// The file. It stays on this side: a running server streams the backup back, and the
        /// command writes it here.
        #[serde(skip)]
        to: PathBuf,
    },
}

impl AdminCommand {
    /// Whether the command only makes sense on an existing store (all but `user add`, which
    /// is how a new store gets its first admin).
    fn needs_existing_store(&self) -> bool {
        !matches!(self, AdminCommand::AddUser { .. })
    }

    /// How long the command may wait for a running server: a backup takes as long as the
    /// store is large, so it waits as long as the server sends (Ctrl-C stops it: the server's
    /// writes to the closed connection fail and it stops too; the partial file is refused by
    /// any restore as truncated).
    fn timeout(&self) -> Option<Duration> {
        match self {
            AdminCommand::Backup { .. } => None,
            _ => Some(ADMIN_REQUEST_TIMEOUT),
        }
    }
}

/// A user in `user list`, with the number of tokens that still work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The account.
    #[serde(flatten)]
    pub user: User,
    /// Tokens issued to the user and not revoked.
    pub active_tokens: usize,
}

/// What an admin command did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum AdminOutcome {
    /// `user add`.
    UserAdded {
        /// The new account.
        user: User,
        /// Its first token's public facts.
        token_info: TokenInfo,
        /// Its first token.
        token: BearerToken,
    },
    /// `user list`.
    Users {
        /// Every user, by name.
        users: Vec<UserSummary>,
    },
    /// `token create`.
    TokenCreated {
        /// The token's public facts.
        token_info: TokenInfo,
        /// The token.
        token: BearerToken,
    },
    /// `backup`.
    BackupWritten {
        /// The file and what it holds.
        summary: BackupSummary,
        /// Whether the running server sent it (it held the store).
        #[serde(default)]
        by_running_server: bool,
    },
    /// `token revoke`.
    TokenRevoked {
        /// The revoked token's public facts.
        token_info: TokenInfo,
    },
}

impl AdminOutcome {
    /// The text shown to the person who ran the command. When a token was issued it is the
    /// last line, alone, so scripts can take it with `tail -n 1`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = match self {
            AdminOutcome::UserAdded {
                user,
                token_info,
                token,
            } => writeln!(
                out,
                "created user {} (organisation {}, role {})\n\
                 token {} for {}; it is shown only now, keep it safe:\n{}",
                user.name,
                user.org,
                user.role,
                token_info.id,
                user.name,
                token.expose_secret()
            ),
            AdminOutcome::Users { users } if users.is_empty() => writeln!(
                out,
                "no users yet; create the first with: \
                 passerelle-server user add NAME --org ORG --role admin"
            ),
            AdminOutcome::Users { users } => {
                let width = |f: fn(&UserSummary) -> usize, title: &str| {
                    users.iter().map(f).max().unwrap_or(0).max(title.len())
                };
                let name_w = width(|u| u.user.name.as_str().chars().count(), "NAME");
                let org_w = width(|u| u.user.org.as_str().chars().count(), "ORGANISATION");
                let _ = writeln!(
                    out,
                    "{:name_w$}  {:org_w$}  {:6}  {:6}  CREATED",
                    "NAME", "ORGANISATION", "ROLE", "TOKENS"
                );
                for u in users {
                    let _ = writeln!(
                        out,
                        "{:name_w$}  {:org_w$}  {:6}  {:6}  {}",
                        u.user.name.as_str(),
                        u.user.org.as_str(),
                        u.user.role.as_str(),
                        u.active_tokens,
                        u.user.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                    );
                }
                Ok(())
            }
            AdminOutcome::TokenCreated { token_info, token } => writeln!(
                out,
                "token {} for {}; it is shown only now, keep it safe:\n{}",
                token_info.id,
                token_info.user,
                token.expose_secret()
            ),
            AdminOutcome::TokenRevoked { token_info } => writeln!(
                out,
                "token {} of {} is revoked; it no longer signs in, and open connections using \
                 it are closed at their next check",
                token_info.id, token_info.user
            ),
            AdminOutcome::BackupWritten {
                summary,
                by_running_server,
            } => {
                if *by_running_server {
                    let _ = writeln!(
                        out,
                        "the running server holds the data directory; it sent the backup"
                    );
                }
                write!(out, "{}", summary.render())
            }
        };
        out
    }

    /// A line for the server's log: what happened, without any secret.
    fn log_line(&self) -> String {
        match self {
            AdminOutcome::UserAdded {
                user, token_info, ..
            } => format!(
                "added user {} (organisation {}, role {}) with token {}",
                user.name, user.org, user.role, token_info.id
            ),
            AdminOutcome::Users { users } => format!("listed {} users", users.len()),
            AdminOutcome::TokenCreated { token_info, .. } => {
                format!("created token {} for {}", token_info.id, token_info.user)
            }
            AdminOutcome::TokenRevoked { token_info } => {
                format!("revoked token {} of {}", token_info.id, token_info.user)
            }
            AdminOutcome::BackupWritten { summary, .. } => format!(
                "wrote a backup to {} ({} records, {} documents, {} bytes)",
                summary.path.display(),
                summary.counts.records,
                summary.counts.documents,
                summary.file_bytes
            ),
        }
    }
}

/// Why [`execute`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The auth store failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The backup was not written.
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// Runs `command` on `storage` (whose users and tokens `auth` keeps). Blocking (storage); the
/// same code serves the local path and the admin endpoint, so a command behaves the same
/// whether the server is running or not. `progress` is where a long backup reports.
pub fn execute(
    storage: &dyn Storage,
    auth: &AuthStore,
    command: AdminCommand,
    progress: Progress,
) -> Result<Result<AdminOutcome, Refusal>, ExecuteError> {
    Ok(match command {
        AdminCommand::AddUser { name, org, role } => {
            auth.add_user(&name, &org, role)?
                .map(|new| AdminOutcome::UserAdded {
                    user: new.user,
                    token_info: new.token.info,
                    token: new.token.token,
                })
        }
        AdminCommand::ListUsers => {
            let users = auth.list_users()?;
            let tokens = auth.list_tokens(None)?;
            let users = users
                .into_iter()
                .map(|user| UserSummary {
                    active_tokens: tokens
                        .iter()
                        .filter(|t| t.user == user.name && !t.is_revoked())
                        .count(),
                    user,
                })
                .collect();
            Ok(AdminOutcome::Users { users })
        }
        AdminCommand::CreateToken { user } => {
            auth.create_token(&user)?
                .map(|issued| AdminOutcome::TokenCreated {
                    token_info: issued.info,
                    token: issued.token,
                })
        }
        AdminCommand::RevokeToken { token } => auth
            .revoke_token(&token)?
            .map(|token_info| AdminOutcome::TokenRevoked { token_info }),
        AdminCommand::Backup { to } => Ok(AdminOutcome::BackupWritten {
            summary: backup::backup_to_file(storage, &to, progress)?,
            by_running_server: false,
        }),
    })
}

/// `POST /v1/admin/command`: an [`AdminCommand`] from the CLI on this machine. Answers with
/// the [`AdminOutcome`] as JSON, or, for `backup`, with the backup itself.
pub(crate) async fn admin_command(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, AppError> {
    let Some(secret) = state.admin_secret.clone() else {
        return Err(AppError::NotFound("no such route".to_owned()));
    };
    // The address comes from the accepted socket, not from a header a proxy could forge.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address);
    if !peer.is_some_and(|address| address.ip().to_canonical().is_loopback()) {
        tracing::warn!(?peer, "admin command refused: not from loopback");
        return Err(AppError::Forbidden(
            "admin commands are accepted only from this machine".to_owned(),
        ));
    }
    let presented = request
        .headers()
        .get(ADMIN_SECRET_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !secret.matches(presented) {
        tracing::warn!("admin command refused: missing or wrong admin secret");
        return Err(AppError::Forbidden(
            "missing or wrong admin secret".to_owned(),
        ));
    }
    let limit = state.config.max_request_body_bytes;
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| AppError::BadRequest(format!("the body is over {limit} bytes")))?;
    let command: AdminCommand = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("not an admin command: {e}")))?;
    if let AdminCommand::Backup { .. } = command {
        return Ok(stream_backup(Arc::clone(&state.storage)));
    }
    let auth = Arc::clone(&state.auth);
    let storage = Arc::clone(&state.storage);
    let executed =
        crate::spawn_blocking(move || execute(storage.as_ref(), &auth, command, Progress::Log))
            .await?;
    let outcome = match executed {
        Ok(outcome) => outcome?,
        Err(ExecuteError::Auth(error)) => return Err(error.into()),
        Err(ExecuteError::Backup(error)) => return Err(AppError::internal(error)),
    };
    tracing::info!("admin: {}", outcome.log_line());
    Ok(Json(outcome).into_response())
}

/// The response to `backup`: the backup, written on a blocking thread into a small channel
/// that the response body drains. A failure ends the body early, so the command's check of
/// the file fails; a command that goes away stops the backup (its writes fail).
fn stream_backup(storage: Arc<dyn Storage>) -> Response {
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<io::Result<Bytes>>(BACKUP_CHANNEL_CHUNKS);
    crate::spawn_blocking(move || {
        let mut out = ChannelWriter {
            sender: sender.clone(),
            buffer: Vec::with_capacity(BACKUP_CHUNK_BYTES),
        };
        match backup::write_backup(storage.as_ref(), &mut out, Progress::Log) {
            Ok(written) => tracing::info!(
                "admin: sent a backup ({} records, {} documents, {} users, {} bytes)",
                written.counts.records,
                written.counts.documents,
                written.counts.users,
                written.bytes
            ),
            Err(error) => {
                tracing::error!("admin: the backup failed: {error}");
                let _ = sender.blocking_send(Err(io::Error::other(error.to_string())));
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |context| receiver.poll_recv(context));
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(BACKUP_CONTENT_TYPE),
    );
    response
}

/// A writer that sends what it is given, in chunks, to a response body.
struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(BACKUP_CHUNK_BYTES),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the backup command went away (the connection closed)",
            )
        })
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BACKUP_CHUNK_BYTES - self.buffer.len();
        let n = buf.len().min(room);
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() >= BACKUP_CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

/// What a running server publishes in `<data>/server.json` for the admin commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerFile {
    /// The address the server is bound to.
    pub address: SocketAddr,
    /// The secret the admin endpoint accepts.
    pub admin_secret: AdminSecret,
    /// The server's process id, to tell a person which process holds the directory.
    pub pid: u32,
}

/// Writes `name` in `dir` readable and writable by the owner only (0600), atomically: written
/// beside, synced, then renamed, so a reader never sees half of it.
pub(crate) fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!("{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    // `mode` applies only when the file is created; a leftover from a crash keeps its old
    // mode, so set it again.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))
}

impl ServerFile {
    /// Where the file of the server using `data_dir` is.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(SERVER_FILE_NAME)
    }

    /// Writes the file into `data_dir`: readable and writable by the owner only, and
    /// atomically (written beside, then renamed), so a reader never sees half of it.
    pub fn write(&self, data_dir: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        write_private(data_dir, SERVER_FILE_NAME, &bytes)
    }

    /// Reads the file of the server using `data_dir`; `Ok(None)` if there is none.
    pub fn read(data_dir: &Path) -> Result<Option<Self>, AdminCommandError> {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| AdminCommandError::ServerFileInvalid { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AdminCommandError::ServerFileUnreadable { path, source }),
        }
    }

    /// Removes the file from `data_dir` (no error if it is already gone).
    pub fn remove(data_dir: &Path) -> io::Result<()> {
        match std::fs::remove_file(Self::path(data_dir)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The address to connect to: a server bound to every interface (`0.0.0.0`, `::`) is
    /// reached over loopback, the only place it accepts admin commands from.
    fn connect_address(&self) -> SocketAddr {
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.address.port())
    }
}

/// Why an admin command did not run. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AdminCommandError {
    /// The data directory does not exist (and the command is not the one that creates it).
    #[error(
        "there is no data directory at {} (create it and its first user with \
         `passerelle-server user add NAME --org ORG --role admin --data DIR`)",
        dir.display()
    )]
    NoDataDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// The PostgreSQL database could not be opened.
    #[error("could not open {shown}: {source}")]
    OpenDatabase {
        /// The database, as [`StoreBackend::shown`] says it (no password).
        shown: String,
        /// What went wrong.
        source: StorageError,
    },
    /// The store could not be opened, for another reason than a running server.
    #[error("could not open the data directory {}: {source}", dir.display())]
    OpenStore {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        source: StorageError,
    },
    /// The store failed while running the command.
    #[error("the data store failed: {0}")]
    Store(#[from] AuthError),
    /// The backup was not written.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The command was refused (the user exists, the token is unknown, …).
    #[error("{0}")]
    Refused(String),
    /// The store is held by a process that published no address.
    #[error(
        "the data directory {} is in use by a running server, but its address file {} is \
         missing (if the server is starting, try again in a moment; otherwise stop the process \
         that holds the directory)",
        dir.display(),
        ServerFile::path(dir).display()
    )]
    ServerFileMissing {
        /// The directory.
        dir: PathBuf,
    },
    /// The address file exists but cannot be read.
    #[error("could not read the running server's address file {}: {source}", path.display())]
    ServerFileUnreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The address file does not hold what a server writes.
    #[error("the running server's address file {} is not valid: {source}", path.display())]
    ServerFileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: serde_json::Error,
    },
    /// The running server did not answer.
    #[error(
        "the data directory is in use by a running server (pid {pid}), but it does not answer \
         at {address}: {reason}"
    )]
    ServerUnreachable {
        /// Where it was called.
        address: SocketAddr,
        /// Its pid, from the address file.
        pid: u32,
        /// What went wrong, with its causes.
        reason: String,
    },
    /// The running server answered with an error of its own.
    #[error("the running server at {address} failed ({status}): {message}; see its log")]
    ServerFailed {
        /// Where it was called.
        address: SocketAddr,
        /// The HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
}

/// Runs `command` on the store in `data_dir`: directly if no server holds the store, through
/// the running server otherwise. Blocking; call it from a program without an async runtime
/// (the HTTP client it uses runs one of its own).
pub fn run_admin_command(
    data_dir: &Path,
    command: AdminCommand,
) -> Result<AdminOutcome, AdminCommandError> {
    run_admin_command_on(&StoreBackend::Sled, data_dir, command)
}

/// [`run_admin_command`] on the chosen backend. On sled, as there; on PostgreSQL, always
/// directly on the database, running servers or not: several processes may use it at once,
/// and a running server reads users and tokens from the database at each check, and hears
/// of every write of access rules (a trigger notifies it), so it sees the change at once.
pub fn run_admin_command_on(
    backend: &StoreBackend,
    data_dir: &Path,
    command: AdminCommand,
) -> Result<AdminOutcome, AdminCommandError> {
    if command.needs_existing_store() && !backend.is_postgres() && !data_dir.exists() {
        return Err(AdminCommandError::NoDataDirectory {
            dir: data_dir.to_path_buf(),
        });
    }
    let command = match command {
        AdminCommand::Backup { to } => AdminCommand::Backup {
            to: backup::backup_target(data_dir, &to)?,
        },
        other => other,
    };
    match backend.open(data_dir, SledOptions::default()) {
        Ok(storage) => {
            // The command may change what callers can see while no feed hears of it: the
            // next start draws a new feed epoch, and every client compares once.
            crate::sync::discard_saved(storage.as_ref()).map_err(AuthError::from)?;
            let auth = AuthStore::new(Arc::clone(&storage));
            let outcome = match execute(storage.as_ref(), &auth, command, Progress::for_terminal())
            {
                Ok(outcome) => outcome,
                Err(ExecuteError::Auth(error)) => return Err(error.into()),
                Err(ExecuteError::Backup(error)) => return Err(error.into()),
            };
            outcome.map_err(|refusal| AdminCommandError::Refused(refusal.to_string()))
        }
        Err(StorageError::Locked { .. }) => {
            if matches!(command, AdminCommand::Backup { .. })
                && Progress::for_terminal() == Progress::Stderr
            {
                eprintln!(
                    "a running server holds {}: it sends the backup (its progress is in its log)",
                    data_dir.display()
                );
            }
            send_to_running_server(data_dir, &command)
        }
        Err(source) if backend.is_postgres() => Err(AdminCommandError::OpenDatabase {
            shown: backend.shown(data_dir),
            source,
        }),
        Err(source) => Err(AdminCommandError::OpenStore {
            dir: data_dir.to_path_buf(),
            source,
        }),
    }
}

/// The body of an error response.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

fn send_to_running_server(
    data_dir: &Path,
    command: &AdminCommand,
) -> Result<AdminOutcome, AdminCommandError> {
    let Some(server) = ServerFile::read(data_dir)? else {
        return Err(AdminCommandError::ServerFileMissing {
            dir: data_dir.to_path_buf(),
        });
    };
    let address = server.connect_address();
    let unreachable = |error: reqwest::Error| AdminCommandError::ServerUnreachable {
        address,
        pid: server.pid,
        reason: error_chain(&error),
    };
    // No proxy: the secret must go straight to the loopback address, never through an
    // `HTTP_PROXY` the environment happens to set.
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(ADMIN_REQUEST_TIMEOUT)
        .timeout(command.timeout())
        .no_proxy()
        .build()
        .map_err(unreachable)?;
    // The backup's file is created before the request, so that a name taken or a directory
    // not writable is said before the server does any work.
    let backup_file = match command {
        AdminCommand::Backup { to } => Some((backup::create_backup_file(to)?, to)),
        _ => None,
    };
    let sent = client
        .post(format!("http://{address}/v1/admin/command"))
        .header(ADMIN_SECRET_HEADER, server.admin_secret.expose_secret())
        .json(command)
        .send();
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => {
            if let Some((_, path)) = &backup_file {
                let _ = std::fs::remove_file(path);
            }
            return Err(unreachable(error));
        }
    };
    let status = response.status();
    if let Some((file, path)) = backup_file {
        if status.is_success() {
            let summary =
                backup::receive_backup(&mut response, file, path, Progress::for_terminal())?;
            return Ok(AdminOutcome::BackupWritten {
                summary,
                by_running_server: true,
            });
        }
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    let bytes = response.bytes().map_err(unreachable)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| AdminCommandError::ServerFailed {
            address,
            status: status.as_u16(),
            message: format!("unreadable answer: {e}"),
        });
    }
    let message = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|body| body.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
    if status.is_client_error() {
        Err(AdminCommandError::Refused(message))
    } else {
        Err(AdminCommandError::ServerFailed {
            address,
            status: status.as_u16(),
            message,
        })
    }
}

/// An error and its causes on one line: reqwest's own message ("error sending request")
/// hides the useful part ("connection refused") in its sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

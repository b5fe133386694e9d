//! The HTTP surface: [`AppState`], the router ([`app`]), the server loop ([`run`]) and the
//! [`Authenticated`] extractor.
//!
//! Routes:
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /healthz` | anyone | `{"status": "ok", "version": …}`, for load balancers and scripts |
//! | `GET /v1/whoami` | a user with a token | the [`Principal`] the token signs in as |
//! | `POST /v1/admin/command` | the admin commands, over loopback, with the admin secret | see [`crate::admin`] |
//! | `/`, `/doc/{id}`, `/live`, … | people, signed in with their token | the web pages (`crate::web`, `passerelle_web`) |
//!
//! The sync endpoints are added to [`app`] next to these.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts, Query};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use passerelle_store::Storage;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::admin::{self, AdminSecret};
use crate::auth::{AuthStore, BearerToken, Principal};
use crate::error::AppError;
use crate::sync::{HubConfig, SyncState};

/// Limits and timings of the server. `Default` gives the values used in production; tests
/// lower them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The largest HTTP request body accepted (admin commands are a few hundred bytes).
    pub max_request_body_bytes: usize,
    /// The largest WebSocket message a peer may send. A sync message carrying a whole
    /// document made offline over days can be large, but an unbounded one lets any client
    /// exhaust the server's memory.
    pub max_message_bytes: usize,
    /// How often an open connection checks its token again, so that a revocation (or a
    /// deleted user) also cuts connections that were authenticated before it.
    pub token_recheck_interval: Duration,
    /// The sync hub's settings: memory budget, eviction, outbox sizes.
    pub hub: HubConfig,
    /// How long a request body may take to arrive (slow uploads).
    pub body_deadline: crate::body_deadline::BodyDeadline,
    /// How long a request's headers may take to arrive, from the connection opening or its
    /// previous request ending; then the connection is closed ([`crate::listen`]).
    pub header_timeout: Duration,
    /// Mark the web pages' cookies `Secure` (the server is reached over https, e.g. behind
    /// a reverse proxy): `serve --secure-cookies`.
    pub secure_cookies: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 64 * 1024,
            max_message_bytes: 64 * 1024 * 1024,
            token_recheck_interval: Duration::from_secs(30),
            hub: HubConfig::default(),
            body_deadline: crate::body_deadline::BodyDeadline::default(),
            header_timeout: Duration::from_secs(30),
            secure_cookies: false,
        }
    }
}

/// Everything a handler can reach. Cheap to clone (a few `Arc`s), as axum clones it into
/// every request.
#[derive(Clone)]
pub struct AppState {
    /// Users, tokens, ACLs, authorship.
    pub(crate) auth: Arc<AuthStore>,
    /// The store that documents live in (shared with `auth`, which uses its own keys).
    pub(crate) storage: Arc<dyn Storage>,
    /// Limits and timings.
    pub(crate) config: Arc<ServerConfig>,
    /// The secret of the admin endpoint; `None` turns the endpoint off (404), as in tests
    /// and embedded servers that have no data directory to publish it in.
    pub(crate) admin_secret: Option<Arc<AdminSecret>>,
    /// The sync engine's hub, the changes feed and the metrics.
    pub(crate) sync: SyncState,
    /// The web pages' view of the documents (`crate::web`).
    pub(crate) pages: Arc<crate::web::ServerPages>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("admin_endpoint", &self.admin_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server over `storage`, with the admin endpoint off. Starts the sync
    /// hub, so it must be called inside a tokio runtime.
    pub fn new(storage: Arc<dyn Storage>, config: ServerConfig) -> Self {
        let auth = Arc::new(AuthStore::new(Arc::clone(&storage)));
        let sync = SyncState::start(Arc::clone(&storage), Arc::clone(&auth), config.hub.clone());
        let pages = crate::web::ServerPages::start(Arc::clone(&auth), sync.clone());
        Self {
            pages,
            auth,
            storage,
            config: Arc::new(config),
            admin_secret: None,
            sync,
        }
    }

    /// The sync state: hub, changes feed, metrics.
    pub fn sync(&self) -> &SyncState {
        &self.sync
    }

    /// Turns the admin endpoint on, accepting `secret`.
    pub fn with_admin_secret(mut self, secret: AdminSecret) -> Self {
        self.admin_secret = Some(Arc::new(secret));
        self
    }

    /// The auth store.
    pub fn auth(&self) -> &Arc<AuthStore> {
        &self.auth
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The limits and timings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
}

/// The router of the whole server. Takes no socket, so tests drive it with
/// `tower::ServiceExt::oneshot`.
///
/// The admin route needs the peer's address: serve the router with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`run`] does), or the admin
/// endpoint refuses every request.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.max_request_body_bytes;
    let body_deadline = state.config.body_deadline;
    let pages = passerelle_web::router(
        Arc::clone(&state.pages),
        passerelle_web::WebOptions::server().with_secure_cookies(state.config.secure_cookies),
    );
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/whoami", get(whoami))
        .route("/ws", get(crate::sync::websocket::websocket))
        .route("/metrics", get(metrics))
        .merge(batch_routes(state.config.max_message_bytes))
        .merge(crate::docs_http::routes())
        .route("/v1/admin/command", post(admin::admin_command))
        .fallback(not_found)
        .layer(axum::middleware::map_response(
            crate::error::json_client_errors,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        // The web pages (`/`, `/doc/…`, `/live`, …): HTML, with their own body limits and
        // error pages.
        .merge(pages)
        // Outermost, so that every body (the pages' forms too) has its deadline.
        .layer(axum::middleware::from_fn_with_state(
            body_deadline,
            crate::body_deadline::limit_body_time,
        ))
}

/// Serves [`app`] on `listener` until `shutdown` completes, then waits for the open requests
/// to finish. Logs the bound address, which is the way to learn it after binding port 0.
///
/// Graceful shutdown waits for every connection, so long-lived ones (WebSockets) must be told
/// to close when `shutdown` fires. Connections are accepted by [`crate::listen`].
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    if let Some(cluster) = &state.sync.cluster
        && !cluster.ready(Duration::from_secs(10)).await
    {
        tracing::warn!(
            "the shared changes feed is not loaded yet (is the database reachable?); serving \
             anyway: cursors get `reset` until it is"
        );
    }
    tracing::info!("listening on {address}");
    let sync = state.sync.clone();
    let storage = Arc::clone(state.storage());
    let closing = Arc::clone(&sync.closing);
    // When shutdown is asked for, open WebSockets are told to close too: axum's graceful
    // shutdown waits for every connection.
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let header_timeout = state.config.header_timeout;
    crate::listen::serve(listener, app(state), header_timeout, shutdown).await;
    // Everything acknowledged is already flushed; wait for writes still in progress.
    sync.hub.drain().await;
    if let Some(cluster) = &sync.cluster {
        // The shared feed lives in the database: publish what is left, leave the cluster.
        cluster.shutdown(Duration::from_secs(10)).await;
    }
    // Keep the changes feed for the next start, so that clients keep their cursors.
    let feed = Arc::clone(&sync.feed);
    match sync.blocking(move || feed.save(storage.as_ref())).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!("could not save the changes feed: {error}"),
        Err(error) => tracing::warn!("could not save the changes feed: {error}"),
    }
    tracing::info!("server stopped");
    Ok(())
}

/// The batch-sync routes. Their replies are gzip-compressed for clients that accept it:
/// Automerge changes sent one by one compress well together (a day of offline work: ~4x).
/// Request bodies may be gzip-compressed too (`Content-Encoding: gzip`); the body limit
/// applies to the decompressed bytes, so a gzip bomb gets 413 after `max_body` bytes.
fn batch_routes(max_body: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/v1/sync",
            post(crate::sync::batch_http::batch_sync)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(max_body))
                .layer(tower_http::decompression::RequestDecompressionLayer::new()),
        )
        .route("/v1/changes", get(crate::sync::batch_http::changes))
        .layer(tower_http::compression::CompressionLayer::new())
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> String {
    let docs = Arc::clone(&state.sync.docs);
    let stored = crate::spawn_blocking(move || docs.count_documents())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    state.sync.metrics.render(stored as u64)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn whoami(Authenticated(principal): Authenticated) -> Json<Principal> {
    Json(principal)
}

async fn not_found() -> AppError {
    AppError::NotFound("no such route".to_owned())
}

/// Extracts the [`Principal`] of a request from its bearer token, taken from the
/// `Authorization: Bearer <token>` header or, for clients that cannot set headers (browsers
/// opening a WebSocket), from the `?token=<token>` query parameter. The header wins when both
/// are present.
///
/// Rejects with 401 and `{"error": …}` when the token is missing, malformed, unknown or
/// revoked (without saying which of the last three: that would help guessing).
///
/// A token in a URL can end up in access logs and browser history: the server logs no URLs,
/// and clients that can send headers should.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// Like [`Authenticated`], and also keeps the token itself, for long-lived connections that
/// check it again every [`ServerConfig::token_recheck_interval`] with
/// [`AuthStore::check_token`].
#[derive(Debug, Clone)]
pub struct AuthenticatedToken {
    /// Who the token signs in as.
    pub principal: Principal,
    /// The token, to check again later.
    pub token: BearerToken,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The token a request presents, if any.
fn presented_token(parts: &Parts) -> Result<Option<String>, AppError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok().unwrap_or_default();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AppError::Unauthorized(
                "the Authorization header must be `Bearer <token>`".to_owned(),
            ));
        }
        return Ok(Some(token.trim().to_owned()));
    }
    // An unparseable query string simply holds no token.
    let query = Query::<TokenQuery>::try_from_uri(&parts.uri).ok();
    Ok(query.and_then(|Query(q)| q.token).filter(|t| !t.is_empty()))
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<AuthenticatedToken, AppError> {
    let Some(token) = presented_token(parts)? else {
        return Err(AppError::Unauthorized(
            "missing token: send `Authorization: Bearer <token>` or `?token=<token>`".to_owned(),
        ));
    };
    let auth = Arc::clone(&state.auth);
    let token = BearerToken::from_secret(token);
    let checked = token.clone();
    // Two storage reads: blocking work, kept off the async threads.
    let principal = state
        .sync
        .blocking(move || auth.check_token(checked.expose_secret()))
        .await??;
    match principal {
        Some(principal) => Ok(AuthenticatedToken { principal, token }),
        None => Err(AppError::Unauthorized(
            "invalid or revoked token".to_owned(),
        )),
    }
}

impl<S> FromRequestParts<S> for AuthenticatedToken
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        authenticate(parts, &AppState::from_ref(state)).await
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthenticatedToken { principal, .. } =
            authenticate(parts, &AppState::from_ref(state)).await?;
        Ok(Authenticated(principal))
    }
}

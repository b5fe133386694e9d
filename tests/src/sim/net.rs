//! The simulated network's software: the real server's router served by hyper over turmoil
//! TCP, and each client host driving its [`Replica`]'s sync passes step by step
//! ([`SyncPass`](passerelle_client::SyncPass)), their requests made with hyper over turmoil
//! TCP, so that every client syncs whenever it likes, concurrently with the others.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use passerelle_client::{
    ChangesPage, ClientError, Replica, SyncAnswer, SyncCall, SyncOptions, SyncReport, SyncStep,
};
use passerelle_server::{AppState, ServerConfig};
use passerelle_store::Storage;
use tokio::sync::Notify;

use super::storage::CrashStorage;

/// The server's host name and port in the simulated network.
pub(crate) const SERVER_HOST: &str = "server";
pub(crate) const SERVER_PORT: u16 = 80;
/// How long a client waits for one answer (simulated time) before it gives up: a lost
/// segment stalls a turmoil TCP stream for good, as a dead connection would.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);

/// The server's software, started again by turmoil after each crash: a fresh [`AppState`]
/// (hub, engine, feed) over the same [`CrashStorage`], with inline storage and a seed that
/// differs per start.
pub(crate) async fn serve(
    storage: Arc<CrashStorage>,
    seed: u64,
    starts: Rc<Cell<u64>>,
) -> turmoil::Result {
    starts.set(starts.get() + 1);
    let mut config = ServerConfig::default();
    config.hub.inline_storage = true;
    config.hub.seed = Some(super::mix(seed, 0x5e_7e_e7 + starts.get()));
    let state = AppState::new(storage as Arc<dyn Storage>, config);
    let router = passerelle_server::app(state);
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", SERVER_PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(router.clone());
        tokio::task::spawn_local(async move {
            // A connection cut by the network ends here; the client retries.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One HTTP request a replica wants made.
#[derive(Debug, Clone)]
struct Request {
    post: bool,
    path: String,
    body: Vec<u8>,
}

/// A client host's state, shared between its software (inside the simulation) and the
/// driver of the run (outside, between ticks): the replica, which the driver edits and the
/// host's sync passes use, and the passes asked for and finished.
pub(crate) struct ClientHost {
    /// The replica; `None` only while the client restarts.
    pub(crate) replica: RefCell<Option<Replica>>,
    /// A pass was asked for and has not ended.
    syncing: Cell<bool>,
    /// The host is to start a pass.
    start: Cell<bool>,
    wake: Notify,
    /// The outcome of the last pass, until the driver takes it.
    finished: RefCell<Option<Result<SyncReport, ClientError>>>,
    options: SyncOptions,
}

impl ClientHost {
    pub(crate) fn new(options: SyncOptions) -> Self {
        Self {
            replica: RefCell::new(None),
            syncing: Cell::new(false),
            start: Cell::new(false),
            wake: Notify::new(),
            finished: RefCell::new(None),
            options,
        }
    }

    /// Whether a pass is running (or about to).
    pub(crate) fn is_syncing(&self) -> bool {
        self.syncing.get()
    }

    /// Asks the host for a pass; `false` when one is running already.
    pub(crate) fn start_pass(&self) -> bool {
        if self.syncing.replace(true) {
            return false;
        }
        self.start.set(true);
        self.wake.notify_one();
        true
    }

    /// The outcome of the pass that ended since the last call, if one did.
    pub(crate) fn take_finished(&self) -> Option<Result<SyncReport, ClientError>> {
        self.finished.borrow_mut().take()
    }

    /// The host crashed: its pass, if any, is gone with it.
    pub(crate) fn forget_pass(&self) {
        self.syncing.set(false);
        self.start.set(false);
        *self.finished.borrow_mut() = None;
    }
}

/// The server's URL, for messages.
pub(crate) const SERVER_URL: &str = "http://server/";

/// A client host's software: runs each pass asked for, each request over the simulated
/// network with a timeout, the replica lent to the pass between requests only (so the
/// driver's edits land between them).
pub(crate) async fn client(host: Rc<ClientHost>, token: String) -> turmoil::Result {
    loop {
        if !host.start.replace(false) {
            host.wake.notified().await;
            continue;
        }
        let outcome = pass(&host, &token).await;
        *host.finished.borrow_mut() = Some(outcome);
        host.syncing.set(false);
    }
}

/// One sync pass through the replica's step API.
async fn pass(host: &ClientHost, token: &str) -> Result<SyncReport, ClientError> {
    let mut pass = lend(host, |replica| {
        replica.begin_sync(SERVER_URL, &host.options)
    })?;
    loop {
        match lend(host, |replica| pass.step(replica, &mut |_| {}))? {
            SyncStep::Call(call) => {
                let answer = match call {
                    SyncCall::Changes { since } => SyncAnswer::Changes(changes(since, token).await),
                    SyncCall::Sync { body } => {
                        let sync = Request {
                            post: true,
                            path: "/v1/sync".to_owned(),
                            body,
                        };
                        SyncAnswer::Sync(request(sync, token).await)
                    }
                };
                lend(host, |replica| pass.answer(replica, answer, &mut |_| {}))?;
            }
            SyncStep::Wait(delay) => tokio::time::sleep(delay).await,
            SyncStep::Done(report) => return Ok(report),
        }
    }
}

/// Lends the replica to `f`, never across an `await`: the driver edits it between ticks.
fn lend<T>(
    host: &ClientHost,
    f: impl FnOnce(&mut Replica) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let mut replica = host.replica.borrow_mut();
    f(replica
        .as_mut()
        .expect("a running client host has its replica"))
}

async fn changes(since: Option<String>, token: &str) -> Result<ChangesPage, ClientError> {
    let mut path = "/v1/changes?wait=0".to_owned();
    if let Some(since) = since {
        path.push_str("&since=");
        path.push_str(&since);
    }
    let body = request(
        Request {
            post: false,
            path,
            body: Vec::new(),
        },
        token,
    )
    .await?;
    let mut page: ChangesPage =
        serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse {
            server: SERVER_URL.to_owned(),
            reason: e.to_string(),
        })?;
    page.wire_bytes = body.len();
    Ok(page)
}

/// One request with its timeout, its status turned into the client's errors as the real
/// transport does.
async fn request(request: Request, token: &str) -> Result<Vec<u8>, ClientError> {
    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, call(&request, token)).await {
        Ok(answer) => answer,
        Err(_) => Err("timed out".to_owned()),
    };
    match answer {
        Ok((status, body)) if (200..300).contains(&status) => Ok(body),
        Ok((401, _)) => Err(ClientError::TokenRefused {
            server: SERVER_URL.to_owned(),
        }),
        Ok((status, body)) => Err(ClientError::Server {
            server: SERVER_URL.to_owned(),
            status,
            message: String::from_utf8_lossy(&body).into_owned(),
        }),
        Err(reason) => Err(ClientError::Unreachable {
            server: SERVER_URL.to_owned(),
            reason,
        }),
    }
}

/// One request over a new connection to the server.
async fn call(request: &Request, token: &str) -> Result<(u16, Vec<u8>), String> {
    let stream = turmoil::net::TcpStream::connect((SERVER_HOST, SERVER_PORT))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let connection = tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    let mut builder = hyper::Request::builder()
        .method(if request.post { "POST" } else { "GET" })
        .uri(&request.path)
        .header(HOST, SERVER_HOST)
        .header(AUTHORIZATION, format!("Bearer {token}"));
    let mut body = request.body.clone();
    if request.post {
        builder = builder.header(CONTENT_TYPE, "application/cbor");
        // As the real transport does: bodies of 1 KiB or more go gzip'd, so the server's
        // decompression layer is on the simulated path too.
        if body.len() >= 1024 {
            body = gzip(&body);
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
    }
    let http_request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let result = async {
        let response = sender
            .send_request(http_request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, body.to_vec()))
    }
    .await;
    connection.abort();
    result
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

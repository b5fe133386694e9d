//! [`Transport`]: how a replica reaches the server's batch sync endpoints, and
//! [`HttpTransport`], the real one over reqwest.
//!
//! The sync code ([`Replica::sync`](crate::Replica::sync)) sees the server only through the
//! two calls of [`Transport`], so tests run it against a transport that drops requests,
//! loses responses after the server acted on them, cuts bodies short or counts bytes, and a
//! simulated network can be plugged in the same way.
//!
//! # Why blocking
//! The replica is synchronous by design (sled is blocking, and every edit waits for its
//! flush), the CLI is a short-lived program that does one thing at a time, and a sync pass is
//! a sequence of dependent requests (feed, then batches, each applied before the next is
//! built). An async transport would need a runtime in every command and `spawn_blocking`
//! around every storage call, and buy no concurrency the protocol can use: one batch per
//! round trip is the whole point of `POST /v1/sync`. `reqwest::blocking` runs its own small
//! runtime on a thread of its own; the long-poll of the live loop runs on a thread too (see
//! [`SyncLoop`](crate::SyncLoop)).

use std::io::Read as _;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;

use crate::{ClientError, ServerConfig};

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one `POST /v1/sync` may take in all. Batches are sized so that one finishes in
/// well under this on a slow link (256 KiB at 2 KB/s is about two minutes).
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// Added to a long-poll's wait for the request's own time.
const CHANGES_GRACE: Duration = Duration::from_secs(30);
/// The largest response body read; a larger one is refused rather than exhausting memory.
const MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;
/// Request bodies smaller than this are sent as they are (gzip would save a few bytes).
const GZIP_MIN_BYTES: usize = 1024;
/// The timeout of the reachability check of `passerelle status`.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The two calls the sync code makes to the server. Both are safe to repeat.
pub trait Transport {
    /// The server's URL, for messages.
    fn server(&self) -> String;

    /// `GET /v1/changes?since=CURSOR&wait=SECONDS`: which documents changed since the cursor
    /// (all of them, on reset). With a non-zero `wait`, the server holds the request until
    /// something changes or the wait is over.
    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError>;

    /// `POST /v1/sync` with a CBOR [`SyncRequest`](passerelle_core::batch::SyncRequest);
    /// returns the CBOR response body.
    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError>;
}

impl<T: Transport + ?Sized> Transport for &T {
    fn server(&self) -> String {
        (**self).server()
    }
    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        (**self).changes(since, wait)
    }
    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        (**self).sync(body)
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn server(&self) -> String {
        (**self).server()
    }
    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        (**self).changes(since, wait)
    }
    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        (**self).sync(body)
    }
}

/// The answer of `GET /v1/changes` (the server's `ChangesResponse`, redefined here so the
/// client does not depend on the server crate).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangesPage {
    /// Pass it as `since` next time.
    pub cursor: String,
    /// The cursor was unknown (first call, or the server restarted): `documents` lists every
    /// document the caller may read, without heads.
    pub reset: bool,
    /// The documents that changed, with their durable heads (hex), or all of them on reset.
    pub documents: Vec<ChangedDocument>,
    /// The size of the response body, for accounting (not on the wire).
    #[serde(skip)]
    pub wire_bytes: usize,
}

/// One entry of a [`ChangesPage`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangedDocument {
    /// The document id.
    pub id: String,
    /// Its durable heads on the server, as hex change hashes; empty on reset.
    #[serde(default)]
    pub heads: Vec<String>,
    /// The document was erased on the server: delete the local copy (absent from servers
    /// that predate erasure).
    #[serde(default)]
    pub deleted: bool,
}

/// The real transport: HTTP(S) to the configured server, with the bearer token.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    /// The base URL, ending with `/` so that endpoints join below it.
    base: Url,
    pub(crate) token: String,
    pub(crate) client: Client,
}

impl HttpTransport {
    /// A transport to the server of `config`. Nothing is contacted yet.
    ///
    /// Must not be called from inside an async runtime (`reqwest::blocking` starts one of its
    /// own).
    pub fn new(config: &ServerConfig) -> Result<Self, ClientError> {
        let mut base = config.url().clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // Per request instead: a long poll waits longer than a health check.
            .timeout(None)
            .user_agent(concat!("passerelle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientError::Unreachable {
                server: base.to_string(),
                reason: format!("cannot set up HTTP: {}", root_cause(&error)),
            })?;
        Ok(Self {
            base,
            token: config.token().to_owned(),
            client,
        })
    }

    /// Whether the server answers `GET /healthz`, and then accepts the token
    /// (`GET /v1/whoami`), each within `timeout`.
    pub fn check(&self, timeout: Duration) -> Result<(), ClientError> {
        let response = self
            .client
            .get(self.endpoint("healthz"))
            .timeout(timeout)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        read_body(self, response)?;
        let response = self
            .client
            .get(self.endpoint("v1/whoami"))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        read_body(self, response)?;
        Ok(())
    }

    pub(crate) fn endpoint(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("a relative path joins a base URL")
    }

    pub(crate) fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            server: self.server(),
            reason: root_cause(error),
        }
    }
}

impl Transport for HttpTransport {
    fn server(&self) -> String {
        self.base.to_string()
    }

    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        let mut url = self.endpoint("v1/changes");
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = since {
                query.append_pair("since", since);
            }
            query.append_pair("wait", &wait.as_secs().to_string());
        }
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .timeout(wait + CHANGES_GRACE)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        let body = read_body(self, response)?;
        let mut page: ChangesPage =
            serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse {
                server: self.server(),
                reason: format!("the changes feed is not the expected JSON: {e}"),
            })?;
        page.wire_bytes = body.len();
        Ok(page)
    }

    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let mut request = self
            .client
            .post(self.endpoint("v1/sync"))
            .bearer_auth(&self.token)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/cbor"))
            .timeout(SYNC_TIMEOUT);
        let body = match gzip_body(&body) {
            Some(compressed) => {
                request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                compressed
            }
            None => body,
        };
        let response = request
            .body(body)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        read_body(self, response)
    }
}

/// A request body of at least [`GZIP_MIN_BYTES`], gzip-compressed, when that makes it
/// smaller. The server decompresses `POST /v1/sync` bodies within its body limit. Changes
/// sent with `save_after` are uncompressed columns, and even whole `save()`s share field
/// names and values across documents: a day of offline work shrinks about threefold.
fn gzip_body(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    if body.len() < GZIP_MIN_BYTES {
        return None;
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 2),
        flate2::Compression::default(),
    );
    encoder.write_all(body).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < body.len()).then_some(compressed)
}

/// The body of a successful response, or the error its status means. A body cut short by a
/// dropped connection is [`ClientError::Unreachable`].
pub(crate) fn read_body(
    transport: &HttpTransport,
    response: Response,
) -> Result<Vec<u8>, ClientError> {
    let status = response.status();
    let mut body = Vec::new();
    response
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|error| ClientError::Unreachable {
            server: transport.server(),
            reason: format!("the connection dropped while reading the answer: {error}"),
        })?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(ClientError::BadResponse {
            server: transport.server(),
            reason: format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
        });
    }
    if status.is_success() {
        return Ok(body);
    }
    if status.as_u16() == 401 {
        return Err(ClientError::TokenRefused {
            server: transport.server(),
        });
    }
    // The server's errors are `{"error": "..."}`; a proxy's may be anything.
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    Err(ClientError::Server {
        server: transport.server(),
        status: status.as_u16(),
        message,
    })
}

/// The innermost cause of an HTTP error ("Connection refused (os error 111)"), which says
/// more to a person than reqwest's "error sending request for url (...)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let text = cause.to_string();
    if error.to_string().contains("timed out") || text.contains("timed out") {
        return "timed out".to_owned();
    }
    text
}

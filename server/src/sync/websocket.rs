//! `GET /ws`: one WebSocket connection speaking the automerge-repo protocol, version "1".
//!
//! The connection task does everything that concerns only its own peer, so the hub stays
//! small: it authenticates (before the upgrade), runs the `join`/`peer` handshake, decodes
//! every frame within the configured limits, checks access on **every** document message
//! (reading the document's rules from storage, never from a cache), and re-checks the token
//! periodically so that a revocation also cuts open connections. Bad input closes this
//! connection with an `error` message; nothing from it reaches the engine.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use passerelle_core::{DecodeLimits, DocumentId, Message, PROTOCOL_VERSION, PeerId, PeerMetadata};
use tokio::sync::mpsc;

use crate::auth::{Access, AuthStore, BearerToken, Operation, Principal, access_for, allowed};
use crate::http::{AppState, AuthenticatedToken};
use crate::sync::hub::{Command, Hub, Outgoing};

/// How long a new connection may take to send `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The initial read buffer of a WebSocket, and how much is written before a flush.
const WS_BUFFER_BYTES: usize = 4 * 1024;

/// The upgrade handler: authentication happens here, before any WebSocket exists, so an
/// unauthenticated client gets a plain 401.
pub(crate) async fn websocket(
    State(state): State<AppState>,
    token: AuthenticatedToken,
    upgrade: WebSocketUpgrade,
) -> Response {
    let max = state.config.max_message_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        // tungstenite starts every connection with a 128 KiB read buffer, which was most of
        // an idle connection's memory (~143 KiB each with 500 clients). Sync messages are
        // mostly small; the buffer grows for the large ones.
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            let sync = state.sync.clone();
            sync.metrics.connections.fetch_add(1, Ordering::Relaxed);
            Connection::new(state, token).run(socket).await;
            sync.metrics.connections.fetch_sub(1, Ordering::Relaxed);
        })
}

struct Connection {
    state: AppState,
    principal: Principal,
    token: BearerToken,
    limits: DecodeLimits,
    /// The peer's own id, as it calls itself on the wire.
    remote_id: Option<PeerId>,
    /// The engine's name for this peer: unique per user, so that two users choosing the same
    /// peer id never replace each other's connection.
    engine_id: Option<PeerId>,
    connection_id: u64,
}

/// Why a connection ends.
enum End {
    /// The peer left or the socket closed.
    Quietly,
    /// Tell the peer, then close.
    WithError(String),
}

impl Connection {
    fn new(state: AppState, token: AuthenticatedToken) -> Self {
        let limits = DecodeLimits {
            max_message_bytes: state.config.max_message_bytes,
            ..DecodeLimits::default()
        };
        let connection_id = state.sync.hub.next_connection_id();
        Self {
            principal: token.principal,
            token: token.token,
            state,
            limits,
            remote_id: None,
            engine_id: None,
            connection_id,
        }
    }

    fn hub(&self) -> &Hub {
        &self.state.sync.hub
    }

    fn auth(&self) -> Arc<AuthStore> {
        Arc::clone(&self.state.auth)
    }

    async fn run(mut self, mut socket: WebSocket) {
        let end = match self.handshake(&mut socket).await {
            Ok(()) => self.serve(&mut socket).await,
            Err(end) => end,
        };
        if let End::WithError(reason) = end {
            let message = Message::Error {
                sender_id: self.hub().server_peer_id().clone(),
                target_id: self.remote_id.clone(),
                message: reason,
            };
            let _ = socket.send(Frame::Binary(message.encode().into())).await;
        }
        let _ = socket.send(Frame::Close(None)).await;
        if let Some(peer) = self.engine_id.take() {
            self.hub()
                .send(Command::Disconnect {
                    connection: self.connection_id,
                    peer,
                })
                .await;
        }
    }

    async fn handshake(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        let frame = tokio::time::timeout(JOIN_TIMEOUT, socket.recv())
            .await
            .map_err(|_| End::WithError("no join message within 30 s".into()))?;
        let bytes = match frame {
            Some(Ok(Frame::Binary(bytes))) => bytes,
            Some(Ok(Frame::Text(_))) => {
                return Err(End::WithError(
                    "this server speaks CBOR in binary frames, not text".into(),
                ));
            }
            _ => return Err(End::Quietly),
        };
        let message = self.decode(&bytes)?;
        let Message::Join {
            sender_id,
            supported_protocol_versions,
            ..
        } = message
        else {
            return Err(End::WithError(format!(
                "the first message must be `join`, not `{}`",
                message.type_name()
            )));
        };
        self.remote_id = Some(sender_id.clone());
        let supported = supported_protocol_versions.is_empty()
            || supported_protocol_versions
                .iter()
                .any(|v| v == PROTOCOL_VERSION);
        if !supported {
            return Err(End::WithError(format!(
                "unsupported protocol versions {supported_protocol_versions:?}; this server speaks \"{PROTOCOL_VERSION}\""
            )));
        }
        let engine_id: PeerId = engine_peer_id(self.principal.user.as_str(), &sender_id)
            .parse()
            .map_err(|e| End::WithError(format!("peer id: {e}")))?;
        let peer = Message::Peer {
            sender_id: self.hub().server_peer_id().clone(),
            target_id: sender_id,
            peer_metadata: PeerMetadata {
                storage_id: Some(self.state.sync.storage_id.clone()),
                is_ephemeral: false,
            },
            selected_protocol_version: PROTOCOL_VERSION.into(),
        };
        self.send(socket, &peer).await?;
        self.engine_id = Some(engine_id);
        Ok(())
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> End {
        let (outbox, mut inbox) = mpsc::channel(self.state.sync.outbox_capacity);
        let engine_id = self.engine_id.clone().expect("set by the handshake");
        if !self
            .hub()
            .send(Command::Connect {
                connection: self.connection_id,
                peer: engine_id.clone(),
                principal: self.principal.clone(),
                outbox,
            })
            .await
        {
            return End::WithError("the server is shutting down".into());
        }
        let mut recheck = tokio::time::interval(self.state.config.token_recheck_interval);
        recheck.tick().await;
        let mut closing = self.state.sync.closing.subscribe();
        loop {
            let step = tokio::select! {
                () = until_closing(&mut closing) => Err(End::WithError("the server is shutting down".into())),
                frame = socket.recv() => self.on_frame(socket, frame).await,
                outgoing = inbox.recv() => match outgoing {
                    Some(outgoing) => self.on_outgoing(socket, outgoing).await,
                    None => Err(End::WithError("the server dropped this connection (too slow, or shutting down)".into())),
                },
                _ = recheck.tick() => self.recheck_token().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_frame(
        &mut self,
        socket: &mut WebSocket,
        frame: Option<Result<Frame, axum::Error>>,
    ) -> Result<(), End> {
        let bytes = match frame {
            Some(Ok(Frame::Binary(bytes))) => bytes,
            Some(Ok(Frame::Text(_))) => {
                return Err(End::WithError(
                    "this server speaks CBOR in binary frames, not text".into(),
                ));
            }
            Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => return Ok(()),
            Some(Ok(Frame::Close(_))) | None => return Err(End::Quietly),
            Some(Err(error)) => {
                return Err(End::WithError(format!("bad WebSocket frame: {error}")));
            }
        };
        let metrics = &self.state.sync.metrics;
        metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        metrics
            .bytes_in
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let message = self.decode(&bytes)?;
        match message {
            Message::Sync { .. }
            | Message::Request { .. }
            | Message::DocUnavailable { .. }
            | Message::Ephemeral { .. } => self.on_document_message(socket, message).await,
            Message::Leave { .. } => Err(End::Quietly),
            // Heads gossip is opt-in and not offered by this server; a peer may still send
            // it. A repeated join or a stray peer/error message changes nothing.
            Message::RemoteSubscriptionChange { .. }
            | Message::RemoteHeadsChanged { .. }
            | Message::Join { .. }
            | Message::Peer { .. }
            | Message::Error { .. } => Ok(()),
        }
    }

    async fn on_document_message(
        &mut self,
        socket: &mut WebSocket,
        message: Message,
    ) -> Result<(), End> {
        let document_id = message.document_id().expect("document messages have one");
        let (exists, access) = self.access(document_id).await?;
        let wants_copy = matches!(message, Message::Sync { .. } | Message::Request { .. });
        let may_write = if access >= Access::Read {
            access >= Access::Write
        } else if !exists && matches!(message, Message::Sync { .. }) {
            // A `sync` for a document nobody has yet: the peer is creating it.
            if !allowed(&self.principal, None, Operation::Create) {
                return self.unavailable(socket, document_id).await;
            }
            let auth = self.auth();
            let principal = self.principal.clone();
            let created =
                crate::spawn_blocking(move || auth.create_document(&document_id, &principal)).await;
            match created {
                Ok(Ok(Ok(_))) => true,
                // Someone else created it in the meantime: decide again on its rules.
                Ok(Ok(Err(_))) => {
                    let (_, access) = self.access(document_id).await?;
                    if access < Access::Read {
                        return self.unavailable(socket, document_id).await;
                    }
                    access >= Access::Write
                }
                _ => {
                    tracing::error!(%document_id, "could not record a new document's rules");
                    return Err(End::WithError("internal error; try again later".into()));
                }
            }
        } else {
            // No read access, or asking for a document that does not exist: the same answer,
            // so that ids cannot be probed.
            if wants_copy {
                return self.unavailable(socket, document_id).await;
            }
            return Ok(());
        };
        let engine_id = self.engine_id.clone().expect("set by the handshake");
        if !self
            .hub()
            .send(Command::Received {
                connection: self.connection_id,
                peer: engine_id,
                message,
                may_write,
            })
            .await
        {
            return Err(End::WithError("the server is shutting down".into()));
        }
        Ok(())
    }

    /// Whether the document exists, and this principal's access to it.
    async fn access(&self, document_id: DocumentId) -> Result<(bool, Access), End> {
        match super::document_acl(&self.state.sync, &self.state.auth, document_id).await {
            Ok(acl) => Ok((acl.is_some(), access_for(&self.principal, acl.as_ref()))),
            Err(error) => {
                tracing::error!(%document_id, "could not read a document's rules: {error}");
                Err(End::WithError("internal error; try again later".into()))
            }
        }
    }

    async fn unavailable(
        &mut self,
        socket: &mut WebSocket,
        document_id: DocumentId,
    ) -> Result<(), End> {
        self.state
            .sync
            .metrics
            .refusals
            .fetch_add(1, Ordering::Relaxed);
        let message = Message::DocUnavailable {
            sender_id: self.hub().server_peer_id().clone(),
            target_id: self.remote_id.clone().expect("set by the handshake"),
            document_id,
        };
        self.send(socket, &message).await
    }

    async fn on_outgoing(&mut self, socket: &mut WebSocket, outgoing: Outgoing) -> Result<(), End> {
        match outgoing {
            Outgoing::Message(message) => {
                // Access may have been withdrawn since the peer subscribed: check again.
                if let Some(document_id) = message.document_id() {
                    let (_, access) = self.access(document_id).await?;
                    if access < Access::Read {
                        return Ok(());
                    }
                }
                let message = self.retarget(message);
                self.send(socket, &message).await
            }
            Outgoing::Error(reason) => {
                let message = Message::Error {
                    sender_id: self.hub().server_peer_id().clone(),
                    target_id: self.remote_id.clone(),
                    message: reason,
                };
                self.send(socket, &message).await
            }
            Outgoing::Close(reason) => Err(End::WithError(reason)),
        }
    }

    /// The engine addresses this peer by its engine id; the wire wants the peer's own id.
    fn retarget(&self, message: Message) -> Message {
        let remote = self.remote_id.clone().expect("set by the handshake");
        match message {
            Message::Sync {
                sender_id,
                document_id,
                data,
                ..
            } => Message::Sync {
                sender_id,
                target_id: remote,
                document_id,
                data,
            },
            Message::Request {
                sender_id,
                document_id,
                data,
                ..
            } => Message::Request {
                sender_id,
                target_id: remote,
                document_id,
                data,
            },
            Message::DocUnavailable {
                sender_id,
                document_id,
                ..
            } => Message::DocUnavailable {
                sender_id,
                target_id: remote,
                document_id,
            },
            Message::Ephemeral {
                sender_id,
                count,
                session_id,
                document_id,
                data,
                ..
            } => Message::Ephemeral {
                // Relayed presence keeps the original sender's own id.
                sender_id,
                target_id: remote,
                count,
                session_id,
                document_id,
                data,
            },
            other => other,
        }
    }

    async fn recheck_token(&mut self) -> Result<(), End> {
        let auth = self.auth();
        let token = self.token.clone();
        let checked = crate::spawn_blocking(move || auth.check_token(token.expose_secret()))
            .await
            .map_err(|_| End::WithError("internal error".into()))?;
        match checked {
            Ok(Some(principal)) => {
                self.principal = principal;
                Ok(())
            }
            Ok(None) => Err(End::WithError(
                "your token was revoked; ask an administrator for a new one".into(),
            )),
            Err(error) => {
                tracing::error!("could not re-check a token: {error}");
                Ok(())
            }
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<Message, End> {
        Message::decode(bytes, &self.limits).map_err(|error| {
            self.state
                .sync
                .metrics
                .refusals
                .fetch_add(1, Ordering::Relaxed);
            End::WithError(format!("malformed message: {error}"))
        })
    }

    async fn send(&self, socket: &mut WebSocket, message: &Message) -> Result<(), End> {
        let bytes = message.encode();
        let metrics = &self.state.sync.metrics;
        metrics.messages_out.fetch_add(1, Ordering::Relaxed);
        metrics
            .bytes_out
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        socket
            .send(Frame::Binary(bytes.into()))
            .await
            .map_err(|_| End::Quietly)
    }
}

/// The engine's name for a peer: a digest of the user's name, then the peer's own id. Two
/// users who pick the same peer id stay two peers; the same user reconnecting with the same
/// id replaces the older connection, as automerge-repo expects.
fn engine_peer_id(user: &str, peer: &PeerId) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(user.as_bytes());
    format!("u{}~{peer}", hex::encode(&digest[..8]))
}

/// Resolves when the server starts shutting down (or the hub is gone).
async fn until_closing(closing: &mut tokio::sync::watch::Receiver<bool>) {
    let _closed = closing.wait_for(|closing| *closing).await.is_ok();
}

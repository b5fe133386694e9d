//! End-to-end tests of `GET /ws` on a real socket (127.0.0.1:0) over a real sled store:
//! the automerge-repo handshake, sync, access control on every message, bad input, and
//! replacement of a reconnecting peer.

use crate::common;

use std::time::Duration;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use passerelle_core::{DecodeLimits, DocumentId, Message, PeerId, PeerMetadata};
use passerelle_server::auth::{OrgName, Role, UserName};
use passerelle_server::{AppState, ServerConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    address: std::net::SocketAddr,
    state: AppState,
    _dir: common::TestData,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start() -> Self {
        let dir = common::TestData::new(module_path!());
        let storage = dir.storage(dir.path());
        let mut config = ServerConfig::default();
        config.token_recheck_interval = Duration::from_millis(200);
        let state = AppState::new(storage, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(passerelle_server::run(
            listener,
            state.clone(),
            async move {
                let _ = signal.await;
            },
        ));
        Self {
            address,
            state,
            _dir: dir,
            shutdown: Some(shutdown),
            task,
        }
    }

    fn user(&self, name: &str, org: &str, role: Role) -> String {
        let created = self
            .state
            .auth()
            .add_user(
                &UserName::new(name).unwrap(),
                &OrgName::new(org).unwrap(),
                role,
            )
            .unwrap()
            .unwrap();
        created.token.token.expose_secret().to_owned()
    }

    async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

/// A minimal automerge-repo peer written against the protocol, not against our code.
struct Peer {
    id: PeerId,
    socket: Socket,
    server_id: Option<PeerId>,
}

impl Peer {
    async fn connect(server: &Server, token: &str, id: &str) -> Self {
        let url = format!("ws://{}/ws?token={token}", server.address);
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut peer = Self {
            id: id.parse().unwrap(),
            socket,
            server_id: None,
        };
        peer.send(&Message::Join {
            sender_id: peer.id.clone(),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: vec!["1".into()],
        })
        .await;
        match peer.recv().await {
            Some(Message::Peer {
                sender_id,
                target_id,
                selected_protocol_version,
                ..
            }) => {
                assert_eq!(target_id, peer.id);
                assert_eq!(selected_protocol_version, "1");
                peer.server_id = Some(sender_id);
            }
            other => panic!("expected a peer message, got {other:?}"),
        }
        peer
    }

    async fn send(&mut self, message: &Message) {
        self.socket
            .send(Frame::Binary(message.encode().into()))
            .await
            .unwrap();
    }

    /// The next protocol message, or `None` when the socket closed or 3 s passed.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(3), self.socket.next())
                .await
                .ok()??;
            match frame.ok()? {
                Frame::Binary(bytes) => {
                    return Some(Message::decode(&bytes, &DecodeLimits::default()).unwrap());
                }
                Frame::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Syncs `doc` with the server until the server has nothing more to say. Returns the
    /// messages that were not sync messages (errors, doc-unavailable).
    async fn sync(&mut self, document_id: DocumentId, doc: &mut Automerge) -> Vec<Message> {
        let mut state = sync::State::new();
        let mut others = Vec::new();
        let first = doc.generate_sync_message(&mut state).unwrap();
        let target = self.server_id.clone().unwrap();
        let message = if doc.get_heads().is_empty() {
            Message::Request {
                sender_id: self.id.clone(),
                target_id: target.clone(),
                document_id,
                data: first.encode(),
            }
        } else {
            Message::Sync {
                sender_id: self.id.clone(),
                target_id: target.clone(),
                document_id,
                data: first.encode(),
            }
        };
        self.send(&message).await;
        while let Some(message) = self.recv_quick().await {
            match message {
                Message::Sync { data, .. } | Message::Request { data, .. } => {
                    doc.receive_sync_message(&mut state, sync::Message::decode(&data).unwrap())
                        .unwrap();
                    if let Some(reply) = doc.generate_sync_message(&mut state) {
                        self.send(&Message::Sync {
                            sender_id: self.id.clone(),
                            target_id: target.clone(),
                            document_id,
                            data: reply.encode(),
                        })
                        .await;
                    }
                }
                other => others.push(other),
            }
        }
        others
    }

    async fn recv_quick(&mut self) -> Option<Message> {
        let frame = tokio::time::timeout(Duration::from_millis(700), self.socket.next())
            .await
            .ok()??;
        match frame.ok()? {
            Frame::Binary(bytes) => {
                Some(Message::decode(&bytes, &DecodeLimits::default()).unwrap())
            }
            _ => None,
        }
    }
}

fn new_doc(title: &str) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "title", title).unwrap();
    tx.commit();
    doc
}

fn title(doc: &Automerge) -> Option<String> {
    doc.get(automerge::ROOT, "title")
        .unwrap()
        .map(|(value, _)| value.as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_created_by_one_editor_is_read_by_its_organisation_only() {
    let server = Server::start().await;
    let amina = server.user("amina", "ville-de-lille", Role::Editor);
    let victor = server.user("victor", "ville-de-lille", Role::Viewer);
    let youssef = server.user("youssef", "commune-oujda", Role::Editor);

    let document_id = DocumentId::random();
    let mut written = new_doc("Mission Oujda, mars");
    let mut author = Peer::connect(&server, &amina, "peer-amina").await;
    let others = author.sync(document_id, &mut written).await;
    assert!(others.is_empty(), "{others:?}");

    // A viewer of the same organisation reads it.
    let mut reader = Peer::connect(&server, &victor, "peer-victor").await;
    let mut copy = Automerge::new();
    let others = reader.sync(document_id, &mut copy).await;
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(title(&copy).as_deref(), Some("Mission Oujda, mars"));
    assert_eq!(copy.get_heads(), written.get_heads());

    // Another organisation gets doc-unavailable, exactly as for a document that does not
    // exist.
    let mut outsider = Peer::connect(&server, &youssef, "peer-youssef").await;
    let mut nothing = Automerge::new();
    let denied = outsider.sync(document_id, &mut nothing).await;
    let missing_id = DocumentId::random();
    let missing = outsider.sync(missing_id, &mut Automerge::new()).await;
    assert!(nothing.get_heads().is_empty());
    assert!(
        matches!(&denied[..], [Message::DocUnavailable { document_id: d, .. }] if *d == document_id),
        "{denied:?}"
    );
    assert!(
        matches!(&missing[..], [Message::DocUnavailable { document_id: d, .. }] if *d == missing_id),
        "{missing:?}"
    );

    // The server recorded who delivered the change.
    let history = server.state.auth().history(&document_id).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].user.as_str(), "amina");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_who_sends_changes_is_refused_and_nothing_is_stored() {
    let server = Server::start().await;
    let amina = server.user("amina", "ville-de-lille", Role::Editor);
    let victor = server.user("victor", "ville-de-lille", Role::Viewer);
    let document_id = DocumentId::random();
    let mut original = new_doc("Budget 2026");
    let mut author = Peer::connect(&server, &amina, "peer-amina").await;
    author.sync(document_id, &mut original).await;

    let mut reader = Peer::connect(&server, &victor, "peer-victor").await;
    let mut copy = Automerge::new();
    reader.sync(document_id, &mut copy).await;
    let mut tx = copy.transaction();
    tx.put(automerge::ROOT, "title", "changed by a viewer")
        .unwrap();
    tx.commit();
    let others = reader.sync(document_id, &mut copy).await;
    assert!(
        others
            .iter()
            .any(|m| matches!(m, Message::Error { message, .. } if message.contains("read-only"))),
        "the refusal reaches the client: {others:?}"
    );
    // An editor fetching afresh sees the original only.
    let mut check = Automerge::new();
    let mut other_editor = Peer::connect(&server, &amina, "peer-amina-2").await;
    other_editor.sync(document_id, &mut check).await;
    assert_eq!(title(&check).as_deref(), Some("Budget 2026"));
    assert_eq!(check.get_heads(), original.get_heads());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_closes_the_offender_only() {
    let server = Server::start().await;
    let amina = server.user("amina", "ville-de-lille", Role::Editor);
    let document_id = DocumentId::random();
    let mut doc = new_doc("Journal de terrain");
    let mut good = Peer::connect(&server, &amina, "peer-good").await;
    good.sync(document_id, &mut doc).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not CBOR", vec![0xff, 0x00, 0x13, 0x37]),
        ("unknown type", {
            let mut bytes = Vec::new();
            let value = ciborium::Value::Map(vec![
                (
                    ciborium::Value::Text("type".into()),
                    ciborium::Value::Text("launch-missiles".into()),
                ),
                (
                    ciborium::Value::Text("senderId".into()),
                    ciborium::Value::Text("x".into()),
                ),
            ]);
            ciborium::into_writer(&value, &mut bytes).unwrap();
            bytes
        }),
        ("a forged document id", {
            let mut bytes = Vec::new();
            let value = ciborium::Value::Map(vec![
                (
                    ciborium::Value::Text("type".into()),
                    ciborium::Value::Text("sync".into()),
                ),
                (
                    ciborium::Value::Text("senderId".into()),
                    ciborium::Value::Text("peer-bad".into()),
                ),
                (
                    ciborium::Value::Text("targetId".into()),
                    ciborium::Value::Text("server".into()),
                ),
                (
                    ciborium::Value::Text("documentId".into()),
                    ciborium::Value::Text("../../etc/passwd".into()),
                ),
                (
                    ciborium::Value::Text("data".into()),
                    ciborium::Value::Bytes(vec![1, 2, 3]),
                ),
            ]);
            ciborium::into_writer(&value, &mut bytes).unwrap();
            bytes
        }),
    ];
    for (what, bytes) in cases {
        let mut bad = Peer::connect(&server, &amina, "peer-bad").await;
        bad.socket.send(Frame::Binary(bytes.into())).await.unwrap();
        match bad.recv().await {
            Some(Message::Error { message, .. }) => {
                assert!(message.contains("malformed"), "{what}: {message}")
            }
            other => panic!("{what}: expected an error message, got {other:?}"),
        }
        assert!(bad.recv().await.is_none(), "{what}: the connection closes");
    }

    // A well-formed message carrying a malformed Automerge sync message.
    let mut bad = Peer::connect(&server, &amina, "peer-bad-sync").await;
    bad.send(&Message::Sync {
        sender_id: bad.id.clone(),
        target_id: bad.server_id.clone().unwrap(),
        document_id,
        data: vec![0x42, 0x00, 0xff, 0xff, 0xff],
    })
    .await;
    match bad.recv().await {
        Some(Message::Error { message, .. }) => {
            assert!(message.contains("sync message"), "{message}")
        }
        other => panic!("expected an error message, got {other:?}"),
    }

    // The well-behaved peer carries on, and the document is intact.
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "entries", 1).unwrap();
    tx.commit();
    let others = good.sync(document_id, &mut doc).await;
    assert!(others.is_empty(), "{others:?}");
    let mut check = Automerge::new();
    let mut fresh = Peer::connect(&server, &amina, "peer-check").await;
    fresh.sync(document_id, &mut check).await;
    assert_eq!(check.get_heads(), doc.get_heads());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused() {
    let dir = common::TestData::new(module_path!());
    let storage = dir.storage(dir.path());
    let mut config = ServerConfig::default();
    config.max_message_bytes = 64 * 1024;
    let state = AppState::new(storage, config);
    let token = state
        .auth()
        .add_user(
            &UserName::new("amina").unwrap(),
            &OrgName::new("lille").unwrap(),
            Role::Editor,
        )
        .unwrap()
        .unwrap()
        .token
        .token
        .expose_secret()
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(passerelle_server::run(
        listener,
        state,
        std::future::pending(),
    ));
    let url = format!("ws://{address}/ws?token={token}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let big = vec![0u8; 65 * 1024];
    let _ = socket.send(Frame::Binary(big.into())).await;
    // The server drops the connection rather than buffer it.
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Frame::Close(_))) => return true,
                _ => continue,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_no_websocket_and_revocation_cuts_open_connections() {
    let server = Server::start().await;
    let url = format!("ws://{}/ws", server.address);
    let refused = tokio_tungstenite::connect_async(url).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let token = server.user("amina", "ville-de-lille", Role::Editor);
    let mut peer = Peer::connect(&server, &token, "peer-amina").await;
    let token_ref = token.parse().unwrap();
    server
        .state
        .auth()
        .revoke_token(&token_ref)
        .unwrap()
        .unwrap();
    match peer.recv().await {
        Some(Message::Error { message, .. }) => assert!(message.contains("revoked"), "{message}"),
        other => panic!("expected the revocation error, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_join_with_the_same_peer_id_replaces_the_first() {
    let server = Server::start().await;
    let token = server.user("amina", "ville-de-lille", Role::Editor);
    let mut first = Peer::connect(&server, &token, "peer-laptop").await;
    let mut second = Peer::connect(&server, &token, "peer-laptop").await;
    match first.recv().await {
        Some(Message::Error { message, .. }) => assert!(message.contains("replaced"), "{message}"),
        other => panic!("expected the replacement notice, got {other:?}"),
    }
    assert!(first.recv().await.is_none());
    // The newer connection works, from a fresh sync state.
    let document_id = DocumentId::random();
    let mut doc = new_doc("Plan d'action énergie durable");
    assert!(second.sync(document_id, &mut doc).await.is_empty());
    server.stop().await;
}

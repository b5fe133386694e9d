//! Hostile input against the real `passerelle-server` binary (`serve --listen 127.0.0.1:0`
//! over a sled directory): sync messages that make automerge panic, requests at and just over
//! each size limit, floods of connections and messages, and writes to another organisation's
//! document. In every case the offender gets a clear error, nothing of its input is stored, and
//! the other peers are served on. `docs/RELIABILITY.md` lists what each test promises.
//!
//! Cases covered elsewhere (not repeated here): malformed CBOR, an unknown message type, a
//! forged document id and a malformed automerge sync message on `/ws`
//! (`sync_ws.rs::bad_input_closes_the_offender_only`); another organisation reading a
//! document (`sync_ws.rs`, `sync_http.rs`); malformed bodies and document ids on `/v1/sync`
//! (`sync_http.rs::access_rules_apply_to_every_document_of_a_batch`).

use crate::common;

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ChangeHash, ExpandedChange, ObjType, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use passerelle_core::batch::{self, DocumentDelta, ReplyStatus, SyncRequest, SyncResponse};
use passerelle_core::{DecodeLimits, DocumentId, Message, PeerId, PeerMetadata};
use passerelle_server::ServerConfig;
use passerelle_store::DocStore;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use common::ServeProcess;

/// The actor whose changes the attacker sends; nothing by it may ever be stored.
const ATTACKER_ACTOR: [u8; 16] = [0xBA; 16];

/// A server binary with three users: two editors of one organisation, one of another.
struct Fixture {
    _dir: common::TestData,
    data: PathBuf,
    server: ServeProcess,
    amina: String,
    karim: String,
    youssef: String,
}

impl Fixture {
    fn start() -> Self {
        let dir = common::TestData::new(module_path!());
        let data = dir.path().join("data");
        let add = |name: &str, org: &str| {
            let output = common::run(
                &["user", "add", name, "--org", org, "--role", "editor"],
                &data,
            );
            assert!(output.status.success(), "{}", common::stderr(&output));
            common::stdout(&output).lines().last().unwrap().to_owned()
        };
        let amina = add("amina", "ville-de-lille");
        let karim = add("karim", "ville-de-lille");
        let youssef = add("youssef", "commune-oujda");
        let server = ServeProcess::start(&data);
        Self {
            _dir: dir,
            data,
            server,
            amina,
            karim,
            youssef,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.address)
    }

    /// Stops the server and reads what it stored of `document_id` straight from the sled
    /// directory.
    fn stop_and_load(self, document_id: DocumentId) -> Automerge {
        self.server.stop();
        let storage = self._dir.storage(&self.data);
        let bytes = DocStore::new(storage)
            .load(&document_id)
            .unwrap()
            .expect("the document is stored");
        Automerge::load(&bytes).expect("what the server stored loads")
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An automerge-repo peer on `/ws`, written against the protocol.
struct Peer {
    id: PeerId,
    server_id: PeerId,
    socket: Socket,
    /// Messages about another document than the one being synced, kept for later.
    pending: Vec<Message>,
}

impl Peer {
    async fn connect(address: std::net::SocketAddr, token: &str, id: &str) -> Self {
        let url = format!("ws://{address}/ws?token={token}");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let id: PeerId = id.parse().unwrap();
        let mut peer = Self {
            server_id: id.clone(),
            id,
            socket,
            pending: Vec::new(),
        };
        peer.send(&Message::Join {
            sender_id: peer.id.clone(),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: vec!["1".into()],
        })
        .await;
        match peer.recv(Duration::from_secs(10)).await {
            Some(Message::Peer { sender_id, .. }) => peer.server_id = sender_id,
            other => panic!("expected `peer`, got {other:?}"),
        }
        peer
    }

    async fn send(&mut self, message: &Message) {
        self.send_bytes(message.encode()).await;
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.socket.send(Frame::Binary(bytes.into())).await.unwrap();
    }

    /// The next protocol message; `None` when the connection closed or `wait` passed.
    async fn recv(&mut self, wait: Duration) -> Option<Message> {
        loop {
            let frame = tokio::time::timeout(wait, self.socket.next())
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

    /// Whether the server closes this connection within 10 s (reading and dropping whatever
    /// comes first). Returns the error message it sent, if any.
    async fn closed_by_server(&mut self) -> Result<Option<String>, Vec<Message>> {
        let mut error = None;
        let mut others = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await {
                Err(_) => break,
                Ok(None | Some(Err(_)) | Some(Ok(Frame::Close(_)))) => return Ok(error),
                Ok(Some(Ok(Frame::Binary(bytes)))) => {
                    match Message::decode(&bytes, &DecodeLimits::default()).unwrap() {
                        Message::Error { message, .. } => error = Some(message),
                        other => others.push(other),
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
        Err(others)
    }

    fn sync_message(&self, document_id: DocumentId, data: Vec<u8>) -> Message {
        Message::Sync {
            sender_id: self.id.clone(),
            target_id: self.server_id.clone(),
            document_id,
            data,
        }
    }

    /// Syncs `doc` (with `state`) until the server has nothing more to say for 700 ms.
    async fn sync(
        &mut self,
        document_id: DocumentId,
        doc: &mut Automerge,
        state: &mut sync::State,
    ) {
        if let Some(message) = doc.generate_sync_message(state) {
            let message = if doc.get_heads().is_empty() {
                Message::Request {
                    sender_id: self.id.clone(),
                    target_id: self.server_id.clone(),
                    document_id,
                    data: message.encode(),
                }
            } else {
                self.sync_message(document_id, message.encode())
            };
            self.send(&message).await;
        }
        while let Some(message) = self.recv(Duration::from_millis(700)).await {
            self.apply(document_id, doc, state, message).await;
        }
    }

    async fn apply(
        &mut self,
        document_id: DocumentId,
        doc: &mut Automerge,
        state: &mut sync::State,
        message: Message,
    ) {
        match message {
            Message::Sync {
                data,
                document_id: about,
                ..
            }
            | Message::Request {
                data,
                document_id: about,
                ..
            } if about == document_id => {
                let message = sync::Message::decode(&data).unwrap();
                doc.receive_sync_message(state, message).unwrap();
                if let Some(reply) = doc.generate_sync_message(state) {
                    let reply = self.sync_message(document_id, reply.encode());
                    self.send(&reply).await;
                }
            }
            Message::Sync { .. } | Message::Request { .. } => self.pending.push(message),
            Message::Error { message, .. } => panic!("{}: unexpected error: {message}", self.id),
            _ => {}
        }
    }

    /// Answers the server until `doc`'s title is `title`, for at most `wait`.
    async fn until_title(
        &mut self,
        document_id: DocumentId,
        doc: &mut Automerge,
        state: &mut sync::State,
        title: &str,
        wait: Duration,
    ) -> Duration {
        let start = Instant::now();
        let (mine, others) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|m| m.document_id() == Some(document_id));
        self.pending = others;
        for message in mine {
            self.apply(document_id, doc, state, message).await;
        }
        while title_of(doc).as_deref() != Some(title) {
            assert!(
                start.elapsed() < wait,
                "{}: no `{title}` after {wait:?}",
                self.id
            );
            if let Some(message) = self.recv(Duration::from_millis(500)).await {
                self.apply(document_id, doc, state, message).await;
            }
        }
        start.elapsed()
    }
}

/// A document with a title and a list (ops 1 and 2 of `actor`), made at time 0.
fn new_doc(actor: u8, title: &str) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(&[actor; 16][..]));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "title", title).unwrap();
    let list = tx
        .put_object(automerge::ROOT, "entries", ObjType::List)
        .unwrap();
    tx.insert(&list, 0, "première").unwrap();
    tx.commit_with(CommitOptions::default().with_time(0));
    doc
}

fn title_of(doc: &Automerge) -> Option<String> {
    doc.get(automerge::ROOT, "title")
        .unwrap()
        .map(|(value, _)| value.as_str().unwrap_or_default().to_owned())
}

fn set_title(doc: &mut Automerge, title: &str) {
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "title", title).unwrap();
    tx.commit();
}

/// Changes on top of `doc` (made by [`new_doc`] with `actor`) that automerge 0.12 chokes on:
/// one makes it panic while applying, the other is applied silently and makes it panic when
/// read back. Both would, unguarded, kill the task that owns every document.
fn poisonous_changes(doc: &Automerge, actor: u8) -> Vec<(&'static str, Vec<u8>)> {
    use automerge::legacy::{Key, ObjectId, Op, OpId, OpType, SortedVec};
    let put = |obj: ObjectId, key: Key| Op {
        action: OpType::Put(automerge::ScalarValue::Int(5)),
        obj,
        key,
        pred: SortedVec::new(),
        insert: false,
    };
    let unknown_object = ObjectId::Id(OpId(7, ActorId::from(&[0xEE; 16][..])));
    let entries = ObjectId::Id(OpId(2, ActorId::from(&[actor; 16][..])));
    [
        (
            "panics while applied",
            put(unknown_object, Key::Map("a".into())),
        ),
        ("panics when read back", put(entries, Key::Map("a".into()))),
    ]
    .into_iter()
    .map(|(name, op)| {
        let change = Change::from(ExpandedChange {
            operations: vec![op],
            actor_id: ActorId::from(&ATTACKER_ACTOR[..]),
            hash: None,
            seq: 1,
            start_op: NonZeroU64::new(1_000).unwrap(),
            time: 0,
            message: None,
            deps: doc.get_heads(),
            extra_bytes: Vec::new(),
            author: None,
        });
        (name, change.raw_bytes().to_vec())
    })
    .collect()
}

/// A well-formed automerge sync message carrying `change`.
fn sync_carrying(change: &[u8]) -> Vec<u8> {
    let hash = Change::try_from(change).unwrap().hash();
    sync::Message {
        heads: vec![hash],
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![change.to_vec()].into(),
        flags: None,
        version: sync::MessageVersion::V1,
    }
    .encode()
}

fn assert_nothing_from_the_attacker(doc: &Automerge) {
    let attacker = ActorId::from(&ATTACKER_ACTOR[..]);
    assert!(
        doc.get_changes(&[])
            .iter()
            .all(|c| c.actor_id() != &attacker),
        "a change of the attacker was kept"
    );
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn post_sync(fixture: &Fixture, token: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let response = http()
        .post(format!("{}/v1/sync", fixture.base()))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn delta(document_id: DocumentId, heads: Vec<ChangeHash>, changes: Vec<u8>) -> DocumentDelta {
    DocumentDelta {
        id: document_id.to_string(),
        heads: batch::to_wire(&heads),
        changes,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_message_that_makes_automerge_panic_closes_only_its_sender() {
    let mut fixture = Fixture::start();
    let address = fixture.server.address;
    let (doc1_id, doc2_id) = (DocumentId::random(), DocumentId::random());
    let mut doc1 = new_doc(0x11, "v1");
    let mut doc2 = new_doc(0x22, "v1");
    let (mut author_state1, mut author_state2) = (sync::State::new(), sync::State::new());
    let mut author = Peer::connect(address, &fixture.amina, "peer-author").await;
    author.sync(doc1_id, &mut doc1, &mut author_state1).await;
    author.sync(doc2_id, &mut doc2, &mut author_state2).await;
    // Another peer follows both documents.
    let (mut copy1, mut copy2) = (Automerge::new(), Automerge::new());
    let (mut reader_state1, mut reader_state2) = (sync::State::new(), sync::State::new());
    let mut reader = Peer::connect(address, &fixture.karim, "peer-reader").await;
    reader.sync(doc1_id, &mut copy1, &mut reader_state1).await;
    reader.sync(doc2_id, &mut copy2, &mut reader_state2).await;
    assert_eq!(copy1.get_heads(), doc1.get_heads());

    // Two changes automerge chokes on, and a bloom filter that made automerge divide by zero
    // when answering (before the engine refused such filters).
    let mut attacks: Vec<(&str, Vec<u8>)> = poisonous_changes(&doc1, 0x11)
        .into_iter()
        .map(|(what, change)| (what, sync_carrying(&change)))
        .collect();
    attacks.push(("a bloom filter with entries but no bits", {
        let bloom = sync::BloomFilter::try_from(&[1u8, 0, 7][..]).unwrap();
        sync::Message {
            heads: doc1.get_heads(),
            need: Vec::new(),
            have: vec![sync::Have {
                last_sync: Vec::new(),
                bloom,
            }],
            changes: Vec::<Vec<u8>>::new().into(),
            flags: None,
            version: sync::MessageVersion::V1,
        }
        .encode()
    }));
    for (index, (what, data)) in attacks.into_iter().enumerate() {
        let mut attacker =
            Peer::connect(address, &fixture.amina, &format!("peer-attacker-{index}")).await;
        let message = attacker.sync_message(doc1_id, data);
        attacker.send(&message).await;
        let error = attacker
            .closed_by_server()
            .await
            .unwrap_or_else(|others| panic!("{what}: not closed; got {others:?}"));
        let error = error.unwrap_or_else(|| panic!("{what}: closed without an error message"));
        println!("{what}: {error}");
        assert!(error.contains("sync message"), "{what}: {error}");
    }
    assert!(
        fixture.server.is_running(),
        "the server died:\n{}",
        fixture.server.log()
    );

    // Both documents are still served: a change made after the attack reaches the reader.
    set_title(&mut doc1, "v2 after the attack");
    set_title(&mut doc2, "v2 after the attack");
    author.sync(doc1_id, &mut doc1, &mut author_state1).await;
    author.sync(doc2_id, &mut doc2, &mut author_state2).await;
    let wait = Duration::from_secs(20);
    let took1 = reader
        .until_title(
            doc1_id,
            &mut copy1,
            &mut reader_state1,
            "v2 after the attack",
            wait,
        )
        .await;
    let took2 = reader
        .until_title(
            doc2_id,
            &mut copy2,
            &mut reader_state2,
            "v2 after the attack",
            wait,
        )
        .await;
    println!("after the attack, the reader saw the change in {took1:?} (attacked) and {took2:?}");

    // A newcomer gets exactly the author's document, and so does the disk.
    let mut fresh = Peer::connect(address, &fixture.karim, "peer-fresh").await;
    let mut fetched = Automerge::new();
    fresh
        .sync(doc1_id, &mut fetched, &mut sync::State::new())
        .await;
    assert_eq!(fetched.get_heads(), doc1.get_heads());
    assert_nothing_from_the_attacker(&fetched);
    let stored = fixture.stop_and_load(doc1_id);
    assert_eq!(stored.get_heads(), doc1.get_heads());
    assert_nothing_from_the_attacker(&stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_changes_that_make_automerge_panic_get_an_error_and_nothing_is_stored() {
    let fixture = Fixture::start();
    let (doc1_id, doc2_id) = (DocumentId::random(), DocumentId::random());
    let mut doc1 = new_doc(0x11, "v1");
    let mut doc2 = new_doc(0x22, "v1");
    let request = SyncRequest {
        replica: "laptop-amina".into(),
        documents: vec![
            delta(doc1_id, doc1.get_heads(), doc1.save()),
            delta(doc2_id, doc2.get_heads(), doc2.save()),
        ],
    };
    let (status, body) = post_sync(&fixture, &fixture.amina, batch::encode(&request)).await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    assert!(
        response
            .documents
            .iter()
            .all(|d| d.status == ReplyStatus::Ok)
    );

    for (what, change) in poisonous_changes(&doc1, 0x11) {
        // The poisonous change for one document, a good change for another, in one batch.
        let hash = Change::try_from(&change[..]).unwrap().hash();
        let before = doc2.get_heads();
        set_title(&mut doc2, &format!("v2 despite: {what}"));
        let good = doc2.save_after(&before);
        let request = SyncRequest {
            replica: "laptop-attacker".into(),
            documents: vec![
                delta(doc1_id, vec![hash], change),
                delta(doc2_id, doc2.get_heads(), good),
            ],
        };
        let (status, body) = post_sync(&fixture, &fixture.amina, batch::encode(&request)).await;
        assert_eq!(status, 200, "{what}");
        let response: SyncResponse = batch::decode(&body).unwrap();
        let [bad, ok] = &response.documents[..] else {
            panic!("{what}: {response:?}")
        };
        assert_eq!(bad.status, ReplyStatus::Error, "{what}: {bad:?}");
        assert!(
            bad.message
                .as_deref()
                .is_some_and(|m| m.contains("malformed")),
            "{bad:?}"
        );
        assert_eq!(ok.status, ReplyStatus::Ok, "{what}: {ok:?}");
        assert_eq!(batch::from_wire(&ok.heads), doc2.get_heads());
    }

    // Another client of the organisation still syncs the attacked document, and makes a change
    // that the first one receives.
    let (status, body) = post_sync(
        &fixture,
        &fixture.karim,
        batch::encode(&SyncRequest {
            replica: "laptop-karim".into(),
            documents: vec![delta(doc1_id, Vec::new(), Vec::new())],
        }),
    )
    .await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    assert_eq!(response.documents[0].status, ReplyStatus::Ok);
    let mut copy = Automerge::load(&response.documents[0].changes).unwrap();
    assert_eq!(copy.get_heads(), doc1.get_heads());
    assert_nothing_from_the_attacker(&copy);
    let before = copy.get_heads();
    set_title(&mut copy, "v2 by karim");
    let (status, body) = post_sync(
        &fixture,
        &fixture.karim,
        batch::encode(&SyncRequest {
            replica: "laptop-karim".into(),
            documents: vec![delta(doc1_id, copy.get_heads(), copy.save_after(&before))],
        }),
    )
    .await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    assert_eq!(response.documents[0].status, ReplyStatus::Ok);
    let (status, body) = post_sync(
        &fixture,
        &fixture.amina,
        batch::encode(&SyncRequest {
            replica: "laptop-amina".into(),
            documents: vec![delta(doc1_id, doc1.get_heads(), Vec::new())],
        }),
    )
    .await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    doc1.load_incremental(&response.documents[0].changes)
        .unwrap();
    assert_eq!(title_of(&doc1).as_deref(), Some("v2 by karim"));

    let stored = fixture.stop_and_load(doc1_id);
    assert_eq!(stored.get_heads(), copy.get_heads());
    assert_nothing_from_the_attacker(&stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_cannot_write_to_a_document_even_knowing_its_id() {
    let fixture = Fixture::start();
    let address = fixture.server.address;
    let document_id = DocumentId::random();
    let mut doc = new_doc(0x11, "budget 2026");
    let mut author = Peer::connect(address, &fixture.amina, "peer-author").await;
    author
        .sync(document_id, &mut doc, &mut sync::State::new())
        .await;

    // The outsider builds a change on top of the real document (as if it had leaked) and
    // sends it, over the WebSocket and over HTTP.
    let mut forged = doc.fork().with_actor(ActorId::from(&ATTACKER_ACTOR[..]));
    set_title(&mut forged, "taken over");
    let change = forged.get_last_local_change().unwrap().raw_bytes().to_vec();
    let mut outsider = Peer::connect(address, &fixture.youssef, "peer-outsider").await;
    let message = outsider.sync_message(document_id, sync_carrying(&change));
    outsider.send(&message).await;
    match outsider.recv(Duration::from_secs(10)).await {
        Some(Message::DocUnavailable {
            document_id: about, ..
        }) => assert_eq!(about, document_id),
        other => panic!("expected doc-unavailable, got {other:?}"),
    }
    let request = SyncRequest {
        replica: "laptop-youssef".into(),
        documents: vec![delta(document_id, forged.get_heads(), change)],
    };
    let (status, body) = post_sync(&fixture, &fixture.youssef, batch::encode(&request)).await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    assert_eq!(response.documents[0].status, ReplyStatus::Unavailable);
    assert!(response.documents[0].changes.is_empty());

    let stored = fixture.stop_and_load(document_id);
    assert_eq!(stored.get_heads(), doc.get_heads());
    assert_nothing_from_the_attacker(&stored);
}

/// Exactly `size` bytes: an `ephemeral` message whose payload fills the rest.
fn ephemeral_frame(peer: &Peer, document_id: DocumentId, size: usize) -> Vec<u8> {
    let frame = |len: usize| {
        Message::Ephemeral {
            sender_id: peer.id.clone(),
            target_id: peer.server_id.clone(),
            count: 1,
            session_id: "session".into(),
            document_id,
            data: vec![0x5a; len],
        }
        .encode()
    };
    // The byte-string header is 5 bytes long for every length in play.
    let overhead = frame(70_000).len() - 70_000;
    let bytes = frame(size - overhead);
    assert_eq!(bytes.len(), size);
    bytes
}

/// Exactly `size` bytes: a batch for a document the caller cannot see, padded with changes.
fn batch_body(document_id: DocumentId, size: usize) -> Vec<u8> {
    let body = |len: usize| {
        batch::encode(&SyncRequest {
            replica: "laptop".into(),
            documents: vec![delta(document_id, Vec::new(), vec![0; len])],
        })
    };
    let overhead = body(70_000).len() - 70_000;
    let bytes = body(size - overhead);
    assert_eq!(bytes.len(), size);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_at_each_size_limit_pass_and_one_byte_more_fails_clearly() {
    let mut fixture = Fixture::start();
    let address = fixture.server.address;
    // The binary runs with the default limits: `serve` has no option to change them.
    let limits = ServerConfig::default();
    let document_id = DocumentId::random();
    let mut doc = new_doc(0x11, "v1");
    let mut author = Peer::connect(address, &fixture.amina, "peer-author").await;
    author
        .sync(document_id, &mut doc, &mut sync::State::new())
        .await;
    // (Ephemeral messages are relayed to the document's other peers: close this one first.)
    drop(author);

    // A WebSocket message of exactly `max_message_bytes` is accepted: the connection then
    // still syncs.
    let mut peer = Peer::connect(address, &fixture.karim, "peer-big").await;
    let frame = ephemeral_frame(&peer, document_id, limits.max_message_bytes);
    peer.send_bytes(frame).await;
    let mut copy = Automerge::new();
    peer.sync(document_id, &mut copy, &mut sync::State::new())
        .await;
    assert_eq!(copy.get_heads(), doc.get_heads(), "the connection survived");
    // One byte more: the connection is closed.
    let mut peer = Peer::connect(address, &fixture.karim, "peer-too-big").await;
    let frame = ephemeral_frame(&peer, document_id, limits.max_message_bytes + 1);
    let _ = peer.socket.send(Frame::Binary(frame.into())).await;
    let closed = peer.closed_by_server().await;
    println!("over the WebSocket limit: {closed:?}");
    assert!(closed.is_ok(), "the connection stays open: {closed:?}");

    // `POST /v1/sync` takes a body of exactly `max_message_bytes`, not one byte more. The
    // document belongs to another organisation, so the server answers without parsing the
    // padding.
    let theirs = DocumentId::random();
    let (status, _) = post_sync(
        &fixture,
        &fixture.youssef,
        batch::encode(&SyncRequest {
            replica: "laptop-youssef".into(),
            documents: vec![delta(theirs, Vec::new(), new_doc(0x33, "x").save())],
        }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post_sync(
        &fixture,
        &fixture.amina,
        batch_body(theirs, limits.max_message_bytes),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response: SyncResponse = batch::decode(&body).unwrap();
    assert_eq!(response.documents[0].status, ReplyStatus::Unavailable);
    let (status, body) = post_sync(
        &fixture,
        &fixture.amina,
        batch_body(theirs, limits.max_message_bytes + 1),
    )
    .await;
    let body = String::from_utf8_lossy(&body).into_owned();
    println!("over the /v1/sync limit: {status} {body}");
    assert_eq!(status, 413, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert!(json["error"].is_string(), "{body}");

    // The other routes take `max_request_body_bytes`: an admin command (with the secret, from
    // loopback) of exactly that size is read (and refused as not a command); one byte more is
    // refused unread.
    let secret = passerelle_server::admin::ServerFile::read(&fixture.data)
        .unwrap()
        .unwrap()
        .admin_secret;
    for (size, expected) in [
        (limits.max_request_body_bytes, "not an admin command"),
        (limits.max_request_body_bytes + 1, "over"),
    ] {
        let response = http()
            .post(format!("{}/v1/admin/command", fixture.base()))
            .header(
                passerelle_server::admin::ADMIN_SECRET_HEADER,
                secret.expose_secret(),
            )
            .header("content-type", "application/json")
            .body(vec![b' '; size])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.expect("a JSON error");
        let error = json["error"].as_str().unwrap_or_default().to_owned();
        println!("an admin command of {size} bytes: {status} {error}");
        assert!(
            status == 400 && error.contains(expected),
            "{size}: {status} {error}"
        );
    }
    assert!(
        fixture.server.is_running(),
        "the server died:\n{}",
        fixture.server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_and_messages_from_one_client_does_not_stop_the_others() {
    const CONNECTIONS: usize = 200;
    const MESSAGES: usize = 5_000;
    let mut fixture = Fixture::start();
    let address = fixture.server.address;
    let (doc1_id, doc2_id) = (DocumentId::random(), DocumentId::random());
    let mut doc1 = new_doc(0x11, "v1");
    let mut doc2 = new_doc(0x22, "v1");
    let mut author_state = sync::State::new();
    let mut author = Peer::connect(address, &fixture.amina, "peer-author").await;
    author.sync(doc1_id, &mut doc1, &mut author_state).await;
    author
        .sync(doc2_id, &mut doc2, &mut sync::State::new())
        .await;
    let (mut copy, mut reader_state) = (Automerge::new(), sync::State::new());
    let mut reader = Peer::connect(address, &fixture.amina, "peer-reader").await;
    reader.sync(doc1_id, &mut copy, &mut reader_state).await;

    // One client (karim's token) opens and holds 200 connections...
    let start = Instant::now();
    let mut held = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        held.push(Peer::connect(address, &fixture.karim, &format!("flood-{i}")).await);
    }
    println!(
        "{CONNECTIONS} connections opened and joined in {:?}",
        start.elapsed()
    );
    // ...and one of them sends thousands of messages without reading a reply: sync messages
    // for the shared document and requests for documents that do not exist.
    let mut flooder = held.pop().unwrap();
    let sync_data = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap()
        .encode();
    let flood = tokio::spawn(async move {
        let mut sent = 0;
        for i in 0..MESSAGES {
            let message = if i % 2 == 0 {
                flooder.sync_message(doc1_id, sync_data.clone())
            } else {
                Message::Request {
                    sender_id: flooder.id.clone(),
                    target_id: flooder.server_id.clone(),
                    document_id: DocumentId::random(),
                    data: sync_data.clone(),
                }
            };
            let sent_ok = tokio::time::timeout(
                Duration::from_secs(5),
                flooder.socket.send(Frame::Binary(message.encode().into())),
            )
            .await;
            if !matches!(sent_ok, Ok(Ok(()))) {
                break;
            }
            sent += 1;
        }
        (sent, flooder)
    });

    // Meanwhile the well-behaved peers carry on: a change reaches the reader, and a newcomer
    // fetches a document.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    set_title(&mut doc1, "v2 during the flood");
    author.sync(doc1_id, &mut doc1, &mut author_state).await;
    let took = reader
        .until_title(
            doc1_id,
            &mut copy,
            &mut reader_state,
            "v2 during the flood",
            Duration::from_secs(60),
        )
        .await;
    println!(
        "during the flood: the author's sync took {:?}, the reader saw the change after {took:?} more",
        start.elapsed() - took
    );
    let start = Instant::now();
    let mut newcomer = Peer::connect(address, &fixture.amina, "peer-newcomer").await;
    let mut fetched = Automerge::new();
    newcomer
        .sync(doc2_id, &mut fetched, &mut sync::State::new())
        .await;
    assert_eq!(fetched.get_heads(), doc2.get_heads());
    println!(
        "during the flood: a newcomer connected and fetched a document in {:?}",
        start.elapsed()
    );

    let (sent, _flooder) = tokio::time::timeout(Duration::from_secs(120), flood)
        .await
        .expect("the flood ends")
        .unwrap();
    println!("the flooder sent {sent} of {MESSAGES} messages before the server stopped reading");
    assert!(
        fixture.server.is_running(),
        "the server died:\n{}",
        fixture.server.log()
    );
    drop(held);
}

/// Changes that a release build of automerge 0.12 applies and stores without complaint (its
/// checks are `debug_assert!`s), leaving a document that no longer loads once compacted: an
/// overwrite of an op that does not exist, an overwrite of a list element from a map key,
/// and ops numbered below those of the change's dependencies. On top of `doc`, made by
/// [`new_doc`] with `actor`.
fn silently_corrupting_changes(doc: &Automerge, actor: u8) -> Vec<(&'static str, Vec<u8>)> {
    use automerge::legacy::{Key, ObjectId, Op, OpId, OpType, SortedVec};
    let author = ActorId::from(&[actor; 16][..]);
    let overwrite = |pred: OpId| Op {
        action: OpType::Put(automerge::ScalarValue::Int(5)),
        obj: ObjectId::Root,
        key: Key::Map("title".into()),
        pred: SortedVec::from(vec![pred]),
        insert: false,
    };
    let fresh = Op {
        pred: SortedVec::new(),
        key: Key::Map("fresh".into()),
        ..overwrite(OpId(1, author.clone()))
    };
    [
        (
            "an overwrite of an op that does not exist",
            overwrite(OpId(99, author.clone())),
            1_000,
        ),
        (
            "an overwrite of a list element",
            overwrite(OpId(3, author)),
            1_000,
        ),
        ("ops numbered below their dependencies'", fresh, 2),
    ]
    .into_iter()
    .map(|(name, op, start_op)| {
        let change = Change::from(ExpandedChange {
            operations: vec![op],
            actor_id: ActorId::from(&ATTACKER_ACTOR[..]),
            hash: None,
            seq: 1,
            start_op: NonZeroU64::new(start_op).unwrap(),
            time: 0,
            message: None,
            deps: doc.get_heads(),
            extra_bytes: Vec::new(),
            author: None,
        });
        (name, change.raw_bytes().to_vec())
    })
    .collect()
}

/// Malformed ops are refused before anything is stored, over `/ws` (an error, the connection
/// closed) and `/v1/sync` (`status: error` for that document), with the reason; after a
/// restart the server serves the document exactly as the author made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ops_are_refused_and_the_document_survives_a_restart() {
    let fixture = Fixture::start();
    let address = fixture.server.address;
    let doc_id = DocumentId::random();
    let mut doc = new_doc(0x11, "v1");
    let mut author = Peer::connect(address, &fixture.amina, "peer-author").await;
    author.sync(doc_id, &mut doc, &mut sync::State::new()).await;

    for (index, (what, change)) in silently_corrupting_changes(&doc, 0x11)
        .into_iter()
        .enumerate()
    {
        let mut attacker =
            Peer::connect(address, &fixture.amina, &format!("peer-attacker-{index}")).await;
        let message = attacker.sync_message(doc_id, sync_carrying(&change));
        attacker.send(&message).await;
        let error = attacker
            .closed_by_server()
            .await
            .unwrap_or_else(|others| panic!("{what}: not closed; got {others:?}"))
            .unwrap_or_else(|| panic!("{what}: closed without an error message"));
        println!("{what} over /ws: {error}");
        assert!(
            error.contains("malformed sync message: change "),
            "{what}: {error}"
        );

        let hash = Change::try_from(&change[..]).unwrap().hash();
        let request = SyncRequest {
            replica: "laptop-attacker".into(),
            documents: vec![delta(doc_id, vec![hash], change)],
        };
        let (status, body) = post_sync(&fixture, &fixture.amina, batch::encode(&request)).await;
        assert_eq!(status, 200, "{what}");
        let response: SyncResponse = batch::decode(&body).unwrap();
        let reply = &response.documents[0];
        assert_eq!(reply.status, ReplyStatus::Error, "{what}: {reply:?}");
        let message = reply.message.as_deref().unwrap_or_default();
        println!("{what} over /v1/sync: {message}");
        assert!(
            message.contains("malformed changes: change "),
            "{what}: {message}"
        );
    }

    // The author still syncs, then the server restarts on the same data.
    set_title(&mut doc, "v2 after the attack");
    author.sync(doc_id, &mut doc, &mut sync::State::new()).await;
    drop(author);
    let Fixture {
        _dir,
        data,
        server,
        karim,
        ..
    } = fixture;
    server.stop();
    let server = ServeProcess::start(&data);
    let mut reader = Peer::connect(server.address, &karim, "peer-after-restart").await;
    let mut fetched = Automerge::new();
    reader
        .sync(doc_id, &mut fetched, &mut sync::State::new())
        .await;
    assert_eq!(fetched.get_heads(), doc.get_heads());
    assert_eq!(fetched.hydrate(None), doc.hydrate(None));
    assert_nothing_from_the_attacker(&fetched);
    server.stop();
    let storage = _dir.storage(&data);
    let bytes = DocStore::new(storage)
        .load(&doc_id)
        .unwrap()
        .expect("the document is stored");
    let stored = Automerge::load(&bytes).expect("what the server stored loads");
    let compacted = Automerge::load(&stored.save()).expect("and loads again once compacted");
    assert_eq!(compacted.hydrate(None), doc.hydrate(None));
    assert_nothing_from_the_attacker(&compacted);
}

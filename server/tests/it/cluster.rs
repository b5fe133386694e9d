//! Several instances of the real `passerelle-server` binary on one PostgreSQL database
//! (`serve --store postgres://…`), on loopback: a change accepted by one instance reaches a
//! WebSocket client of another, the changes feed's cursors work across instances, an
//! instance killed mid-sync loses nothing it acknowledged, and access changes (a token
//! revoked by an admin command on the database, a rule shared through one instance) apply on
//! all. Each test makes its own database (`PASSERELLE_TEST_POSTGRES`; skipped without it,
//! failed under CI).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use passerelle_core::batch::{self, DocumentDelta, SyncRequest, SyncResponse};
use passerelle_core::{DecodeLimits, DocumentId, Message, PeerId, PeerMetadata};
use passerelle_store::testing::TestDatabase;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{self, ServeProcess, changes};

/// Instances sharing one database, each with a data directory of its own.
struct Instances {
    db: TestDatabase,
    dir: tempfile::TempDir,
    servers: Vec<Option<ServeProcess>>,
}

impl Instances {
    fn start(test: &str, count: usize) -> Option<Self> {
        let db = TestDatabase::create(test)?;
        let dir = tempfile::tempdir().unwrap();
        let mut instances = Self {
            db,
            dir,
            servers: Vec::new(),
        };
        for n in 0..count {
            let server = ServeProcess::start_with(
                &instances.data(n),
                &[
                    "--store",
                    instances.db.url(),
                    // Evicted a second after use: a change made elsewhere must then wake
                    // the document's subscribers, the harder path.
                    "--evict-idle-secs",
                    "1",
                ],
            );
            instances.servers.push(Some(server));
        }
        Some(instances)
    }

    fn data(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("instance-{n}"))
    }

    fn base(&self, n: usize) -> String {
        format!("http://{}", self.server(n).address)
    }

    fn server(&self, n: usize) -> &ServeProcess {
        self.servers[n].as_ref().expect("running")
    }

    /// An admin command run on the database (no instance is asked).
    fn admin(&self, args: &[&str]) -> String {
        let mut args = args.to_vec();
        args.extend(["--store", self.db.url()]);
        let scratch = self.dir.path().join("admin");
        let output = common::run(&args, &scratch);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::stderr(&output)
        );
        common::stdout(&output)
    }

    fn user(&self, name: &str, org: &str, role: &str) -> String {
        let out = self.admin(&["user", "add", name, "--org", org, "--role", role]);
        out.lines().last().unwrap().trim().to_owned()
    }

    fn logs(&self) -> String {
        self.servers
            .iter()
            .flatten()
            .enumerate()
            .map(|(n, s)| format!("--- instance {n}:\n{}", s.log()))
            .collect()
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking the automerge-repo protocol, holding one document.
struct Peer {
    id: PeerId,
    socket: Socket,
    server: PeerId,
    document_id: DocumentId,
    doc: Automerge,
    state: sync::State,
}

impl Peer {
    async fn connect(base: &str, token: &str, id: &str, document_id: DocumentId) -> Self {
        let url = format!("{}/ws?token={token}", base.replace("http://", "ws://"));
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut peer = Self {
            id: id.parse().unwrap(),
            socket,
            server: "unknown".parse().unwrap(),
            document_id,
            doc: Automerge::new(),
            state: sync::State::new(),
        };
        peer.send(Message::Join {
            sender_id: peer.id.clone(),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: vec!["1".into()],
        })
        .await;
        match peer.recv(Duration::from_secs(5)).await {
            Some(Message::Peer { sender_id, .. }) => peer.server = sender_id,
            other => panic!("expected a peer message, got {other:?}"),
        }
        peer
    }

    async fn send(&mut self, message: Message) {
        self.socket
            .send(Frame::Binary(message.encode().into()))
            .await
            .unwrap();
    }

    async fn recv(&mut self, within: Duration) -> Option<Message> {
        loop {
            let frame = tokio::time::timeout(within, self.socket.next())
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

    /// Sends our next sync message, if automerge has one.
    async fn offer(&mut self) {
        let Some(message) = self.doc.generate_sync_message(&mut self.state) else {
            return;
        };
        let (sender_id, target_id, document_id) =
            (self.id.clone(), self.server.clone(), self.document_id);
        let data = message.encode();
        self.send(if self.doc.get_heads().is_empty() {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        })
        .await;
    }

    /// Takes the server's messages (answering each) until `done` holds of the document, or
    /// `within` passes; whether it held.
    async fn follow_until(&mut self, within: Duration, done: impl Fn(&Automerge) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !done(&self.doc) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.recv(left).await {
                Some(Message::Sync { data, .. }) | Some(Message::Request { data, .. }) => {
                    let message = sync::Message::decode(&data).unwrap();
                    self.doc
                        .receive_sync_message(&mut self.state, message)
                        .unwrap();
                    self.offer().await;
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => return false,
            }
        }
        true
    }

    /// Syncs until the server has nothing more to say for a moment.
    async fn settle(&mut self) {
        self.offer().await;
        while let Some(message) = self.recv(Duration::from_millis(700)).await {
            if let Message::Sync { data, .. } | Message::Request { data, .. } = message {
                let message = sync::Message::decode(&data).unwrap();
                self.doc
                    .receive_sync_message(&mut self.state, message)
                    .unwrap();
                self.offer().await;
            }
        }
    }

    /// Makes a change and offers it.
    async fn put(&mut self, key: &str, value: i64) {
        let mut tx = self.doc.transaction();
        tx.put(automerge::ROOT, key, value).unwrap();
        tx.commit();
        self.offer().await;
    }
}

fn value(doc: &Automerge, key: &str) -> Option<i64> {
    doc.get(automerge::ROOT, key)
        .unwrap()
        .and_then(|(v, _)| v.as_scalar().and_then(|s| s.as_i64()))
}

/// One batch sync of `doc` (all of it); the reply's changes are merged into it. `None` when
/// the request failed (an instance killed under it).
async fn batch_sync(
    base: &str,
    token: &str,
    replica: &str,
    id: DocumentId,
    doc: &mut Automerge,
) -> Option<SyncResponse> {
    let request = SyncRequest {
        replica: replica.into(),
        documents: vec![DocumentDelta {
            id: id.to_string(),
            heads: batch::to_wire(&doc.get_heads()),
            changes: doc.save(),
        }],
    };
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(batch::encode(&request))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let response: SyncResponse = batch::decode(&response.bytes().await.ok()?).ok()?;
    for reply in &response.documents {
        if !reply.changes.is_empty() {
            doc.load_incremental(&reply.changes).unwrap();
        }
    }
    Some(response)
}

/// The document as the database holds it.
fn stored(db: &TestDatabase, id: &DocumentId) -> Automerge {
    let storage: std::sync::Arc<dyn passerelle_store::Storage> = std::sync::Arc::new(db.storage());
    let docs = passerelle_store::DocStore::new(storage);
    Automerge::load(&docs.load(id).unwrap().expect("stored")).unwrap()
}

fn has_all(doc: &Automerge, heads: &[ChangeHash]) -> bool {
    doc.get_missing_deps(heads).is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_reaches_clients_of_the_others_and_cursors_travel() {
    let Some(cluster) = Instances::start("a_change_through_one_instance_reaches_clients", 3) else {
        return;
    };
    let amina = cluster.user("amina", "ville-de-lille", "editor");
    let (a, b, c) = (cluster.base(0), cluster.base(1), cluster.base(2));
    let document_id = DocumentId::random();

    // Amina creates the document through A; clients on B and C follow it.
    let mut on_a = Peer::connect(&a, &amina, "peer-a", document_id).await;
    on_a.put("visits", 1).await;
    on_a.settle().await;
    let cursor_a = changes(&a, &amina, None, 0).await.cursor;
    let mut on_b = Peer::connect(&b, &amina, "peer-b", document_id).await;
    let mut on_c = Peer::connect(&c, &amina, "peer-c", document_id).await;
    for peer in [&mut on_b, &mut on_c] {
        peer.offer().await;
        let synced = peer
            .follow_until(Duration::from_secs(10), |d| value(d, "visits") == Some(1))
            .await;
        assert!(
            synced,
            "a client of another instance reads it; logs:\n{}",
            cluster.logs()
        );
    }
    // Past the eviction delay: C no longer holds the document in memory.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    // A change through A reaches the client on C (and on B), live.
    let started = Instant::now();
    on_a.put("visits", 2).await;
    let reached = on_c
        .follow_until(Duration::from_secs(10), |d| value(d, "visits") == Some(2))
        .await;
    let delay = started.elapsed();
    assert!(
        reached,
        "the change never reached C; logs:\n{}",
        cluster.logs()
    );
    eprintln!("a change through A reached a WebSocket client of C in {delay:?}");
    assert!(
        on_b.follow_until(Duration::from_secs(10), |d| value(d, "visits") == Some(2))
            .await
    );

    // And the other way: a change through C reaches A's client.
    on_c.put("reports", 1).await;
    assert!(
        on_a.follow_until(Duration::from_secs(10), |d| value(d, "reports") == Some(1))
            .await,
        "logs:\n{}",
        cluster.logs()
    );

    // A cursor from A's feed, used on B, lists what changed since (long poll).
    let heads = on_c.doc.get_heads();
    let mut expected: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = changes(&b, &amina, Some(&cursor_a), 5).await;
        assert!(!listed.reset, "a cursor of A works on B");
        let entry = listed
            .documents
            .iter()
            .find(|d| d.id == document_id.to_string());
        let listed_heads = entry.map(|d| {
            let mut heads = d.heads.clone();
            heads.sort();
            heads
        });
        if listed_heads.as_ref() == Some(&expected) {
            let stored = stored(&cluster.db, &document_id);
            assert!(has_all(&stored, &heads));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's feed never listed it: {listed:?}"
        );
    }
    // And the newest cursor of any instance is a cursor of all.
    let newest_c = changes(&c, &amina, Some(&cursor_a), 0).await.cursor;
    let after = changes(&a, &amina, Some(&newest_c), 0).await;
    assert!(!after.reset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_sync_loses_nothing_it_acknowledged() {
    let Some(mut cluster) = Instances::start("an_instance_killed_mid_sync_loses_nothing", 3) else {
        return;
    };
    let amina = cluster.user("amina", "ville-de-lille", "editor");
    let bases: Vec<String> = (0..3).map(|n| cluster.base(n)).collect();
    let shared: Vec<DocumentId> = (0..4).map(|_| DocumentId::random()).collect();

    // Six clients, two per instance, each editing every shared document in turn and
    // syncing through its instance; what each reply acknowledges is recorded.
    let mut tasks = Vec::new();
    let (kill_tx, kill_rx) = tokio::sync::watch::channel(false);
    for client in 0..6usize {
        let (token, bases, shared) = (amina.clone(), bases.clone(), shared.clone());
        let killed = kill_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut base = bases[client % 3].clone();
            let mut docs: Vec<Automerge> = shared.iter().map(|_| Automerge::new()).collect();
            let mut acknowledged: Vec<(DocumentId, Vec<ChangeHash>)> = Vec::new();
            for round in 0..30i64 {
                let n = round as usize % shared.len();
                let mut tx = docs[n].transaction();
                tx.put(automerge::ROOT, format!("client-{client}"), round)
                    .unwrap();
                tx.commit();
                let replica = format!("peer-client-{client}");
                let mut synced = batch_sync(&base, &token, &replica, shared[n], &mut docs[n]).await;
                if synced.is_none() {
                    // Its instance is gone: the client is pointed at a surviving one.
                    assert!(*killed.borrow(), "a sync failed with every instance up");
                    base = bases[(client + 1) % 3].clone();
                    synced = batch_sync(&base, &token, &replica, shared[n], &mut docs[n]).await;
                }
                let synced = synced.expect("a surviving instance answers");
                let heads = batch::from_wire(&synced.documents[0].heads);
                acknowledged.push((shared[n], heads));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (base, docs, acknowledged)
        }));
    }
    // A cursor of the shared feed (A's works on C), to see the new epoch after the death.
    let old = loop {
        let cursor = changes(&bases[0], &amina, None, 0).await.cursor;
        if !changes(&bases[2], &amina, Some(&cursor), 0).await.reset {
            break cursor;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Mid-run, instance 1 (B) dies.
    tokio::time::sleep(Duration::from_millis(600)).await;
    kill_tx.send(true).unwrap();
    let victim = cluster.servers[1].take().unwrap();
    drop(victim); // SIGKILL
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }

    // Every change any instance acknowledged is in the database.
    for (_, _, acknowledged) in &results {
        for (id, heads) in acknowledged {
            let stored = stored(&cluster.db, id);
            assert!(has_all(&stored, heads), "an acknowledged change was lost");
        }
    }
    // Every client converges: a final sync through a surviving instance brings everyone's
    // changes, and a WebSocket client of the other survivor reads the same.
    let survivor = cluster.base(2);
    let mut finals = Vec::new();
    for (client, (_, mut docs, _)) in results.into_iter().enumerate() {
        for (n, id) in shared.iter().enumerate() {
            let replica = format!("peer-client-{client}");
            batch_sync(&survivor, &amina, &replica, *id, &mut docs[n])
                .await
                .expect("sync");
        }
        finals.push(docs);
    }
    for (n, id) in shared.iter().enumerate() {
        let stored = stored(&cluster.db, id);
        for docs in &finals {
            assert!(has_all(&docs[n], &stored.get_heads()));
        }
        for client in 0..6 {
            assert!(value(&stored, &format!("client-{client}")).is_some());
        }
        let mut reader = Peer::connect(&cluster.base(0), &amina, "peer-reader", *id).await;
        reader.offer().await;
        let heads = stored.get_heads();
        assert!(
            reader
                .follow_until(Duration::from_secs(10), |d| has_all(d, &heads))
                .await,
            "logs:\n{}",
            cluster.logs()
        );
    }
    // The survivors noticed the dead instance's lease: a new epoch, so a client's old
    // cursor is reset (it compares everything once, missing nothing B stored unlisted).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if changes(&cluster.base(0), &amina, Some(&old), 0).await.reset {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new epoch after an instance died; logs:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_changes_on_the_database_or_one_instance_apply_on_all() {
    let Some(cluster) = Instances::start("access_changes_apply_on_all", 3) else {
        return;
    };
    let amina = cluster.user("amina", "ville-de-lille", "admin");
    let youssef = cluster.user("youssef", "commune-oujda", "editor");
    let bases: Vec<String> = (0..3).map(|n| cluster.base(n)).collect();
    let (document_id, doc) = created(&bases[0], &amina, "title", "jumelage").await;
    // Youssef (another organisation) cannot read it anywhere...
    for base in &bases {
        let mut copy = Automerge::new();
        let reply = batch_sync(base, &youssef, "peer-youssef", document_id, &mut copy)
            .await
            .unwrap();
        assert!(copy.get_heads().is_empty(), "{reply:?}");
    }
    // ...until Amina shares it through B; then on every instance.
    share_with_oujda(&bases[1], &amina, document_id, "read").await;
    // The other instances cached the rules when they refused him: the change applies there
    // once the notification of the write arrives (milliseconds), hence the polling.
    for base in &bases {
        assert!(
            reads_within(base, &youssef, document_id, true).await,
            "shared, yet not readable through {base}"
        );
        let mut copy = Automerge::new();
        batch_sync(base, &youssef, "peer-youssef", document_id, &mut copy)
            .await
            .unwrap();
        assert_eq!(
            copy.get_heads(),
            doc.get_heads(),
            "shared, read through {base}"
        );
    }
    // A token revoked by an admin command on the database is refused by every instance.
    let fresh_token = cluster
        .admin(&["token", "create", "youssef"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    cluster.admin(&["token", "revoke", &youssef]);
    for base in &bases {
        let status = reqwest::Client::new()
            .get(format!("{base}/v1/whoami"))
            .bearer_auth(&youssef)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401, "revoked, yet {base} accepts it");
        let fresh = reqwest::Client::new()
            .get(format!("{base}/v1/whoami"))
            .bearer_auth(&fresh_token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(fresh, 200, "a token made on the database works on {base}");
    }
}

/// Whether `token` reads the document through `base` (one batch sync of an empty replica:
/// it gets the document's changes or nothing), asked again every 50 ms until the answer is
/// `readable` or 5 s pass. A change of the rules made elsewhere applies once its
/// notification reaches the instance, within milliseconds; 5 s is for a loaded machine.
async fn reads_within(base: &str, token: &str, id: DocumentId, readable: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut copy = Automerge::new();
        let answer = batch_sync(base, token, "peer-reader", id, &mut copy).await;
        if answer.is_some() && copy.get_heads().is_empty() != readable {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The rules of documents, written by this process on the database as an admin command
/// would (the same `AuthStore` over the same storage), beside the instances.
fn rules_on_the_database(db: &TestDatabase) -> passerelle_server::auth::AuthStore {
    passerelle_server::auth::AuthStore::new(std::sync::Arc::new(db.storage()))
}

fn org_rule(org: &str, access: passerelle_server::auth::Access) -> passerelle_server::auth::Rule {
    passerelle_server::auth::Rule {
        subject: passerelle_server::auth::Subject::Org(org.parse().unwrap()),
        access,
    }
}

fn admin_of(user: &str, org: &str) -> passerelle_server::auth::Principal {
    passerelle_server::auth::Principal {
        user: user.parse().unwrap(),
        org: org.parse().unwrap(),
        role: passerelle_server::auth::Role::Admin,
    }
}

/// A document Amina (admin of ville-de-lille) creates through `base`, readable by
/// commune-oujda's members, and read through `base` by Youssef (so that `base` caches its
/// rules). Returns Youssef's token and the document.
/// A new document holding `field: value`, created by `token`'s user through the instance
/// at `base` (one batch sync, acknowledged).
async fn created(base: &str, token: &str, field: &str, value: &str) -> (DocumentId, Automerge) {
    let document_id = DocumentId::random();
    let mut doc = Automerge::new();
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(automerge::ROOT, field, value)?;
        Ok(())
    })
    .unwrap();
    batch_sync(base, token, "peer-amina", document_id, &mut doc)
        .await
        .expect("created");
    (document_id, doc)
}

/// Sets the access of the organisation commune-oujda to `doc` through the instance at `base`.
async fn share_with_oujda(base: &str, token: &str, doc: DocumentId, access: &str) {
    let shared = reqwest::Client::new()
        .put(format!("{base}/v1/docs/{doc}/access"))
        .bearer_auth(token)
        .json(&serde_json::json!({"subject": "org:commune-oujda", "access": access}))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), 200, "{}", shared.text().await.unwrap());
}

async fn shared_and_read(cluster: &Instances, base: &str) -> (String, String, DocumentId) {
    let amina = cluster.user("amina", "ville-de-lille", "admin");
    let youssef = cluster.user("youssef", "commune-oujda", "editor");
    let (document_id, _) = created(base, &amina, "title", "jumelage").await;
    share_with_oujda(base, &amina, document_id, "read").await;
    assert!(reads_within(base, &youssef, document_id, true).await);
    (amina, youssef, document_id)
}

/// The ACL cache on PostgreSQL: rules instance A cached (a client of A read the document)
/// are changed through instance B, by another process on the database (an admin command's
/// `AuthStore`), and by plain SQL; each change applies on A (within its notification's
/// delivery). Fails if A does not forget its cached rules when notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_cached_by_one_instance_follow_changes_made_elsewhere() {
    let Some(cluster) = Instances::start("rules_cached_follow_changes", 2) else {
        return;
    };
    let (a, b) = (cluster.base(0), cluster.base(1));
    let (amina, youssef, document_id) = shared_and_read(&cluster, &a).await;
    // Checked again and again by A: served from its cache.
    for _ in 0..3 {
        assert!(reads_within(&a, &youssef, document_id, true).await);
    }

    // Revoked through B.
    share_with_oujda(&b, &amina, document_id, "none").await;
    assert!(
        reads_within(&a, &youssef, document_id, false).await,
        "revoked through B, yet A still serves the document; logs:\n{}",
        cluster.logs()
    );

    // Granted again by another process on the database.
    let rules = rules_on_the_database(&cluster.db);
    let amina_admin = admin_of("amina", "ville-de-lille");
    let grant = org_rule("commune-oujda", passerelle_server::auth::Access::Read);
    rules
        .set_rule(&document_id, &amina_admin, grant)
        .unwrap()
        .unwrap();
    assert!(
        reads_within(&a, &youssef, document_id, true).await,
        "granted on the database, yet A refuses"
    );

    // The rules replaced by hand in SQL with those of another of Amina's documents, which
    // she did not share.
    let (other_id, _) = created(&b, &amina, "title", "budget").await;
    let acl_key = |id: DocumentId| {
        let key = passerelle_store::StorageKey::try_new(["acl", &id.to_string()]).unwrap();
        format!("'\\x{}'::bytea", hex::encode(key.to_ordered_bytes()))
    };
    cluster
        .db
        .execute(&format!(
            "UPDATE passerelle_kv SET value = (SELECT value FROM passerelle_kv WHERE key = {})
             WHERE key = {}",
            acl_key(other_id),
            acl_key(document_id)
        ))
        .unwrap();
    assert!(
        reads_within(&a, &youssef, document_id, false).await,
        "its rules replaced in SQL, yet A serves the document"
    );
}

/// While the listener of an instance is not connected, nothing it cached is trusted: its
/// connection is terminated (`pg_terminate_backend`), and its reconnection is held back
/// (this test holds the lock under which a listener sets up its tables), so the rules
/// changed meanwhile are never notified to it; its next check still sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_listener_is_down_applies() {
    let Some(cluster) = Instances::start("change_while_listener_down", 1) else {
        return;
    };
    let a = cluster.base(0);
    let (_, youssef, document_id) = shared_and_read(&cluster, &a).await;
    assert!(reads_within(&a, &youssef, document_id, true).await);
    let rules = rules_on_the_database(&cluster.db);
    let amina_admin = admin_of("amina", "ville-de-lille");
    // Opens the storage's connections and its lock connection now.
    rules.acl(&document_id).unwrap().expect("exists");

    let (admin, connection) = tokio_postgres::connect(cluster.db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&passerelle_server::cluster::SCHEMA_LOCK],
        )
        .await
        .unwrap();
    let listeners = "SELECT pid FROM pg_stat_activity
                     WHERE datname = current_database() AND application_name = $1";
    let application = passerelle_server::cluster::LISTENER_APPLICATION;
    let old: Vec<i32> = admin
        .query(listeners, &[&application])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(old.len(), 1, "one listener: {old:?}");
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&old[0]])
        .await
        .unwrap();
    // Down once its new connection waits for the lock (the old one has ended first).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: Vec<i32> = admin
            .query(
                &format!("{listeners} AND wait_event_type = 'Lock' AND pid <> $2"),
                &[&application, &old[0]],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        if !waiting.is_empty()
            && cluster
                .server(0)
                .log()
                .contains("listening connection failed")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the listener did not come back; log:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Revoked while nobody tells A: its very next check refuses (no polling here).
    let subject = passerelle_server::auth::Subject::Org("commune-oujda".parse().unwrap());
    rules
        .remove_rule(&document_id, &amina_admin, &subject)
        .unwrap()
        .unwrap();
    let mut copy = Automerge::new();
    batch_sync(&a, &youssef, "peer-reader", document_id, &mut copy)
        .await
        .expect("answered");
    assert!(
        copy.get_heads().is_empty(),
        "revoked while A's listener was down, yet A served the document"
    );

    // Listening again: changes apply as before.
    admin
        .execute(
            "SELECT pg_advisory_unlock($1)",
            &[&passerelle_server::cluster::SCHEMA_LOCK],
        )
        .await
        .unwrap();
    let grant = org_rule("commune-oujda", passerelle_server::auth::Access::Read);
    rules
        .set_rule(&document_id, &amina_admin, grant)
        .unwrap()
        .unwrap();
    assert!(reads_within(&a, &youssef, document_id, true).await);
    let subject = passerelle_server::auth::Subject::Org("commune-oujda".parse().unwrap());
    rules
        .remove_rule(&document_id, &amina_admin, &subject)
        .unwrap()
        .unwrap();
    assert!(reads_within(&a, &youssef, document_id, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_through_one_instance_is_told_and_kept_by_all() {
    let Some(cluster) = Instances::start("an_erasure_through_one_instance", 3) else {
        return;
    };
    let amina = cluster.user("amina", "ville-de-lille", "admin");
    let bases: Vec<String> = (0..3).map(|n| cluster.base(n)).collect();
    let (document_id, doc) = created(&bases[0], &amina, "name", "Karim Benali").await;
    // C holds it in memory for a client (WebSocket), B's feed has a cursor from before.
    let mut on_c = Peer::connect(&bases[2], &amina, "peer-c", document_id).await;
    on_c.offer().await;
    assert!(
        on_c.follow_until(Duration::from_secs(10), |d| d.get_heads()
            == doc.get_heads())
            .await
    );
    let cursor = changes(&bases[1], &amina, None, 0).await.cursor;

    let erased = reqwest::Client::new()
        .delete(format!("{}/v1/docs/{document_id}", bases[0]))
        .bearer_auth(&amina)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200, "{}", erased.text().await.unwrap());

    // B's feed tells of the erasure (a client there deletes its copy)...
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = changes(&bases[1], &amina, Some(&cursor), 5).await;
        assert!(!listed.reset);
        if listed
            .documents
            .iter()
            .any(|d| d.id == document_id.to_string() && d.deleted)
        {
            break;
        }
        assert!(Instant::now() < deadline, "B never listed the erasure");
    }
    // ...nothing of it is left in the database, and no instance takes it back, C included
    // (which held it in memory), from a replica that still has it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let storage: std::sync::Arc<dyn passerelle_store::Storage> =
        std::sync::Arc::new(cluster.db.storage());
    let docs = passerelle_store::DocStore::new(storage);
    assert!(docs.load(&document_id).unwrap().is_none());
    for base in &bases {
        let mut copy = doc.clone();
        let reply = batch_sync(base, &amina, "peer-laptop", document_id, &mut copy)
            .await
            .unwrap();
        assert_eq!(
            reply.documents[0].status,
            batch::ReplyStatus::Unavailable,
            "{base} took an erased document back"
        );
    }
    assert!(docs.load(&document_id).unwrap().is_none());
}

//! End-to-end tests of the batch sync (`POST /v1/sync`) and the changes feed
//! (`GET /v1/changes`) on a real socket over a real sled store.

use crate::common;

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc};
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, DocumentDelta, ReplyStatus, SyncRequest, SyncResponse};
use passerelle_server::auth::{OrgName, Role, UserName};
use passerelle_server::sync::ChangesResponse;
use passerelle_server::{AppState, ServerConfig};

struct Server {
    base: String,
    state: AppState,
    _dir: common::TestData,
}

impl Server {
    async fn start() -> Self {
        let dir = common::TestData::new(module_path!());
        let storage = dir.storage(dir.path());
        let state = AppState::new(storage, ServerConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(passerelle_server::run(
            listener,
            state.clone(),
            std::future::pending(),
        ));
        Self {
            base,
            state,
            _dir: dir,
        }
    }

    fn user(&self, name: &str, org: &str, role: Role) -> String {
        self.state
            .auth()
            .add_user(
                &UserName::new(name).unwrap(),
                &OrgName::new(org).unwrap(),
                role,
            )
            .unwrap()
            .unwrap()
            .token
            .token
            .expose_secret()
            .to_owned()
    }
}

async fn post_sync(server: &Server, token: &str, request: &SyncRequest) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sync", server.base))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(batch::encode(request))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn sync(server: &Server, token: &str, docs: &mut [(DocumentId, Automerge)]) -> SyncResponse {
    let request = SyncRequest {
        replica: "peer-test-laptop".into(),
        documents: docs
            .iter()
            .map(|(id, doc)| DocumentDelta {
                id: id.to_string(),
                heads: batch::to_wire(&doc.get_heads()),
                changes: if doc.get_heads().is_empty() {
                    Vec::new()
                } else {
                    doc.save()
                },
            })
            .collect(),
    };
    let (status, body) = post_sync(server, token, &request).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response: SyncResponse = batch::decode(&body).unwrap();
    for ((_, doc), reply) in docs.iter_mut().zip(&response.documents) {
        if !reply.changes.is_empty() {
            doc.load_incremental(&reply.changes).unwrap();
        }
    }
    response
}

fn doc_with(key: &str, value: i64) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, key, value).unwrap();
    tx.commit();
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_syncs_many_documents_both_ways_and_a_retry_is_harmless() {
    let server = Server::start().await;
    let oujda = server.user("officer", "ville-de-lille", Role::Editor);
    let lille = server.user("lille", "ville-de-lille", Role::Editor);

    // The officer creates 20 documents offline, then syncs them in one request.
    let mut laptop: Vec<(DocumentId, Automerge)> = (0..20)
        .map(|i| (DocumentId::random(), doc_with("entry", i)))
        .collect();
    let response = sync(&server, &oujda, &mut laptop).await;
    assert!(
        response
            .documents
            .iter()
            .all(|r| r.status == ReplyStatus::Ok && r.changes.is_empty() && r.missing.is_empty()),
        "{response:?}"
    );
    for ((_, doc), reply) in laptop.iter().zip(&response.documents) {
        assert_eq!(batch::from_wire(&reply.heads), doc.get_heads());
    }

    // Lille, with nothing, fetches them all in one request.
    let mut desk: Vec<(DocumentId, Automerge)> = laptop
        .iter()
        .map(|(id, _)| (*id, Automerge::new()))
        .collect();
    let request = SyncRequest {
        replica: "peer-lille-desk".into(),
        documents: desk
            .iter()
            .map(|(id, _)| DocumentDelta {
                id: id.to_string(),
                heads: Vec::new(),
                changes: Vec::new(),
            })
            .collect(),
    };
    let (status, body) = post_sync(&server, &lille, &request).await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    for ((_, doc), reply) in desk.iter_mut().zip(&response.documents) {
        doc.load_incremental(&reply.changes).unwrap();
    }
    for ((_, a), (_, b)) in laptop.iter().zip(&desk) {
        assert_eq!(a.get_heads(), b.get_heads());
    }

    // Concurrent edits on both sides merge; the same request sent twice changes nothing.
    let mut tx = laptop[0].1.transaction();
    tx.put(automerge::ROOT, "oujda", "vu sur place").unwrap();
    tx.commit();
    let mut tx = desk[0].1.transaction();
    tx.put(automerge::ROOT, "lille", "validé").unwrap();
    tx.commit();
    sync(&server, &lille, &mut desk[..1]).await;
    let first = sync(&server, &oujda, &mut laptop[..1]).await;
    let again = sync(&server, &oujda, &mut laptop[..1]).await;
    assert_eq!(first.documents[0].heads, again.documents[0].heads);
    let merged = &laptop[0].1;
    assert!(merged.get(automerge::ROOT, "oujda").unwrap().is_some());
    assert!(merged.get(automerge::ROOT, "lille").unwrap().is_some());
    assert_eq!(
        batch::from_wire(&first.documents[0].heads),
        merged.get_heads()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_apply_to_every_document_of_a_batch() {
    let server = Server::start().await;
    let editor = server.user("amina", "ville-de-lille", Role::Editor);
    let viewer = server.user("victor", "ville-de-lille", Role::Viewer);
    let outsider = server.user("youssef", "commune-oujda", Role::Editor);
    let mut docs = vec![(DocumentId::random(), doc_with("budget", 100))];
    sync(&server, &editor, &mut docs).await;
    let id = docs[0].0;

    // The outsider gets `unavailable`, like for a document that does not exist.
    let mut theirs = vec![
        (id, Automerge::new()),
        (DocumentId::random(), Automerge::new()),
    ];
    let response = sync(&server, &outsider, &mut theirs).await;
    assert!(
        response
            .documents
            .iter()
            .all(|r| r.status == ReplyStatus::Unavailable && r.changes.is_empty())
    );

    // The viewer reads; its changes are refused and never reach the editor.
    let mut mine = vec![(id, Automerge::new())];
    sync(&server, &viewer, &mut mine).await;
    assert_eq!(mine[0].1.get_heads(), docs[0].1.get_heads());
    let mut tx = mine[0].1.transaction();
    tx.put(automerge::ROOT, "budget", 1_000_000).unwrap();
    tx.commit();
    let response = sync(&server, &viewer, &mut mine).await;
    assert_eq!(response.documents[0].status, ReplyStatus::Refused);
    let before = docs[0].1.get_heads();
    let response = sync(&server, &editor, &mut docs).await;
    assert_eq!(batch::from_wire(&response.documents[0].heads), before);

    // A malformed body, an unknown document id, or no token: clear 4xx errors.
    let (status, body) = {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/sync", server.base))
            .bearer_auth(&editor)
            .body(vec![0xff, 0x01])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 400);
    assert!(body.contains("malformed batch"), "{body}");
    let request = SyncRequest {
        replica: "peer-x".into(),
        documents: vec![DocumentDelta {
            id: "not-an-id".into(),
            heads: vec![],
            changes: vec![],
        }],
    };
    let (status, body) = post_sync(&server, &editor, &request).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("not-an-id"));
    let (status, _) = post_sync(&server, "psl_wrong", &request).await;
    assert_eq!(status, 401);
    // Malformed changes for one document: an error for that document only.
    let request = SyncRequest {
        replica: "peer-x".into(),
        documents: vec![
            DocumentDelta {
                id: id.to_string(),
                heads: vec![batch::Hash([9; 32])],
                changes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
            },
            DocumentDelta {
                id: id.to_string(),
                heads: vec![],
                changes: vec![],
            },
        ],
    };
    let (status, body) = post_sync(&server, &editor, &request).await;
    assert_eq!(status, 200);
    let response: SyncResponse = batch::decode(&body).unwrap();
    assert_eq!(response.documents[0].status, ReplyStatus::Error);
    assert_eq!(response.documents[1].status, ReplyStatus::Ok);
    let _: Vec<ChangeHash> = batch::from_wire(&response.documents[1].heads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changes_feed_lists_only_what_changed_and_what_the_caller_may_read() {
    let server = Server::start().await;
    let lille = server.user("amina", "ville-de-lille", Role::Editor);
    let oujda = server.user("youssef", "commune-oujda", Role::Editor);
    let mut lille_docs: Vec<(DocumentId, Automerge)> = (0..5)
        .map(|i| (DocumentId::random(), doc_with("n", i)))
        .collect();
    sync(&server, &lille, &mut lille_docs).await;
    let mut oujda_docs = vec![(DocumentId::random(), doc_with("n", 99))];
    sync(&server, &oujda, &mut oujda_docs).await;

    // First call: a reset listing everything visible to the caller, and nothing else.
    let first = common::changes(&server.base, &lille, None, 0).await;
    assert!(first.reset);
    let mut listed: Vec<String> = first.documents.iter().map(|d| d.id.clone()).collect();
    listed.sort();
    let mut expected: Vec<String> = lille_docs.iter().map(|(id, _)| id.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);

    // Nothing changed since: empty.
    let quiet = common::changes(&server.base, &lille, Some(&first.cursor), 0).await;
    assert!(!quiet.reset && quiet.documents.is_empty());

    // A long poll returns as soon as a document changes, with its new heads; changes to
    // documents of another organisation are not shown.
    let cursor = quiet.cursor.clone();
    let waiter = {
        let base = server.base.clone();
        let token = lille.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let response = reqwest::Client::new()
                .get(format!("{base}/v1/changes?since={cursor}&wait=20"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let body: ChangesResponse = response.json().await.unwrap();
            (body, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tx = oujda_docs[0].1.transaction();
    tx.put(automerge::ROOT, "n", 100).unwrap();
    tx.commit();
    sync(&server, &oujda, &mut oujda_docs).await;
    let mut tx = lille_docs[2].1.transaction();
    tx.put(automerge::ROOT, "n", 42).unwrap();
    tx.commit();
    sync(&server, &lille, &mut lille_docs[2..3]).await;
    let (moved, waited) = waiter.await.unwrap();
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(!moved.reset);
    assert_eq!(moved.documents.len(), 1, "{:?}", moved.documents);
    assert_eq!(moved.documents[0].id, lille_docs[2].0.to_string());
    let heads: Vec<String> = lille_docs[2]
        .1
        .get_heads()
        .iter()
        .map(|h| h.to_string())
        .collect();
    assert_eq!(moved.documents[0].heads, heads);

    // A cursor that does not parse is a 400.
    let response = reqwest::Client::new()
        .get(format!("{}/v1/changes?since=garbage", server.base))
        .bearer_auth(&lille)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

//! Compressed uploads to the real server binary: `POST /v1/sync` takes a gzip body
//! (`Content-Encoding: gzip`) as it takes a plain one, and the body limit (64 MiB) applies
//! to the decompressed bytes, so a gzip bomb gets 413 and the server carries on, without
//! ever holding the bomb's decompressed size in memory. Broken gzip is a 400, an encoding
//! the server does not speak a 415.

use std::io::Write as _;
use std::time::Duration;

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ROOT, ReadDoc as _};
use flate2::Compression;
use flate2::write::GzEncoder;
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, DocumentDelta, ReplyStatus, SyncRequest, SyncResponse};
use passerelle_tests::{Role, TestServer};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};

/// The server's body limit for `POST /v1/sync` (`ServerConfig::max_message_bytes`).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gzip stream of `size` zero bytes, built without holding them.
fn gzip_zeros(size: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let block = vec![0; 1024 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    encoder.finish().unwrap()
}

fn post(server: &TestServer, token: &str, encoding: Option<&str>, body: Vec<u8>) -> Response {
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut request = client
        .post(format!("{}/v1/sync", server.url))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().unwrap()
}

fn healthy(server: &TestServer) -> bool {
    reqwest::blocking::get(format!("{}/healthz", server.url)).is_ok_and(|r| r.status().is_success())
}

/// The server's peak resident memory, from `/proc` (Linux), in bytes.
fn peak_memory(server: &TestServer) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_gzip_body_syncs_like_a_plain_one() {
    let server = TestServer::start();
    let token = server.add_user("oujda", "cooperation", Role::Editor);
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "title", "Mission à Oujda").unwrap();
    doc.put(ROOT, "note", "x".repeat(2_000)).unwrap();
    let id = DocumentId::random();
    let request = SyncRequest {
        replica: "gzip-test".to_owned(),
        documents: vec![DocumentDelta {
            id: id.to_string(),
            heads: batch::to_wire(&doc.get_heads()),
            changes: doc.save(),
        }],
    };
    let plain = batch::encode(&request);
    let compressed = gzip(&plain);
    assert!(compressed.len() < plain.len());
    let response = post(&server, &token, Some("gzip"), compressed);
    assert_eq!(response.status(), StatusCode::OK);
    let reply: SyncResponse = batch::decode(&response.bytes().unwrap()).unwrap();
    assert_eq!(reply.documents[0].status, ReplyStatus::Ok);
    assert_eq!(batch::from_wire(&reply.documents[0].heads), doc.get_heads());

    // Another replica asks for it, uncompressed: the server stored what the gzip body held.
    let ask = SyncRequest {
        replica: "gzip-test-2".to_owned(),
        documents: vec![DocumentDelta {
            id: id.to_string(),
            heads: Vec::new(),
            changes: Vec::new(),
        }],
    };
    let response = post(&server, &token, None, batch::encode(&ask));
    assert_eq!(response.status(), StatusCode::OK);
    let reply: SyncResponse = batch::decode(&response.bytes().unwrap()).unwrap();
    let loaded = automerge::Automerge::load(&reply.documents[0].changes).unwrap();
    assert_eq!(
        loaded
            .get(ROOT, "title")
            .unwrap()
            .unwrap()
            .0
            .into_string()
            .unwrap(),
        "Mission à Oujda"
    );
}

#[test]
fn a_gzip_bomb_is_refused_within_the_body_limit() {
    let server = TestServer::start();
    let token = server.add_user("oujda", "cooperation", Role::Editor);
    // 1 GiB of zeros in about 1 MB: sixteen times the limit once inflated.
    let inflated = 16 * BODY_LIMIT;
    let bomb = gzip_zeros(inflated);
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    let response = post(&server, &token, Some("gzip"), bomb);
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(healthy(&server), "the server no longer answers");
    if let Some(peak) = peak_memory(&server) {
        eprintln!(
            "server peak memory after the bomb: {} MiB",
            peak / (1024 * 1024)
        );
        // The limit is checked as bytes come out of the decoder: the server held at most
        // about the limit (its buffer doubles while growing: ~130 MiB measured), never the
        // gigabyte.
        assert!(
            peak < 4 * BODY_LIMIT as u64,
            "the server's peak memory reached {peak} bytes"
        );
    }
}

#[test]
fn broken_gzip_is_a_bad_request_and_unknown_encodings_are_refused() {
    let server = TestServer::start();
    let token = server.add_user("oujda", "cooperation", Role::Editor);
    let response = post(&server, &token, Some("gzip"), b"not gzip at all".to_vec());
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A gzip stream cut short.
    let mut cut = gzip(&[7; 10_000]);
    cut.truncate(cut.len() / 2);
    let response = post(&server, &token, Some("gzip"), cut);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = post(&server, &token, Some("br"), vec![1, 2, 3]);
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(healthy(&server));
}

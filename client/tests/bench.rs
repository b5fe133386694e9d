//! Issue 4's benchmark cases, measured against a real server in-process. Ignored by default;
//! run with
//!
//! ```text
//! cargo test -p passerelle-client --release --test bench -- --ignored --nocapture
//! ```
//!
//! 1. Catch-up after an offline day: 50 documents × 20 changes made elsewhere while this
//!    replica was offline, over a link with 300 ms of round-trip time. Counts requests and
//!    bytes, against `save_after` of those changes, against their columnar compressed size
//!    (an Automerge bundle of exactly those changes, and the growth of `save()`), and against
//!    Automerge's own sync protocol on the same work.
//! 2. A replica holding 10,000 documents comes back after 10 of them changed: bytes
//!    exchanged; and, for comparison, the same after a server restart (feed reset).

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use automerge::sync::{State, SyncDoc as _};
use automerge::{Automerge, ChangeHash};
use common::{Counting, TestServer, replica, sync};
use passerelle_client::{
    ChangesPage, ClientError, DocPath, Replica, SyncOptions, SyncReport, Transport,
};
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, SyncResponse};
use serde_json::json;

/// Adds a fixed delay to every request: the round-trip time of a slow link.
struct Slow<T> {
    inner: T,
    rtt: Duration,
}

impl<T: Transport> Transport for Slow<T> {
    fn server(&self) -> String {
        self.inner.server()
    }
    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        std::thread::sleep(self.rtt);
        self.inner.changes(since, wait)
    }
    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        std::thread::sleep(self.rtt);
        self.inner.sync(body)
    }
}

/// Keeps every answer, to measure what other encodings of them would weigh.
struct Recording<T> {
    inner: T,
    feeds: Mutex<Vec<String>>,
    answers: Mutex<Vec<Vec<u8>>>,
}

impl<T: Transport> Transport for Recording<T> {
    fn server(&self) -> String {
        self.inner.server()
    }
    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        let page = self.inner.changes(since, wait)?;
        // The server's JSON, rebuilt (same fields, same order).
        let json = json!({
            "cursor": page.cursor,
            "reset": page.reset,
            "documents": page.documents.iter()
                .map(|d| json!({"id": d.id, "heads": d.heads}))
                .collect::<Vec<_>>(),
        })
        .to_string();
        self.feeds.lock().unwrap().push(json);
        Ok(page)
    }
    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let answer = self.inner.sync(body)?;
        self.answers.lock().unwrap().push(answer.clone());
        Ok(answer)
    }
}

fn gzip(bytes: &[u8]) -> usize {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

/// Reads the feed without a cursor once: what a client sees after a server restart.
struct Forgetful<T> {
    inner: T,
    forgot: AtomicBool,
}

impl<T: Transport> Transport for Forgetful<T> {
    fn server(&self) -> String {
        self.inner.server()
    }
    fn changes(&self, since: Option<&str>, wait: Duration) -> Result<ChangesPage, ClientError> {
        if self.forgot.swap(true, Ordering::SeqCst) {
            self.inner.changes(since, wait)
        } else {
            self.inner.changes(None, wait)
        }
    }
    fn sync(&self, body: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        self.inner.sync(body)
    }
}

fn load(replica: &mut Replica, id: DocumentId) -> Automerge {
    Automerge::load(&replica.export_automerge(id).unwrap()).unwrap()
}

/// Automerge's own sync protocol between `old` (the offline copy) and `new`: messages and
/// bytes until both are quiet, and the number of rounds (a round: one message each way).
fn automerge_sync(old: &Automerge, new: &Automerge) -> (usize, usize, usize) {
    let (mut a, mut b) = (old.clone(), new.clone());
    let (mut sa, mut sb) = (State::new(), State::new());
    let (mut messages, mut bytes, mut rounds) = (0, 0, 0);
    loop {
        let mut moved = false;
        if let Some(message) = a.generate_sync_message(&mut sa) {
            let encoded = message.encode();
            messages += 1;
            bytes += encoded.len();
            b.receive_sync_message(&mut sb, automerge::sync::Message::decode(&encoded).unwrap())
                .unwrap();
            moved = true;
        }
        if let Some(message) = b.generate_sync_message(&mut sb) {
            let encoded = message.encode();
            messages += 1;
            bytes += encoded.len();
            a.receive_sync_message(&mut sa, automerge::sync::Message::decode(&encoded).unwrap())
                .unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
        rounds += 1;
    }
    assert_eq!(a.get_heads(), new.get_heads());
    (messages, bytes, rounds)
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn describe(name: &str, report: &SyncReport, transport: &Counting<impl Transport>) {
    let exchanges = transport.exchanges();
    println!(
        "{name}: {} HTTP request(s) (1 feed + {} sync), {} document(s) in requests, \
         {} received; bytes up {} (feed request has no body), bytes down {} \
         (feed {} + sync {})",
        transport.requests(),
        exchanges.len(),
        report.documents_checked,
        report.received.len(),
        report.bytes_up,
        report.bytes_down,
        transport.feeds.lock().unwrap().iter().sum::<usize>(),
        exchanges.iter().map(|e| e.down).sum::<usize>(),
    );
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn catch_up_after_an_offline_day() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut oujda = replica(dirs.0.path(), &server, &token_a);
    let mut lille = replica(dirs.1.path(), &server, &token_b);
    let tb = server.transport(&token_b);
    let ids: Vec<DocumentId> = (0..50)
        .map(|n| {
            lille
                .create(&json!({
                    "type": "mission",
                    "title": format!("Mission {n}: station de pompage"),
                    "agenda": [],
                    "budget": {"planned": 10000 + n, "spent": 0},
                }))
                .unwrap()
        })
        .collect();
    sync(&mut lille, &tb);
    sync(&mut oujda, &server.transport(&token_a));
    let old: Vec<Automerge> = ids.iter().map(|&id| load(&mut oujda, id)).collect();

    // Oujda is offline for a day; Lille makes 20 changes to each document.
    let agenda: DocPath = "agenda".parse().unwrap();
    let spent: DocPath = "budget.spent".parse().unwrap();
    for (n, &id) in ids.iter().enumerate() {
        for k in 0..20 {
            if k % 4 == 3 {
                lille.set(id, &spent, &json!(k * 100 + n)).unwrap();
            } else {
                lille
                    .append(
                        id,
                        &agenda,
                        &json!({"quand": format!("jour {k}"), "quoi": format!("Réunion {k} avec la régie, point {n}")}),
                    )
                    .unwrap();
            }
        }
    }
    sync(&mut lille, &tb);

    // What those changes weigh.
    let (mut save_after, mut bundle, mut save_growth, mut save_new) = (0, 0, 0, 0);
    let (mut am_messages, mut am_bytes, mut am_rounds) = (0, 0, 0);
    for (&id, old) in ids.iter().zip(&old) {
        let new = load(&mut lille, id);
        save_after += new.save_after(&old.get_heads()).len();
        let hashes: Vec<ChangeHash> = new
            .get_changes(&old.get_heads())
            .iter()
            .map(|c| c.hash())
            .collect();
        assert_eq!(hashes.len(), 20);
        bundle += new.bundle(hashes).unwrap().bytes().len();
        save_growth += new.save().len().saturating_sub(old.save().len());
        save_new += new.save().len();
        let (messages, bytes, rounds) = automerge_sync(old, &new);
        am_messages += messages;
        am_bytes += bytes;
        am_rounds = am_rounds.max(rounds);
    }

    // Oujda comes back, over a link with 300 ms of round-trip time.
    let transport = Counting::new(Slow {
        inner: Recording {
            inner: server.transport(&token_a),
            feeds: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
        },
        rtt: Duration::from_millis(300),
    });
    let started = Instant::now();
    let report = oujda
        .sync_with(&transport, &SyncOptions::default(), &mut |_| {})
        .unwrap();
    let elapsed = started.elapsed();
    assert!(report.is_complete());
    assert_eq!(report.received.len(), 50);
    for &id in &ids {
        assert_eq!(oujda.get_json(id).unwrap(), lille.get_json(id).unwrap());
    }
    let down = report.bytes_down as usize;
    println!("\n== catch-up after an offline day: 50 documents x 20 changes, 300 ms RTT ==");
    describe("passerelle", &report, &transport);
    println!(
        "wall time: {elapsed:?} (of which {} x 300 ms of RTT)",
        transport.requests()
    );
    println!(
        "the changes: save_after {} | columnar: bundle of the 1,000 changes {}, growth of \
         save() {} | whole documents save() {}",
        kb(save_after),
        kb(bundle),
        kb(save_growth),
        kb(save_new)
    );
    println!(
        "bytes down / save_after = {:.2}; / bundle = {:.2}; / save() growth = {:.2}",
        down as f64 / save_after as f64,
        down as f64 / bundle as f64,
        down as f64 / save_growth as f64
    );
    println!(
        "automerge's own sync protocol on the same work: {am_messages} messages \
         ({:.1} per document), {am_rounds} rounds per document, {} in all ({:.2} x save() \
         growth)",
        am_messages as f64 / 50.0,
        kb(am_bytes),
        am_bytes as f64 / save_growth as f64
    );

    // What the same answers would weigh in other encodings (server-side choices).
    let recording = &transport.inner.inner;
    let feeds = recording.feeds.lock().unwrap().clone();
    let answers = recording.answers.lock().unwrap().clone();
    let feed_bytes: usize = feeds.iter().map(String::len).sum();
    let feed_gzip: usize = feeds.iter().map(|f| gzip(f.as_bytes())).sum();
    let answer_bytes: usize = answers.iter().map(Vec::len).sum();
    let answer_gzip: usize = answers.iter().map(|a| gzip(a)).sum();
    let olds: BTreeMap<String, Vec<ChangeHash>> = ids
        .iter()
        .zip(&old)
        .map(|(id, doc)| (id.to_string(), doc.get_heads()))
        .collect();
    let (mut bundled_bytes, mut bundled_gzip) = (0, 0);
    for answer in &answers {
        let mut response: SyncResponse = batch::decode(answer).unwrap();
        for reply in &mut response.documents {
            let id: DocumentId = reply.id.parse().unwrap();
            let new = load(&mut lille, id);
            let hashes: Vec<ChangeHash> = new
                .get_changes(&olds[&reply.id])
                .iter()
                .map(|c| c.hash())
                .collect();
            reply.changes = new.bundle(hashes).unwrap().bytes().to_vec();
        }
        let encoded = batch::encode(&response);
        bundled_bytes += encoded.len();
        bundled_gzip += gzip(&encoded);
    }
    println!(
        "the same answers (feed + sync) encoded otherwise, against the save() growth of {}:",
        kb(save_growth)
    );
    let ratio = |bytes: usize| bytes as f64 / save_growth as f64;
    for (name, bytes) in [
        ("as now (save_after)", feed_bytes + answer_bytes),
        ("gzip on the HTTP bodies", feed_gzip + answer_gzip),
        ("bundles instead of save_after", feed_bytes + bundled_bytes),
        ("bundles and gzip", feed_gzip + bundled_gzip),
    ] {
        println!("  {name:<32} {:>9}  {:.2} x", kb(bytes), ratio(bytes));
    }

    // The other direction: Oujda works offline for a day, then sends.
    let before: Vec<Automerge> = ids.iter().map(|&id| load(&mut oujda, id)).collect();
    for (n, &id) in ids.iter().enumerate() {
        for k in 0..20 {
            oujda
                .append(
                    id,
                    &agenda,
                    &json!({"quand": format!("soir {k}"), "quoi": format!("Compte rendu {k}, dossier {n}")}),
                )
                .unwrap();
        }
    }
    let (mut up_after, mut up_growth, mut up_bundle, mut up_save) = (0, 0, 0, 0);
    for (&id, before) in ids.iter().zip(&before) {
        let now = load(&mut oujda, id);
        up_after += now.save_after(&before.get_heads()).len();
        up_growth += now.save().len().saturating_sub(before.save().len());
        up_save += now.save().len();
        let hashes: Vec<ChangeHash> = now
            .get_changes(&before.get_heads())
            .iter()
            .map(|c| c.hash())
            .collect();
        up_bundle += now.bundle(hashes).unwrap().bytes().len();
    }
    let transport = Counting::new(server.transport(&token_a));
    let report = sync(&mut oujda, &transport);
    assert_eq!(report.documents_sent, 50);
    println!(
        "sending a day of offline work (50 x 20 changes): {} request(s), bytes up {}, \
         bytes down {}; the changes: save_after {}, whole documents save() {}, bundle {}, \
         save() growth {}",
        transport.requests(),
        kb(report.bytes_up as usize),
        kb(report.bytes_down as usize),
        kb(up_after),
        kb(up_save),
        kb(up_bundle),
        kb(up_growth),
    );
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn ten_thousand_documents_ten_changed() {
    let server = TestServer::start();
    let (token_a, token_b) = (server.editor("oujda"), server.editor("lille"));
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut oujda = replica(dirs.0.path(), &server, &token_a);
    let mut lille = replica(dirs.1.path(), &server, &token_b);
    let tb = server.transport(&token_b);
    let started = Instant::now();
    let ids: Vec<DocumentId> = (0..10_000)
        .map(|n| {
            lille
                .create(&json!({"type": "note", "title": format!("note {n}"), "n": n}))
                .unwrap()
        })
        .collect();
    println!("\n== 10,000 documents, 10 changed ==");
    println!("created 10,000 documents in {:?}", started.elapsed());
    let started = Instant::now();
    let upload = sync(&mut lille, &tb);
    println!(
        "first upload: {:?}, {} requests, {} up",
        started.elapsed(),
        upload.round_trips,
        kb(upload.bytes_up as usize)
    );
    let started = Instant::now();
    let fetch = sync(&mut oujda, &server.transport(&token_a));
    println!(
        "first fetch by the other replica: {:?}, {} requests, {} down",
        started.elapsed(),
        fetch.round_trips,
        kb(fetch.bytes_down as usize)
    );
    assert_eq!(fetch.received.len(), 10_000);

    let n: DocPath = "n".parse().unwrap();
    for (k, &id) in ids.iter().step_by(1000).enumerate() {
        lille.set(id, &n, &json!(format!("changed {k}"))).unwrap();
    }
    sync(&mut lille, &tb);

    let transport = Counting::new(server.transport(&token_a));
    let started = Instant::now();
    let report = sync(&mut oujda, &transport);
    let elapsed = started.elapsed();
    assert_eq!(report.received.len(), 10);
    describe("10 changed of 10,000", &report, &transport);
    println!(
        "in all {} ({} up + {} down) in {elapsed:?}",
        kb((report.bytes_up + report.bytes_down) as usize),
        kb(report.bytes_up as usize),
        kb(report.bytes_down as usize)
    );

    // The same replica after a server restart (the feed forgets every cursor).
    let forgetful = Counting::new(Forgetful {
        inner: server.transport(&token_a),
        forgot: AtomicBool::new(false),
    });
    let started = Instant::now();
    let reset = sync(&mut oujda, &forgetful);
    assert!(reset.reset);
    describe("nothing changed, feed reset", &reset, &forgetful);
    println!(
        "in all {} in {:?}",
        kb((reset.bytes_up + reset.bytes_down) as usize),
        started.elapsed()
    );
}

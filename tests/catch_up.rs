//! Issue 9's measurements, through the [`Proxy`] in front of the real server binary, with the
//! real client library. Ignored by default; they print figures (medians of several runs)
//! and assert only that the work was done. Run with
//!
//! ```text
//! cargo build --release -p passerelle-server
//! cargo test --release -p passerelle-tests --test catch_up -- --ignored --nocapture --test-threads 1
//! ```
//!
//! (`PASSERELLE_BENCH_RUNS` sets the number of runs, 5 by default.)
//!
//! 1. **Catch-up after an offline day**: 50 documents × 20 changes, 300 ms round trips. Both
//!    directions: a replica downloading a day of changes made elsewhere, and the offline
//!    replica uploading its own day. Counted: HTTP requests, wire bytes through the proxy
//!    (both ways, HTTP headers included; TCP/IP headers are not), connections, wall time.
//!    Compared with what the changes weigh compressed: the growth of Automerge's columnar
//!    `save()`, `save_after(heads before)` and gzip of it (per document, and as one stream),
//!    and Automerge's columnar bundle of exactly those changes, gzip'd or not.
//!    Targets: at most 2 round trips, at most 1.2 x the compressed size.
//! 2. **10,000 documents, 10 changed**: a replica holding 10,000 documents reconnects after
//!    10 changed on the server: bytes and time until it is up to date (target: < 64 KiB).

use std::io::Write as _;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use flate2::Compression;
use flate2::write::GzEncoder;
use passerelle_client::{DocPath, HttpTransport, Replica, ServerConfig, SyncReport};
use passerelle_core::DocumentId;
use passerelle_tests::{LinkSettings, Proxy, ProxyStats, Role, TestServer};
use serde_json::json;

const RTT: Duration = Duration::from_millis(300);
const DOCUMENTS: usize = 50;
const CHANGES: usize = 20;

fn runs() -> usize {
    std::env::var("PASSERELLE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

fn gzip(bytes: &[u8]) -> usize {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// A replica, with a direct transport (setup, not measured).
struct Peer {
    replica: Replica,
    token: String,
    direct: HttpTransport,
    _dir: tempfile::TempDir,
}

impl Peer {
    fn new(server: &TestServer, name: &str) -> Peer {
        let token = server.add_user(name, "cooperation", Role::Editor);
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(dir.path()).unwrap();
        let direct = HttpTransport::new(&ServerConfig::new(&server.url, &token).unwrap()).unwrap();
        Peer {
            replica,
            token,
            direct,
            _dir: dir,
        }
    }

    fn sync_direct(&mut self) -> SyncReport {
        let report = self.replica.sync(&self.direct, &mut |_| {}).unwrap();
        assert!(report.is_complete(), "{report:?}");
        report
    }

    /// One pass through a fresh proxy (a laptop coming back: no connection open yet).
    fn sync_through(&mut self, server: &TestServer, link: LinkSettings) -> Measured {
        let proxy = Proxy::start(server.address, link, 1);
        let transport =
            HttpTransport::new(&ServerConfig::new(&proxy.url(), &self.token).unwrap()).unwrap();
        let started = Instant::now();
        let report = self.replica.sync(&transport, &mut |_| {}).unwrap();
        let elapsed = started.elapsed();
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(report.failed_requests, 0);
        Measured {
            report,
            stats: proxy.stats(),
            elapsed,
        }
    }

    fn doc(&mut self, id: DocumentId) -> Automerge {
        Automerge::load(&self.replica.export_automerge(id).unwrap()).unwrap()
    }
}

#[derive(Debug)]
struct Measured {
    report: SyncReport,
    stats: ProxyStats,
    elapsed: Duration,
}

/// What the changes of one direction weigh, summed over the documents.
#[derive(Debug, Default)]
struct Weights {
    /// `save()` after minus `save()` before: the columnar, deflated form.
    save_growth: usize,
    /// `save_after(heads before)`.
    save_after: usize,
    /// gzip of each document's `save_after`, summed.
    save_after_gzip: usize,
    /// gzip of every document's `save_after` as one stream.
    save_after_gzip_all: usize,
    /// Automerge's columnar bundle of exactly the new changes (`Automerge::bundle`).
    bundle: usize,
    /// gzip of every bundle as one stream.
    bundle_gzip_all: usize,
}

fn weights(before: &[Automerge], after: &[Automerge]) -> Weights {
    let mut weights = Weights::default();
    let (mut all, mut bundles) = (Vec::new(), Vec::new());
    for (old, new) in before.iter().zip(after) {
        let heads: Vec<ChangeHash> = old.get_heads();
        let changes = new.save_after(&heads);
        let hashes: Vec<ChangeHash> = new.get_changes(&heads).iter().map(|c| c.hash()).collect();
        assert_eq!(hashes.len(), CHANGES);
        let bundle = new.bundle(hashes).unwrap().bytes().to_vec();
        weights.bundle += bundle.len();
        bundles.extend_from_slice(&bundle);
        weights.save_growth += new.save().len().saturating_sub(old.save().len());
        weights.save_after += changes.len();
        weights.save_after_gzip += gzip(&changes);
        all.extend_from_slice(&changes);
    }
    weights.save_after_gzip_all = gzip(&all);
    weights.bundle_gzip_all = gzip(&bundles);
    weights
}

/// The figures of one direction of one run.
#[derive(Debug, Default, Clone, Copy)]
struct Row {
    requests: f64,
    connections: f64,
    up: f64,
    down: f64,
    millis: f64,
    save_growth: f64,
    save_after: f64,
    save_after_gzip: f64,
    save_after_gzip_all: f64,
    bundle: f64,
    bundle_gzip_all: f64,
}

impl Row {
    fn of(measured: &Measured, weights: &Weights) -> Row {
        Row {
            requests: measured.report.round_trips as f64,
            connections: measured.stats.connections as f64,
            up: measured.stats.bytes_up as f64,
            down: measured.stats.bytes_down as f64,
            millis: measured.elapsed.as_secs_f64() * 1000.0,
            save_growth: weights.save_growth as f64,
            save_after: weights.save_after as f64,
            save_after_gzip: weights.save_after_gzip as f64,
            save_after_gzip_all: weights.save_after_gzip_all as f64,
            bundle: weights.bundle as f64,
            bundle_gzip_all: weights.bundle_gzip_all as f64,
        }
    }

    fn wire(&self) -> f64 {
        self.up + self.down
    }
}

fn report(name: &str, rows: &[Row]) {
    let med = |f: &dyn Fn(&Row) -> f64| median(&mut rows.iter().map(f).collect::<Vec<_>>());
    let spread = |f: &dyn Fn(&Row) -> f64| {
        let values: Vec<f64> = rows.iter().map(f).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.0}..{max:.0}")
    };
    let kb = |v: f64| format!("{:.1} KB", v / 1000.0);
    let wire = med(&|r| r.wire());
    println!(
        "-- {name} (medians of {} runs; min..max in brackets)",
        rows.len()
    );
    println!(
        "   HTTP requests {} [{}], connections {}, wall time {:.0} ms [{}]",
        med(&|r| r.requests),
        spread(&|r| r.requests),
        med(&|r| r.connections),
        med(&|r| r.millis),
        spread(&|r| r.millis),
    );
    println!(
        "   wire bytes {} (up {}, down {}) [{}]",
        kb(wire),
        kb(med(&|r| r.up)),
        kb(med(&|r| r.down)),
        spread(&|r| r.wire()),
    );
    for (what, size) in [
        (
            "save() growth (columnar, deflated)",
            med(&|r| r.save_growth),
        ),
        ("save_after", med(&|r| r.save_after)),
        (
            "gzip(save_after), per document",
            med(&|r| r.save_after_gzip),
        ),
        (
            "gzip(save_after), one stream",
            med(&|r| r.save_after_gzip_all),
        ),
        ("bundle (columnar, just these)", med(&|r| r.bundle)),
        ("gzip(bundles), one stream", med(&|r| r.bundle_gzip_all)),
    ] {
        println!(
            "   the changes, {what:<36} {:>9}   wire / this = {:.2}",
            kb(size),
            wire / size
        );
    }
}

/// The agenda entries of one change, different on each side and run.
fn entry(side: &str, n: usize, k: usize) -> serde_json::Value {
    json!({"quand": format!("{side} {k}"), "quoi": format!("Réunion {k} avec la régie, point {n}")})
}

#[test]
#[ignore = "measurement: run with --release -- --ignored --nocapture"]
fn catch_up_after_an_offline_day() {
    let link = LinkSettings::clean().rtt(RTT);
    let agenda: DocPath = "agenda".parse().unwrap();
    let spent: DocPath = "budget.spent".parse().unwrap();
    let (mut downloads, mut uploads) = (Vec::new(), Vec::new());
    for run in 0..runs() {
        let server = TestServer::start();
        let mut lille = Peer::new(&server, "lille");
        let mut oujda = Peer::new(&server, "oujda");
        let ids: Vec<DocumentId> = (0..DOCUMENTS)
            .map(|n| {
                lille
                    .replica
                    .create(&json!({
                        "type": "mission",
                        "title": format!("Mission {n}: station de pompage"),
                        "agenda": [],
                        "budget": {"planned": 10_000 + n, "spent": 0},
                    }))
                    .unwrap()
            })
            .collect();
        lille.sync_direct();
        assert_eq!(oujda.sync_direct().received.len(), DOCUMENTS);

        // Lille works for a day while Oujda is offline; then Oujda downloads it.
        let before: Vec<Automerge> = ids.iter().map(|&id| oujda.doc(id)).collect();
        for (n, &id) in ids.iter().enumerate() {
            for k in 0..CHANGES {
                if k % 4 == 3 {
                    lille.replica.set(id, &spent, &json!(k * 100 + n)).unwrap();
                } else {
                    lille
                        .replica
                        .append(id, &agenda, &entry("jour", n, k))
                        .unwrap();
                }
            }
        }
        lille.sync_direct();
        let measured = oujda.sync_through(&server, link.clone());
        assert_eq!(measured.report.received.len(), DOCUMENTS);
        let after: Vec<Automerge> = ids.iter().map(|&id| oujda.doc(id)).collect();
        for (&id, doc) in ids.iter().zip(&after) {
            assert_eq!(doc.get_heads(), lille.doc(id).get_heads());
        }
        downloads.push(Row::of(&measured, &weights(&before, &after)));

        // Oujda works for a day offline, then uploads it.
        let before = after;
        for (n, &id) in ids.iter().enumerate() {
            for k in 0..CHANGES {
                oujda
                    .replica
                    .append(id, &agenda, &entry("soir", n, k))
                    .unwrap();
            }
        }
        let after: Vec<Automerge> = ids.iter().map(|&id| oujda.doc(id)).collect();
        let measured = oujda.sync_through(&server, link.clone());
        assert_eq!(measured.report.documents_sent, DOCUMENTS);
        uploads.push(Row::of(&measured, &weights(&before, &after)));
        eprintln!(
            "run {run}: download {:.1} KB in {} requests, upload {:.1} KB in {} requests",
            downloads[run].wire() / 1000.0,
            downloads[run].requests,
            uploads[run].wire() / 1000.0,
            uploads[run].requests
        );
    }
    println!(
        "\n== catch-up after an offline day: {DOCUMENTS} documents x {CHANGES} changes, \
         {} ms RTT through the proxy ==",
        RTT.as_millis()
    );
    report("downloading a day of changes made elsewhere", &downloads);
    report("uploading a day of offline changes", &uploads);
}

#[test]
#[ignore = "measurement: run with --release -- --ignored --nocapture"]
fn ten_thousand_documents_ten_changed() {
    const HELD: usize = 10_000;
    const CHANGED: usize = 10;
    let server = TestServer::start();
    let mut lille = Peer::new(&server, "lille");
    let mut oujda = Peer::new(&server, "oujda");
    let started = Instant::now();
    let ids: Vec<DocumentId> = (0..HELD)
        .map(|n| {
            lille
                .replica
                .create(&json!({"type": "note", "title": format!("note {n}"), "n": n}))
                .unwrap()
        })
        .collect();
    let created = started.elapsed();
    let started = Instant::now();
    lille.sync_direct();
    let uploaded = started.elapsed();
    let started = Instant::now();
    assert_eq!(oujda.sync_direct().received.len(), HELD);
    println!(
        "\n== a replica holding {HELD} documents reconnects after {CHANGED} changed, {} ms RTT ==",
        RTT.as_millis()
    );
    println!(
        "setup: created in {created:?}, uploaded in {uploaded:?}, fetched by the other \
         replica in {:?}",
        started.elapsed()
    );
    let n: DocPath = "n".parse().unwrap();
    let mut rows = Vec::new();
    for run in 0..runs() {
        for k in 0..CHANGED {
            let id = ids[(run * 997 + k * (HELD / CHANGED)) % HELD];
            lille
                .replica
                .set(id, &n, &json!(format!("changed {run}.{k}")))
                .unwrap();
        }
        lille.sync_direct();
        let measured = oujda.sync_through(&server, LinkSettings::clean().rtt(RTT));
        assert_eq!(measured.report.received.len(), CHANGED);
        println!(
            "run {run}: {} requests, {} bytes ({} up, {} down), {:.0} ms",
            measured.report.round_trips,
            measured.stats.bytes(),
            measured.stats.bytes_up,
            measured.stats.bytes_down,
            measured.elapsed.as_secs_f64() * 1000.0
        );
        rows.push(measured);
    }
    let mut bytes: Vec<f64> = rows.iter().map(|m| m.stats.bytes() as f64).collect();
    let mut millis: Vec<f64> = rows
        .iter()
        .map(|m| m.elapsed.as_secs_f64() * 1000.0)
        .collect();
    let mut requests: Vec<f64> = rows.iter().map(|m| m.report.round_trips as f64).collect();
    println!(
        "median: {:.1} KiB on the wire (target < 64 KiB), {} requests, {:.0} ms until up to date",
        median(&mut bytes) / 1024.0,
        median(&mut requests),
        median(&mut millis)
    );
}

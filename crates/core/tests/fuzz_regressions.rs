//! The fuzz targets' corpora and crash inputs, replayed on stable Rust through the same checks
//! (`passerelle_core::fuzzing`), so what a fuzzing run found stays fixed. The fuzzing itself:
//! `fuzz/README.md`.
//!
//! `fuzz/corpus/<target>/` holds a minimized corpus, `fuzz/regressions/<target>/` every input
//! that once failed. To rewrite the generated seeds (after a change of the base documents):
//! `cargo test -p passerelle-core --test fuzz_regressions -- --ignored write_seed_corpus`.

use std::path::{Path, PathBuf};
use std::sync::Once;

use automerge::sync::{self, SyncDoc};
use passerelle_core::batch::{self, DocumentDelta, DocumentReply, Hash, ReplyStatus};
use passerelle_core::fuzzing::{self, FrameKind};

const TARGETS: [&str; 3] = ["wire_decode", "batch_decode", "engine_receive"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file under `fuzz/<kind>/<target>/`, sorted.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// automerge's panics are expected (the engine contains them) and would drown the output:
/// silence those, and only those.
fn quiet_automerge_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_automerge = info
                .location()
                .is_some_and(|l| l.file().contains("automerge-0."));
            if !in_automerge {
                default(info);
            }
        }));
    });
}

fn check(target: &str, data: &[u8]) {
    match target {
        "wire_decode" => fuzzing::wire_decode(data),
        "batch_decode" => fuzzing::batch_decode(data),
        "engine_receive" => {
            fuzzing::engine_receive(data);
        }
        _ => unreachable!(),
    }
}

fn replay(target: &str) {
    quiet_automerge_panics();
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is empty or missing"
    );
    let regressions = inputs("regressions", target);
    for (path, data) in corpus.iter().chain(&regressions) {
        let outcome = std::panic::catch_unwind(|| check(target, data));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
    println!(
        "{target}: {} corpus inputs and {} regressions pass",
        corpus.len(),
        regressions.len()
    );
}

#[test]
fn wire_decode_corpus_and_regressions_pass() {
    replay("wire_decode");
}

#[test]
fn batch_decode_corpus_and_regressions_pass() {
    replay("batch_decode");
}

#[test]
fn engine_receive_corpus_and_regressions_pass() {
    replay("engine_receive");
}

/// The changes of `panicking_changes` do make automerge 0.12 panic: this is what makes the
/// engine's containment (catch_unwind, poison, reload from storage) and the server's
/// hostile-input tests meaningful. If an automerge upgrade fixes one, this fails: find another
/// panicking input (the `engine_receive` fuzzer reports them), or drop the case.
#[test]
fn the_panicking_changes_make_automerge_panic() {
    quiet_automerge_panics();
    let base = fuzzing::base_document(fuzzing::document(false));
    for (name, change) in fuzzing::panicking_changes(&base) {
        let mut doc = base.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.load_incremental(&change)
        }));
        assert!(
            outcome.is_err(),
            "{name}: automerge no longer panics: {outcome:?}"
        );
        let message = sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: vec![change.clone()].into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let mut doc = base.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.receive_sync_message(&mut sync::State::new(), message)
        }));
        assert!(
            outcome.is_err(),
            "{name}: receive_sync_message no longer panics"
        );
    }
}

/// The changes of `changes_panicking_on_read_back` apply without a panic, and then make
/// automerge panic when they are read back: the engine must read them back inside its guard.
#[test]
fn the_read_back_changes_make_automerge_panic_later() {
    quiet_automerge_panics();
    let base = fuzzing::base_document(fuzzing::document(false));
    for (name, change) in fuzzing::changes_panicking_on_read_back(&base) {
        let mut doc = base.clone();
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.load_incremental(&change)
        }));
        // (`load_incremental` counts 0 changes, yet the heads move.)
        assert!(matches!(applied, Ok(Ok(_))), "{name}: {applied:?}");
        let before = base.get_heads();
        assert_ne!(doc.get_heads(), before, "{name}: not applied");
        let read_back = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.get_changes(&before).len()
        }));
        assert!(
            read_back.is_err(),
            "{name}: automerge no longer panics on read-back"
        );
    }
}

/// Through the engine, each of those panics costs the sender its connection (or its delta),
/// and the check's own assertions hold: the other peer is served, storage loads.
#[test]
fn the_engine_contains_every_panicking_change() {
    quiet_automerge_panics();
    let base = fuzzing::base_document(fuzzing::document(false));
    let bad_changes = fuzzing::panicking_changes(&base)
        .into_iter()
        .chain(fuzzing::changes_panicking_on_read_back(&base));
    for (name, change) in bad_changes {
        for kind in [FrameKind::ChangesInSync, FrameKind::Delta] {
            let input = fuzzing::engine_frame(kind, false, false, false, &change);
            let report = fuzzing::engine_receive(&input);
            assert_eq!(report.delivered, 1);
            assert_eq!(
                report.peer_errors + report.delta_failures,
                1,
                "{name} as {kind:?}: {report:?}"
            );
        }
    }
}

/// The generated seeds pass too (they are what `write_seed_corpus` writes).
#[test]
fn generated_engine_seeds_pass() {
    quiet_automerge_panics();
    for (name, input) in fuzzing::engine_seeds() {
        let outcome = std::panic::catch_unwind(|| fuzzing::engine_receive(&input));
        assert!(outcome.is_ok(), "seed {name} fails");
    }
}

/// Writes the generated seed inputs into `fuzz/corpus/<target>/seed-*`: the JS fixtures for
/// the wire decoder, a few batch bodies, and [`fuzzing::engine_seeds`].
#[test]
#[ignore = "writes files: run by hand to refresh the seeds"]
fn write_seed_corpus() {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/js");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cbor") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            write("wire_decode", &name, &std::fs::read(&path).unwrap());
        }
    }
    let request = batch::SyncRequest {
        replica: "laptop-oujda".into(),
        documents: vec![
            DocumentDelta {
                id: fuzzing::document(false).to_string(),
                heads: vec![Hash([7; 32])],
                changes: fuzzing::base_document(fuzzing::document(false)).save(),
            },
            DocumentDelta {
                id: fuzzing::document(true).to_string(),
                heads: Vec::new(),
                changes: Vec::new(),
            },
        ],
    };
    write("batch_decode", "request", &batch::encode(&request));
    let response = batch::SyncResponse {
        documents: vec![DocumentReply {
            id: fuzzing::document(false).to_string(),
            status: ReplyStatus::Refused,
            heads: vec![Hash([1; 32]), Hash([2; 32])],
            changes: vec![0x85, 0x6f, 0x4a, 0x83],
            missing: vec![Hash([3; 32])],
            message: Some("read-only".into()),
        }],
    };
    write("batch_decode", "response", &batch::encode(&response));
    for (name, input) in fuzzing::engine_seeds() {
        write("engine_receive", &name, &input);
    }
    for target in TARGETS {
        println!("{target}: {} files", inputs("corpus", target).len());
    }
}

/// Bloom filters in a peer's `have` that automerge 0.12 cannot survive when it generates its
/// next message for that peer: entries but no bits (a division by zero), and billions of
/// probes (16 GiB allocated and four billion steps per change, which no guard can stop). The
/// engine refuses both as malformed.
#[test]
fn hostile_bloom_filters_are_refused() {
    quiet_automerge_panics();
    let base = fuzzing::base_document(fuzzing::document(false));
    let cases: [(&str, &[u8]); 2] = [
        ("entries but no bits", &[1, 0, 7]),
        (
            "four billion probes",
            &[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff],
        ),
    ];
    for (name, bloom) in cases {
        let bloom = sync::BloomFilter::try_from(bloom).unwrap();
        let message = sync::Message {
            heads: base.get_heads(),
            need: Vec::new(),
            have: vec![sync::Have {
                last_sync: Vec::new(),
                bloom,
            }],
            changes: Vec::<Vec<u8>>::new().into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let input = fuzzing::engine_frame(FrameKind::Sync, false, false, false, &message.encode());
        let report = fuzzing::engine_receive(&input);
        assert_eq!(report.peer_errors, 1, "{name}: {report:?}");
    }
}

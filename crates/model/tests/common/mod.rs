//! Helpers shared by the model's tests: stamps, and a merge that goes through save/load
//! the way two replicas exchange changes.
#![allow(dead_code, unreachable_pub)]

use automerge::AutoCommit;
use jiff::Timestamp;
use passerelle_model::{FieldPath, Stamp};

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub fn samira() -> Stamp {
    Stamp::new("samira", at("2026-03-02T09:00:00Z"))
}

pub fn claire() -> Stamp {
    Stamp::new("claire", at("2026-03-02T10:30:00Z"))
}

pub fn p(text: &str) -> FieldPath {
    text.parse().unwrap()
}

/// A copy of `doc` as another replica holds it: saved, loaded, with its own actor.
pub fn replica(doc: &mut AutoCommit) -> AutoCommit {
    AutoCommit::load(&doc.save()).unwrap()
}

/// Exchanges both replicas' changes (as saved bytes) until they hold the same document.
pub fn sync(a: &mut AutoCommit, b: &mut AutoCommit) {
    let from_a = a.save();
    let from_b = b.save();
    a.load_incremental(&from_b).unwrap();
    b.load_incremental(&from_a).unwrap();
    assert_eq!(a.get_heads(), b.get_heads(), "replicas converge");
}

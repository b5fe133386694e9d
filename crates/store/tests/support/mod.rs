//! Helpers shared by the integration tests: real Automerge documents and seeds.

#![allow(dead_code, unreachable_pub)]

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};

/// Sets `key` to `value` in the root map of `doc` in one change, and returns the change's
/// bytes as the sync engine would append them (`save_after` the previous heads).
pub fn change(doc: &mut Automerge, key: &str, value: i64) -> (Vec<u8>, ChangeHash) {
    let before = doc.get_heads();
    let hash = doc
        .transact::<_, _, AutomergeError>(|tx| {
            tx.put(ROOT, key, value)?;
            // Some bulk, so that chunks are not trivially small.
            tx.put(ROOT, format!("{key}-text"), "lorem ipsum ".repeat(8))?;
            Ok(())
        })
        .expect("a local change applies")
        .hash
        .expect("a non-empty change has a hash");
    (doc.save_after(&before), hash)
}

/// The integer at `key` in the root map, if any.
pub fn int_at(doc: &Automerge, key: &str) -> Option<i64> {
    match doc.get(ROOT, key).expect("the root map is readable") {
        Some((Value::Scalar(scalar), _)) => match scalar.as_ref() {
            ScalarValue::Int(value) => Some(*value),
            _ => None,
        },
        _ => None,
    }
}

/// The seed from `PASSERELLE_TEST_SEED`, or a fresh one; printed so a failure can be replayed
/// (the test harness shows it when the test fails).
pub fn seed() -> u64 {
    let seed = match std::env::var("PASSERELLE_TEST_SEED") {
        Ok(seed) => seed.parse().expect("PASSERELLE_TEST_SEED is a u64"),
        Err(_) => rand::random(),
    };
    eprintln!("seed {seed} (replay with PASSERELLE_TEST_SEED={seed})");
    seed
}

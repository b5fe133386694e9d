//! Model tests: both backends against a `BTreeMap<StorageKey, Vec<u8>>`, over random sequences
//! of batches, reads and scans; the sled store is closed and reopened between steps.
//!
//! `PASSERELLE_TEST_SEED` fixes proptest's seed, so a failure seen elsewhere replays here.

use std::collections::BTreeMap;

use passerelle_store::testing::TestDatabase;
use passerelle_store::{Batch, MemoryStorage, SledStorage, Storage, StorageError, StorageKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

type Model = BTreeMap<StorageKey, Vec<u8>>;

#[derive(Debug, Clone)]
enum Step {
    /// A batch of puts (`Some`) and deletes (`None`), in order.
    Apply(Vec<(StorageKey, Option<Vec<u8>>)>),
    /// The same, without waiting for the disk: reads see it at once all the same.
    ApplyDeferred(Vec<(StorageKey, Option<Vec<u8>>)>),
    /// Makes every deferred batch durable.
    Flush,
    /// The same batch with a put to the empty key added: the backend must refuse all of it.
    ApplyWithRootPut(Vec<(StorageKey, Option<Vec<u8>>)>),
    Get(StorageKey),
    GetMany(Vec<StorageKey>),
    Scan(StorageKey),
    Keys(StorageKey),
    /// Flush, then close and reopen the store (a no-op for the memory store; PostgreSQL: new
    /// connections).
    Reopen,
}

/// Few, short components, with near-prefixes (`a`, `ab`), the lowest byte allowed (0x01) and
/// multi-byte characters, so that prefix scans hit the encoding's edge cases.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("ab".to_owned()),
        Just("b".to_owned()),
        Just("\u{1}".to_owned()),
        Just("a\u{1}".to_owned()),
        Just("é".to_owned()),
    ]
}

fn key(min: usize) -> impl Strategy<Value = StorageKey> {
    proptest::collection::vec(component(), min..4)
        .prop_map(|components| StorageKey::try_new(components).expect("valid components"))
}

fn batch() -> impl Strategy<Value = Vec<(StorageKey, Option<Vec<u8>>)>> {
    proptest::collection::vec(
        (
            key(1),
            proptest::option::weighted(0.75, proptest::collection::vec(any::<u8>(), 0..12)),
        ),
        0..6,
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => batch().prop_map(Step::Apply),
        3 => batch().prop_map(Step::ApplyDeferred),
        1 => Just(Step::Flush),
        1 => batch().prop_map(Step::ApplyWithRootPut),
        2 => key(1).prop_map(Step::Get),
        1 => proptest::collection::vec(key(1), 0..5).prop_map(Step::GetMany),
        2 => key(0).prop_map(Step::Scan),
        2 => key(0).prop_map(Step::Keys),
        1 => Just(Step::Reopen),
    ]
}

fn to_batch(writes: &[(StorageKey, Option<Vec<u8>>)]) -> Batch {
    let mut batch = Batch::new();
    for (key, value) in writes {
        match value {
            Some(value) => batch.put(key.clone(), value.clone()),
            None => batch.delete(key.clone()),
        };
    }
    batch
}

fn model_scan(model: &Model, prefix: &StorageKey) -> Vec<(StorageKey, Vec<u8>)> {
    model
        .iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Runs `steps` on `storage` and on the model, comparing every answer. `reopen` replaces the
/// store by a fresh handle on the same data.
fn check_against_model(
    steps: &[Step],
    mut storage: Box<dyn Storage>,
    reopen: &dyn Fn(Box<dyn Storage>) -> Box<dyn Storage>,
) -> Result<(), TestCaseError> {
    let mut model = Model::new();
    for step in steps {
        match step {
            Step::Apply(writes) | Step::ApplyDeferred(writes) => {
                if matches!(step, Step::Apply(_)) {
                    storage.apply(to_batch(writes))?;
                } else {
                    storage.apply_deferred(to_batch(writes))?;
                }
                for (key, value) in writes {
                    match value {
                        Some(value) => model.insert(key.clone(), value.clone()),
                        None => model.remove(key),
                    };
                }
            }
            Step::ApplyWithRootPut(writes) => {
                let mut batch = to_batch(writes);
                batch.put(StorageKey::root(), b"never stored".to_vec());
                let refused = matches!(storage.apply(batch), Err(StorageError::Invalid(_)));
                prop_assert!(refused, "a put to the empty key was not refused");
            }
            Step::Get(key) => prop_assert_eq!(storage.get(key)?, model.get(key).cloned()),
            Step::GetMany(keys) => {
                let expected: Vec<_> = keys.iter().map(|key| model.get(key).cloned()).collect();
                prop_assert_eq!(storage.get_many(keys)?, expected);
            }
            Step::Scan(prefix) => {
                prop_assert_eq!(storage.scan_prefix(prefix)?, model_scan(&model, prefix));
            }
            Step::Keys(prefix) => {
                let expected: Vec<StorageKey> = model_scan(&model, prefix)
                    .into_iter()
                    .map(|(key, _)| key)
                    .collect();
                prop_assert_eq!(storage.keys_with_prefix(prefix)?, expected);
            }
            Step::Flush => storage.flush()?,
            Step::Reopen => {
                storage.flush()?;
                storage = reopen(storage);
            }
        }
    }
    // Whatever the last step, everything must still be there after a flush and a reopen.
    storage.flush()?;
    let storage = reopen(storage);
    prop_assert_eq!(
        storage.scan_prefix(&StorageKey::root())?,
        model_scan(&model, &StorageKey::root())
    );
    Ok(())
}

fn config(cases: u32) -> Config {
    let rng_seed = match std::env::var("PASSERELLE_TEST_SEED") {
        Ok(seed) => RngSeed::Fixed(seed.parse().expect("PASSERELLE_TEST_SEED is a u64")),
        Err(_) => RngSeed::Random,
    };
    Config {
        cases,
        rng_seed,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn memory_storage_matches_the_model(steps in proptest::collection::vec(step(), 1..40)) {
        check_against_model(&steps, Box::new(MemoryStorage::new()), &|storage| storage)?;
    }
}

proptest! {
    // Each case creates a sled database and reopens it several times: fewer cases keep the
    // crate's tests within a minute on two cores.
    #![proptest_config(config(96))]

    #[test]
    fn sled_storage_matches_the_model(steps in proptest::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_path_buf();
        let storage = Box::new(SledStorage::open(&path)?);
        check_against_model(&steps, storage, &|storage| {
            // sled holds its directory lock until the old handle is dropped.
            drop(storage);
            Box::new(SledStorage::open(&path).expect("reopen the sled store"))
        })?;
    }
}

/// PostgreSQL against the model: one database for the test, emptied before each case.
#[test]
fn postgres_storage_matches_the_model() {
    let Some(db) = TestDatabase::create("postgres_storage_matches_the_model") else {
        return;
    };
    // The schema exists once a storage has connected.
    drop(db.storage());
    let mut runner = proptest::test_runner::TestRunner::new(config(48));
    runner
        .run(&proptest::collection::vec(step(), 1..40), |steps| {
            db.execute("DELETE FROM passerelle_kv").unwrap();
            check_against_model(&steps, Box::new(db.storage()), &|storage| {
                drop(storage);
                Box::new(db.storage())
            })
        })
        .unwrap();
}

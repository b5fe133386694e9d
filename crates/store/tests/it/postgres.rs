//! What only the PostgreSQL backend promises: several processes on one database, its schema
//! and its errors. Each test makes its own database (`PASSERELLE_TEST_POSTGRES`, see
//! `passerelle_store::testing`); without it they skip.

use std::sync::Arc;
use std::thread;

use passerelle_store::testing::TestDatabase;
use passerelle_store::{Batch, PostgresStorage, Storage, StorageError, StorageKey};

fn key(components: &[&str]) -> StorageKey {
    StorageKey::try_new(components.iter().copied()).unwrap()
}

/// Several storages (as several server processes would hold) write overlapping batches of
/// the same keys at once, in opposite orders, with deletes mixed in: no batch fails (a
/// deadlock PostgreSQL breaks is tried again) and each batch lands whole.
#[test]
fn concurrent_batches_of_the_same_keys_from_several_storages() {
    let Some(db) = TestDatabase::create("concurrent_batches_of_the_same_keys") else {
        return;
    };
    let keys: Vec<StorageKey> = (0..8).map(|n| key(&["k", &n.to_string()])).collect();
    let writers: Vec<_> = (0..4u8)
        .map(|writer| {
            let storage = db.storage();
            let keys = keys.clone();
            thread::spawn(move || {
                for round in 0..40u8 {
                    let mut batch = Batch::new();
                    let mut order: Vec<&StorageKey> = keys.iter().collect();
                    if (writer + round) % 2 == 1 {
                        order.reverse();
                    }
                    for key in order {
                        batch.put(key.clone(), vec![writer, round]);
                    }
                    if round % 5 == 0 {
                        batch.delete(keys[usize::from(writer)].clone());
                    }
                    storage.apply(batch).expect("a concurrent batch applies");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    // Every batch wrote all keys (round 39 has no delete), and batches are atomic: all keys
    // hold the value of the same last batch.
    let storage = db.storage();
    let values: Vec<Vec<u8>> = keys
        .iter()
        .map(|key| storage.get(key).unwrap().expect("written"))
        .collect();
    assert_eq!(values[0][1], 39, "{values:?}");
    assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
}

/// A write from one storage is seen by another once committed (at once for `apply`, at the
/// flush for `apply_deferred`), and both say they are shared.
#[test]
fn two_storages_see_each_others_writes() {
    let Some(db) = TestDatabase::create("two_storages_see_each_others_writes") else {
        return;
    };
    let (one, two) = (db.storage(), db.storage());
    assert!(one.is_shared() && two.is_shared());
    let mut batch = Batch::new();
    batch.put(key(&["acl", "doc"]), b"rules".to_vec());
    one.apply_deferred(batch).unwrap();
    assert_eq!(
        one.get(&key(&["acl", "doc"])).unwrap(),
        Some(b"rules".to_vec())
    );
    assert_eq!(two.get(&key(&["acl", "doc"])).unwrap(), None);
    one.flush().unwrap();
    assert_eq!(
        two.get(&key(&["acl", "doc"])).unwrap(),
        Some(b"rules".to_vec())
    );
    let mut batch = Batch::new();
    batch.delete(key(&["acl", "doc"]));
    two.apply(batch).unwrap();
    assert_eq!(one.get(&key(&["acl", "doc"])).unwrap(), None);
}

/// Storages connecting at once to an empty database all find one schema.
#[test]
fn the_schema_is_created_once_by_concurrent_connects() {
    let Some(db) = TestDatabase::create("the_schema_is_created_once_by_concurrent_connects") else {
        return;
    };
    let db = Arc::new(db);
    let connects: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url().to_owned();
            thread::spawn(move || PostgresStorage::connect(&url).map(drop))
        })
        .collect();
    for connect in connects {
        connect
            .join()
            .unwrap()
            .expect("a concurrent connect succeeds");
    }
}

/// A database whose schema a newer passerelle wrote is refused, saying so.
#[test]
fn a_newer_schema_is_refused() {
    let Some(db) = TestDatabase::create("a_newer_schema_is_refused") else {
        return;
    };
    drop(db.storage());
    db.execute("UPDATE passerelle_meta SET value = '99' WHERE name = 'schema_version'")
        .unwrap();
    match PostgresStorage::connect(db.url()) {
        Err(StorageError::Invalid(message)) => {
            assert!(message.contains("version 99"), "{message}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// A server that cannot be reached is an I/O error naming the host, never the password.
#[test]
fn an_unreachable_server_is_named_without_the_password() {
    // Port 1 on loopback: refused at once.
    let url = "postgres://passerelle:hunter2-secret@127.0.0.1:1/db?connect_timeout=2";
    match PostgresStorage::connect(url) {
        Err(StorageError::Io(message)) => {
            assert!(message.contains("127.0.0.1:1"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
    match PostgresStorage::connect("postgres://u:hunter2@[not a host") {
        Err(error) => assert!(!error.to_string().contains("hunter2"), "{error}"),
        Ok(storage) => panic!("connected to nonsense: {storage:?}"),
    }
}

/// The URL for logs hides the password; `url()` keeps it for opening more connections.
#[test]
fn the_urls_of_a_storage() {
    let Some(db) = TestDatabase::create("the_urls_of_a_storage") else {
        return;
    };
    let storage = db.storage();
    assert_eq!(storage.url(), db.url());
    assert!(storage.display_url().ends_with(db.name()));
    if let Some((_, password)) = db.url().split_once("://").and_then(|(_, rest)| {
        rest.split_once('@')
            .and_then(|(info, _)| info.split_once(':'))
    }) {
        assert!(!storage.display_url().contains(password));
        assert!(!format!("{storage:?}").contains(password));
    }
}

/// A storage keeps working when its connections are closed under it (a PostgreSQL restart):
/// the next call reconnects.
#[test]
fn closed_connections_are_reopened() {
    let Some(db) = TestDatabase::create("closed_connections_are_reopened") else {
        return;
    };
    let storage = db.storage();
    let mut batch = Batch::new();
    batch.put(key(&["a"]), b"1".to_vec());
    storage.apply(batch).unwrap();
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name()
    ))
    .unwrap();
    // Each worker finds its connection dead when it next uses it; a read then runs again on
    // a new connection, so no read fails.
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(storage.get(&key(&["a"])));
    }
    assert!(
        answers
            .iter()
            .all(|answer| matches!(answer, Ok(Some(value)) if value == b"1")),
        "{answers:?}"
    );
}

/// Deferred batches stay with the storage that applied them (its reads see them, merged over
/// what is committed; another storage's do not) until a flush commits them all in one
/// transaction.
#[test]
fn deferred_batches_are_committed_together_at_the_flush() {
    let Some(db) = TestDatabase::create("deferred_batches_are_committed_together_at_the_flush")
    else {
        return;
    };
    let (one, two) = (db.storage(), db.storage());
    let mut batch = Batch::new();
    batch
        .put(key(&["d", "a"]), b"old a".to_vec())
        .put(key(&["d", "b"]), b"old b".to_vec());
    one.apply(batch).unwrap();

    let mut first = Batch::new();
    first
        .put(key(&["d", "a"]), b"new a".to_vec())
        .delete(key(&["d", "b"]));
    one.apply_deferred(first).unwrap();
    let mut second = Batch::new();
    second
        .put(key(&["d", "c"]), b"c".to_vec())
        .put(key(&["e"]), b"e".to_vec());
    one.apply_deferred(second).unwrap();

    let scan = |storage: &PostgresStorage| storage.scan_prefix(&key(&["d"])).unwrap();
    assert_eq!(
        scan(&one),
        vec![
            (key(&["d", "a"]), b"new a".to_vec()),
            (key(&["d", "c"]), b"c".to_vec())
        ]
    );
    assert_eq!(
        one.keys_with_prefix(&StorageKey::root()).unwrap(),
        vec![key(&["d", "a"]), key(&["d", "c"]), key(&["e"])]
    );
    assert_eq!(one.get(&key(&["d", "b"])).unwrap(), None);
    assert_eq!(
        scan(&two),
        vec![
            (key(&["d", "a"]), b"old a".to_vec()),
            (key(&["d", "b"]), b"old b".to_vec())
        ]
    );

    one.flush().unwrap();
    assert_eq!(scan(&two), scan(&one));
    assert_eq!(two.get(&key(&["e"])).unwrap(), Some(b"e".to_vec()));
    // Both batches in one transaction: every row they wrote has the same creating one.
    let transactions = db
        .select_i64("SELECT count(DISTINCT xmin::text) FROM passerelle_kv")
        .unwrap();
    assert_eq!(
        transactions, 1,
        "the rows were written by {transactions} transactions"
    );
    // A flush with nothing kept does nothing.
    one.flush().unwrap();
}

/// A flush the database refuses keeps the batches: reads still see them, and the next flush
/// commits them.
#[test]
fn a_failed_commit_keeps_the_batches_for_the_next_flush() {
    let Some(db) = TestDatabase::create("a_failed_commit_keeps_the_batches_for_the_next_flush")
    else {
        return;
    };
    let (one, two) = (db.storage(), db.storage());
    db.execute("ALTER TABLE passerelle_kv ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        .unwrap();
    let mut batch = Batch::new();
    batch.put(key(&["kept"]), b"1".to_vec());
    one.apply_deferred(batch).unwrap();
    let refused = one.flush();
    assert!(
        matches!(&refused, Err(StorageError::Io(message)) if message.contains("refuse_all")),
        "{refused:?}"
    );
    assert_eq!(one.get(&key(&["kept"])).unwrap(), Some(b"1".to_vec()));
    assert_eq!(two.get(&key(&["kept"])).unwrap(), None);

    db.execute("ALTER TABLE passerelle_kv DROP CONSTRAINT refuse_all")
        .unwrap();
    one.flush().unwrap();
    assert_eq!(two.get(&key(&["kept"])).unwrap(), Some(b"1".to_vec()));
}

/// Dropping a storage commits what it kept; `discard_pending` (a simulated crash) forgets it.
#[test]
fn a_dropped_storage_commits_what_it_kept() {
    let Some(db) = TestDatabase::create("a_dropped_storage_commits_what_it_kept") else {
        return;
    };
    let one = db.storage();
    let mut batch = Batch::new();
    batch.put(key(&["lost"]), b"1".to_vec());
    one.apply_deferred(batch).unwrap();
    assert_eq!(one.discard_pending(), 1);
    assert_eq!(one.get(&key(&["lost"])).unwrap(), None);
    let mut batch = Batch::new();
    batch.put(key(&["kept"]), b"2".to_vec());
    one.apply_deferred(batch).unwrap();
    drop(one);
    let two = db.storage();
    assert_eq!(two.get(&key(&["kept"])).unwrap(), Some(b"2".to_vec()));
    assert_eq!(two.get(&key(&["lost"])).unwrap(), None);
}

/// Calls from a thread in a `blocking_section` (here tokio's blocking pool, as in the server)
/// run on connections of their own, opened on demand; and a storage that used them can be
/// dropped on a thread that drives async tasks, where closing a `postgres::Client` would
/// panic.
#[test]
fn calls_in_a_blocking_section_run_on_their_own_thread() {
    let Some(db) = TestDatabase::create("calls_in_a_blocking_section_run_on_their_own_thread")
    else {
        return;
    };
    let connections = || {
        db.select_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'passerelle'",
            db.name()
        ))
        .unwrap()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let storage = Arc::new(db.storage());
        let before = connections();
        let tasks: Vec<_> = (0..4)
            .map(|n| {
                let storage = Arc::clone(&storage);
                tokio::task::spawn_blocking(move || {
                    passerelle_store::blocking_section(|| {
                        let name = format!("k{n}");
                        let mut batch = Batch::new();
                        batch.put(key(&[&name]), vec![n]);
                        storage.apply(batch).unwrap();
                        storage.get(&key(&[&name])).unwrap()
                    })
                })
            })
            .collect();
        for (n, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Some(vec![n as u8]));
        }
        assert!(
            connections() > before,
            "no connection of the direct pool was opened"
        );
        // Calls from the async task itself hand off to the connection threads.
        assert_eq!(storage.get(&key(&["k1"])).unwrap(), Some(vec![1]));
        // The last handle dropped on a runtime thread.
        drop(storage);
    });
}

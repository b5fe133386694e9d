//! TLS to PostgreSQL (`passerelle_store::postgres_config`, used by every connection), on the
//! test server, which `scripts/postgres-for-tests` sets up with a certificate for 127.0.0.1
//! and localhost signed by a test CA (`passerelle_store::testing::test_ca`). Whether a
//! connection is encrypted is PostgreSQL's own answer (`pg_stat_ssl`). Each test makes its own
//! database; without PostgreSQL or the CA they skip (they fail under CI).

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use passerelle_store::testing::{TestDatabase, test_ca};
use passerelle_store::{
    Batch, PostgresStorage, Storage, StorageError, StorageKey, postgres_config,
};

fn set_up(test: &str) -> Option<(TestDatabase, PathBuf)> {
    let db = TestDatabase::create(test)?;
    let ca = test_ca(test)?;
    Some((db, ca))
}

/// The password and the `host:port` of a `postgres://user:password@host:port/db` URL.
fn password_and_host(url: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let (user_info, rest) = rest.split_once('@').unwrap();
    let password = user_info.split_once(':').unwrap().1.to_owned();
    let host = rest.split(['/', '?']).next().unwrap().to_owned();
    (password, host)
}

/// Whether a connection opened with the shared set-up for `url` is encrypted.
fn encrypted(url: &str) -> Result<bool, String> {
    let (config, tls) = postgres_config(url).map_err(|e| e.to_string())?;
    let mut client = postgres::Config::from(config)
        .connect(tls)
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

/// The connections to the database named `application`: (all of them, the encrypted ones).
fn backends(db: &TestDatabase, application: &str) -> (i64, i64) {
    let count = |condition: &str| {
        db.select_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND a.application_name = '{application}' \
             {condition}"
        ))
        .unwrap()
    };
    (count(""), count("AND s.ssl"))
}

/// A storage whose URL says `sslmode=require` and gives the CA works, and all its
/// connections (its workers', its lock connection) are encrypted.
#[test]
fn a_storage_over_require_with_the_ca_is_encrypted() {
    let Some((db, ca)) = set_up("a_storage_over_require_with_the_ca_is_encrypted") else {
        return;
    };
    let url = db.url_with(&format!(
        "sslmode=require&sslrootcert={}&application_name=tls_require",
        ca.display()
    ));
    assert_eq!(encrypted(&url), Ok(true));

    let storage = PostgresStorage::connect(&url).unwrap();
    let key = StorageKey::try_new(["tls", "k"]).unwrap();
    let mut batch = Batch::new();
    batch.put(key.clone(), b"over TLS".to_vec());
    storage.apply(batch).unwrap();
    assert_eq!(
        storage.get(&key).unwrap().as_deref(),
        Some(&b"over TLS"[..])
    );
    let _held = storage.try_lock(b"tls").unwrap().expect("free");

    let (all, encrypted) = backends(&db, "tls_require");
    assert!(all >= 2, "a worker and the lock connection: {all}");
    assert_eq!(
        encrypted, all,
        "every connection of the storage is encrypted"
    );
}

/// A certificate that does not verify is refused, with an error that names the host, says
/// what to do and never shows the password: without the CA (`require` verifies, unlike
/// libpq's), and with the CA but another host name (`verify-full`). `verify-ca` accepts the
/// latter (the chain only).
#[test]
fn a_certificate_that_does_not_verify_is_refused_naming_the_host() {
    let Some((db, ca)) = set_up("a_certificate_that_does_not_verify_is_refused") else {
        return;
    };
    let (password, host) = password_and_host(db.url());

    let error = PostgresStorage::connect(&db.url_with("sslmode=require")).unwrap_err();
    let StorageError::Io(message) = &error else {
        panic!("{error:?}");
    };
    eprintln!("without the CA: {message}");
    assert!(message.contains(&host), "{message}");
    assert!(message.contains("does not verify"), "{message}");
    assert!(message.contains("sslrootcert="), "{message}");
    assert!(!message.contains(&password), "{message}");

    // The same server under a name its certificate does not hold (`hostaddr` connects to it).
    let address = host.to_socket_addrs().unwrap().next().unwrap();
    let wrong_host = db.url().replacen(
        &format!("@{host}"),
        &format!("@wrong-name.invalid:{}", address.port()),
        1,
    );
    let with = |mode: &str| {
        let separator = if wrong_host.contains('?') { '&' } else { '?' };
        format!(
            "{wrong_host}{separator}hostaddr={}&sslmode={mode}&sslrootcert={}",
            address.ip(),
            ca.display()
        )
    };
    let error = PostgresStorage::connect(&with("verify-full")).unwrap_err();
    let message = error.to_string();
    eprintln!("another host name: {message}");
    assert!(message.contains("wrong-name.invalid"), "{message}");
    assert!(message.contains("does not verify"), "{message}");
    assert!(!message.contains(&password), "{message}");
    assert!(
        encrypted(&with("require")).is_err(),
        "require checks the name"
    );

    assert_eq!(encrypted(&with("verify-ca")), Ok(true));
    PostgresStorage::connect(&with("verify-ca")).expect("verify-ca: any host name");
}

/// `sslmode=disable` still works, unencrypted; with no `sslmode` (`prefer`, as libpq) the
/// connection is encrypted when the server offers TLS, without verifying its certificate.
#[test]
fn disable_stays_clear_and_prefer_encrypts_when_offered() {
    let Some((db, _ca)) = set_up("disable_stays_clear_and_prefer_encrypts") else {
        return;
    };
    let url = db.url_with("sslmode=disable&application_name=tls_disable");
    assert_eq!(encrypted(&url), Ok(false));
    let storage = PostgresStorage::connect(&url).unwrap();
    assert_eq!(
        storage
            .get(&StorageKey::try_new(["none"]).unwrap())
            .unwrap(),
        None
    );
    let (all, encrypted_count) = backends(&db, "tls_disable");
    assert!(all >= 1);
    assert_eq!(encrypted_count, 0);

    assert_eq!(
        encrypted(db.url()),
        Ok(true),
        "prefer, and the server offers TLS"
    );
}

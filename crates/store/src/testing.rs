//! Test support: a fresh PostgreSQL database per test, for the suites of this workspace that
//! run against [`PostgresStorage`] (the store's, the server's, the simulation's).
//!
//! The tests reach PostgreSQL through an admin URL in `PASSERELLE_TEST_POSTGRES` (printed by
//! `scripts/postgres-for-tests`). Each test creates its own database, `passerelle_t_<hex>`,
//! and drops it at the end, so tests running at once (and other people's) never share one.
//! Without the variable a test says why and skips, except under `CI`, where it fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::Client;

use crate::{PostgresStorage, StorageError};

/// The variable that holds the admin URL.
pub const TEST_POSTGRES_VAR: &str = "PASSERELLE_TEST_POSTGRES";

/// The variable that names the CA (a PEM file) that signed the test server's certificate,
/// for the TLS tests; [`DEFAULT_TEST_CA`] when unset.
pub const TEST_POSTGRES_CA_VAR: &str = "PASSERELLE_TEST_POSTGRES_CA";

/// The CA that `scripts/postgres-for-tests` makes, with a server certificate for 127.0.0.1
/// and localhost signed by it.
pub const DEFAULT_TEST_CA: &str = "/etc/postgresql/passerelle-tests-tls/ca.pem";

/// The CA the TLS tests trust ([`TEST_POSTGRES_CA_VAR`], else [`DEFAULT_TEST_CA`]).
///
/// `None` (after printing why, naming `test`) when the file does not exist, outside CI.
///
/// # Panics
/// When it does not exist under `CI` (scripts/postgres-for-tests makes it).
pub fn test_ca(test: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os(TEST_POSTGRES_CA_VAR)
        .filter(|path| !path.is_empty())
        .map_or_else(|| DEFAULT_TEST_CA.into(), std::path::PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs the CA of the test PostgreSQL's certificate: {} does not exist under CI \
         (scripts/postgres-for-tests makes it)",
        path.display()
    );
    eprintln!(
        "skipping {test}: it needs the CA of the test PostgreSQL's certificate, {} \
         (scripts/postgres-for-tests makes it; {TEST_POSTGRES_CA_VAR} names another)",
        path.display()
    );
    None
}

/// A database created for one test, dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a fresh database through the admin URL in `PASSERELLE_TEST_POSTGRES`.
    ///
    /// `None` (after printing why, naming `test`) when the variable is unset, outside CI.
    ///
    /// # Panics
    /// When the variable is unset under `CI` (CI always provides PostgreSQL), or when the
    /// database cannot be created.
    pub fn create(test: &str) -> Option<Self> {
        let Some(admin_url) = std::env::var(TEST_POSTGRES_VAR)
            .ok()
            .filter(|url| !url.is_empty())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test} needs PostgreSQL: {TEST_POSTGRES_VAR} is not set under CI \
                 (scripts/test sets it from scripts/postgres-for-tests)"
            );
            eprintln!(
                "skipping {test}: it needs PostgreSQL; set {TEST_POSTGRES_VAR} to an admin URL \
                 (scripts/postgres-for-tests prints one)"
            );
            return None;
        };
        Some(
            Self::create_through(&admin_url)
                .unwrap_or_else(|error| panic!("could not create a test database: {error}")),
        )
    }

    /// Creates a fresh database through `admin_url` (a `postgres://` URL of a user who may
    /// create databases), whatever the environment: for tools that take the URL as an
    /// argument (the benchmark).
    pub fn create_through(admin_url: &str) -> Result<Self, StorageError> {
        let name = fresh_name();
        let url = with_database(admin_url, &name);
        let sql = format!("CREATE DATABASE {name}");
        on_own_thread(admin_url, move |client| client.batch_execute(&sql))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// The URL of the database (with the admin's credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of the database with `params` (`key=value&…`) added to its query.
    pub fn url_with(&self, params: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{params}", self.url)
    }

    /// The database's name (`passerelle_t_<hex>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A [`PostgresStorage`] on the database.
    ///
    /// # Panics
    /// When it cannot connect.
    pub fn storage(&self) -> PostgresStorage {
        PostgresStorage::connect(&self.url).expect("connect to the test database")
    }

    /// Runs `sql` (statements separated by `;`) on the database, on a thread of its own (so
    /// async tests may call it too): for tests that damage or inspect what is stored.
    pub fn execute(&self, sql: &str) -> Result<(), StorageError> {
        let sql = sql.to_owned();
        on_own_thread(&self.url, move |client| client.batch_execute(&sql))
    }
}

impl TestDatabase {
    /// The one `bigint` that `sql` selects (a count, a sum), read on a thread of its own.
    pub fn select_i64(&self, sql: &str) -> Result<i64, StorageError> {
        let sql = sql.to_owned();
        on_own_thread(&self.url, move |client| {
            client.query_one(&sql, &[]).map(|row| row.get::<_, i64>(0))
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // `WITH (FORCE)` (PostgreSQL 13+) closes the connections a server under test left.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = on_own_thread(&self.admin_url, move |client| client.batch_execute(&sql))
        {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}

/// `passerelle_t_` and 16 hex digits, different in every call of every process.
fn fresh_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let mixed = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("passerelle_t_{mixed:016x}")
}

/// `url` (a `postgres://` URL) with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let authority_start = before_query.find("://").map_or(0, |at| at + 3);
    let base = match before_query[authority_start..].find('/') {
        Some(slash) => &before_query[..authority_start + slash],
        None => before_query,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Connects to `url` and runs `work` on a thread of its own: `postgres::Client` panics on a
/// thread that is inside a tokio runtime (an async test).
fn on_own_thread<T: Send + 'static>(
    url: &str,
    work: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, StorageError> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let shown = crate::display_url(&url);
        let (config, tls) = crate::postgres_tls::storage_config(&url)?;
        let mut client = config
            .connect(tls)
            .map_err(|error| StorageError::Io(format!("could not connect to {shown}: {error}")))?;
        work(&mut client).map_err(|error| StorageError::Io(format!("{shown}: {error}")))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(StorageError::Io(
            "the PostgreSQL thread panicked".to_owned(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1"),
            "postgres://u:p@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }

    #[test]
    fn names_are_fresh() {
        assert_ne!(fresh_name(), fresh_name());
        assert!(fresh_name().starts_with("passerelle_t_"));
    }
}

//! Which storage backend a command uses (`--store`): the sled store inside the data directory
//! (the default) or a PostgreSQL database, and the one function that opens it.
//!
//! With sled one process at a time holds the store (its directory lock), so the admin
//! commands of a running server go through it ([`crate::admin`]). A PostgreSQL database is
//! shared: several processes use it at once, the admin commands run directly on it, and
//! [`Storage::is_shared`] tells the caches that must not trust what they read earlier
//! ([`crate::auth::AuthStore`]'s ACL cache).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use passerelle_store::{PostgresStorage, SledOptions, SledStorage, Storage, StorageError};

/// The value of `--store`: `sled` or a `postgres://` (`postgresql://`) URL.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreBackend {
    /// The sled store in the data directory.
    #[default]
    Sled,
    /// A PostgreSQL database, by URL (which may hold a password: see [`StoreBackend::shown`]).
    Postgres {
        /// The connection URL.
        url: String,
    },
}

impl StoreBackend {
    /// Opens the backend: the sled store in `data_dir` with `sled_options`, or a connection
    /// pool to the database. A sled directory in use is [`StorageError::Locked`].
    pub fn open(
        &self,
        data_dir: &Path,
        sled_options: SledOptions,
    ) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(match self {
            StoreBackend::Sled => Arc::new(SledStorage::open_with(data_dir, sled_options)?),
            StoreBackend::Postgres { url } => Arc::new(PostgresStorage::connect(url)?),
        })
    }

    /// Whether this is PostgreSQL (shared by several processes).
    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreBackend::Postgres { .. })
    }

    /// What to call the store in messages: the data directory's sled store, or the database's
    /// URL without its password.
    pub fn shown(&self, data_dir: &Path) -> String {
        match self {
            StoreBackend::Sled => format!("the data directory {}", data_dir.display()),
            StoreBackend::Postgres { url } => {
                format!("the database {}", passerelle_store::display_url(url))
            }
        }
    }
}

/// Never the password.
impl fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreBackend::Sled => f.write_str("Sled"),
            StoreBackend::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &passerelle_store::display_url(url))
                .finish(),
        }
    }
}

impl FromStr for StoreBackend {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == "sled" {
            return Ok(StoreBackend::Sled);
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(StoreBackend::Postgres {
                url: value.to_owned(),
            });
        }
        Err("expected `sled` or a PostgreSQL URL (postgres://user:password@host/database)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hides_the_password() {
        assert_eq!("sled".parse::<StoreBackend>(), Ok(StoreBackend::Sled));
        let backend: StoreBackend = "postgres://p:s3cret@db/prog".parse().unwrap();
        assert!(backend.is_postgres());
        assert!(!format!("{backend:?}").contains("s3cret"));
        assert!(!backend.shown(Path::new("x")).contains("s3cret"));
        assert!("postgresql://db/prog".parse::<StoreBackend>().is_ok());
        assert!("mysql://db".parse::<StoreBackend>().is_err());
        assert!("".parse::<StoreBackend>().is_err());
    }
}

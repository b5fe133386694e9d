//! Durable storage for passerelle: a narrow [`Storage`] trait, its sled, PostgreSQL and
//! in-memory backends, and [`DocStore`], which keeps Automerge documents as content-addressed chunks
//! and compacts them.
//!
//! A runtime (the server, the client) opens one backend and one `DocStore` on it, and runs
//! the sync engine's storage tasks with [`DocStore::run`] on a blocking thread, since every
//! call here blocks on the disk:
//!
//! ```
//! use std::sync::Arc;
//! use passerelle_core::{DocumentId, StorageResult, StorageTask, TaskId};
//! use passerelle_store::{DocStore, SledStorage};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let storage = Arc::new(SledStorage::open(dir.path())?);
//! let docs = DocStore::new(storage);
//! let document_id = DocumentId::random();
//! let chunk = automerge::Automerge::new().save();
//! let answer = docs.run(StorageTask::Append { task: TaskId(1), document_id, chunk });
//! assert!(matches!(answer, StorageResult::Appended { .. }));
//! assert!(docs.load(&document_id)?.is_some());
//! # Ok(()) }
//! ```
//!
//! Other data (users, tokens) goes straight through the [`Storage`] trait under keys whose
//! first component is a reserved word such as `auth` or `acl`; [`DocStore`]'s documentation
//! says why those never collide with documents.
//!
//! # Layout
//! - `storage`: the [`Storage`] trait, [`Batch`], [`Op`] and [`StorageError`].
//! - `storage_key`: [`StorageKey`], validated components and their order-preserving bytes.
//! - `frame`: the format byte and CRC32 around every stored value, checked on every read.
//! - `memory_storage`: [`MemoryStorage`], a `BTreeMap`, for tests and ephemeral peers.
//! - `sled_storage`: [`SledStorage`], a sled database in a directory, flushed on every batch.
//! - `postgres_storage`: [`PostgresStorage`], one table in a PostgreSQL database that several
//!   processes may share, a transaction per batch.
//! - `postgres_tls`: [`postgres_config`], the settings and TLS set-up of every PostgreSQL
//!   connection (the storage's, the test helper's, the server's cluster), from the URL.
//! - [`testing`]: a fresh PostgreSQL database per test (`PASSERELLE_TEST_POSTGRES`).
//! - `doc_store`: [`DocStore`], the per-document key layout, loading, appending and
//!   compaction.

mod doc_store;
mod frame;
mod memory_storage;
mod postgres_lock;
mod postgres_storage;
mod postgres_tls;
mod sled_storage;
mod storage;
mod storage_key;
pub mod testing;

pub use doc_store::{Compaction, DEFAULT_MAX_CHUNKS, DOCUMENT_INDEX_PREFIX, DocStore};
pub use memory_storage::MemoryStorage;
pub use postgres_storage::{
    DEFAULT_POSTGRES_CONNECTIONS, POSTGRES_SCHEMA_VERSION, PostgresStorage, blocking_section,
    display_url,
};
pub use postgres_tls::{PostgresTls, postgres_config, with_causes};
pub use sled_storage::{DEFAULT_SLED_CACHE_CAPACITY, SledOptions, SledStorage};
pub use storage::{Batch, Op, Storage, StorageError, StorageLock, lock_waiting};
pub use storage_key::{MAX_COMPONENT_LEN, MAX_KEY_COMPONENTS, StorageKey};

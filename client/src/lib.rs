//! The passerelle client: a local, offline-first replica of a user's Automerge documents, and
//! the loop that syncs it with a passerelle server. The `passerelle` CLI is built on it.
//!
//! Open a [`Replica`] on a directory, then create, read and change documents with no network
//! at all. Every change is durable (flushed to disk) before the call that made it returns:
//!
//! ```
//! use passerelle_client::{DocPath, Replica};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let mut replica = Replica::open(dir.path())?;
//! let id = replica.create(&json!({
//!     "type": "mission",
//!     "title": {"fr": "Mission à Oujda", "ar": "بعثة إلى وجدة"},
//!     "agenda": [],
//! }))?;
//! replica.append(id, &"agenda".parse::<DocPath>()?, &json!({"title": "Visite de la régie"}))?;
//! replica.set(id, &"agenda.0.place".parse::<DocPath>()?, &json!("Oujda"))?;
//! assert_eq!(replica.get_json(id)?["agenda"][0]["place"], "Oujda");
//! // Nothing is confirmed by a server yet: the document is pending.
//! assert!(replica.sync_status(id)?.is_pending());
//! # Ok(()) }
//! ```
//!
//! Syncing is one call, [`Replica::sync`], over a [`Transport`] ([`HttpTransport`] for the
//! real server); it moves only what changed on either side, in requests sized in bytes, and
//! a pass cut short carries on where it stopped. [`SyncLoop`] keeps a replica in sync for as
//! long as it runs: live while the server is reachable, with [`Backoff`] while it is not.
//! Both tell the application what happened as [`ReplicaEvent`]s (in [`SyncReport::events`],
//! and from [`SyncLoop::events`]).
//!
//! Errors are [`ClientError`]s, one line each, meant to be shown to a person as they are.
//!
//! # Layout
//! - `replica`: [`Replica`], the sled directory, the sync engine, and how their storage tasks
//!   are run; the replica's own records (peer id, server, confirmed heads).
//! - `json`: JSON in and out of Automerge documents, and why strings are scalars for now.
//! - `doc_path`: [`DocPath`] (`budget.0.planned`), its resolution, and [`PathError`].
//! - `doc_summary`: [`DocSummary`], a document's id, type and title for listings.
//! - `sync_status`: [`SyncStatus`], what of a document the server has confirmed.
//! - `sync`: [`Replica::sync`], one pass, and its [`SyncOptions`], [`SyncReport`] and
//!   [`SyncEvent`]s (progress, for a progress bar).
//! - `replica_event`: [`ReplicaEvent`], what an application hears of syncing: changes
//!   arrived, the server reachable or not, changes refused.
//! - `docs_api`: per-document questions for the server: [`Replica::history`] (who wrote
//!   what, from the server's records, and what is still only here), and
//!   [`HttpTransport::document_access`] / [`HttpTransport::share`] (who may see what).
//! - `erasure`: [`Replica::export_everything`] (all the replica holds on a document, its
//!   history included), [`HttpTransport::erase`] (`DELETE /v1/docs/{id}`),
//!   [`Replica::erase_here`], [`Replica::is_erased`], [`Replica::documents_mentioning`], and
//!   the erasure of local copies the changes feed announces.
//! - `sync_records`: the durable bookkeeping of syncing (feed cursor, documents to check,
//!   documents with local changes, confirmed heads, [`Rejection`]s).
//! - `sync_loop`: [`SyncLoop`], [`Backoff`], [`StopSignal`].
//! - `transport`: the [`Transport`] trait and [`HttpTransport`] (reqwest, blocking).
//! - `server_config`: [`ServerConfig`], the server URL and token, validated.
//! - `error`: [`ClientError`].
//!
//! The binary's own modules (`main.rs`, `cli.rs`) hold the command line and its output.

mod doc_path;
mod doc_summary;
mod docs_api;
mod erasure;
mod error;
mod json;
mod replica;
mod replica_event;
mod server_config;
mod sync;
mod sync_loop;
mod sync_records;
mod sync_status;
mod transport;

pub use doc_path::{DocPath, PathError};
pub use doc_summary::DocSummary;
pub use docs_api::{
    AccessLevel, AccessRule, DocumentAccess, DocumentHistory, Grantee, HistoryRecord, PendingChange,
};
pub use erasure::{Mention, ServerErasure};
pub use error::ClientError;
pub use replica::{Replica, ReplicaSetup};
pub use replica_event::ReplicaEvent;
pub use server_config::ServerConfig;
pub use sync::{SyncAnswer, SyncCall, SyncEvent, SyncOptions, SyncPass, SyncReport, SyncStep};
pub use sync_loop::{Backoff, LoopConfig, LoopEvent, StopSignal, SyncLoop};
pub use sync_records::{Rejection, RejectionKind};
pub use sync_status::SyncStatus;
pub use transport::{CHECK_TIMEOUT, ChangedDocument, ChangesPage, HttpTransport, Transport};

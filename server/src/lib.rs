//! The passerelle sync server: keeps Automerge documents replicated between the offline-first
//! clients of the Lille–Oujda cooperation programme, and decides who may read and write each
//! of them.
//!
//! # Using it
//!
//! ```text
//! passerelle-server user add amina --org ville-de-lille --role admin   # prints a token
//! passerelle-server serve --data ./passerelle-data --listen 127.0.0.1:7780
//! passerelle-server token create youssef                               # while it runs, too
//! ```
//!
//! Clients present their token as `Authorization: Bearer <token>` (or `?token=<token>` where
//! headers cannot be set). The admin commands work whether the server runs or not: see
//! [`admin`] for how they reach a store that a running server holds.
//!
//! Embedding and testing: build an [`AppState`] over any
//! [`Storage`](passerelle_store::Storage), then either drive [`app`] directly (no socket) or
//! serve it with [`run`] on a listener of your choice (`127.0.0.1:0` in tests).
//!
//! # Layout
//! - [`auth`]: users, organisations, roles, bearer tokens, the document access policy
//!   ([`auth::access_for`], [`auth::allowed`]), authorship records, and [`auth::AuthStore`],
//!   which keeps them all in storage.
//! - `http`: [`AppState`], [`ServerConfig`], the router [`app`], the server loop [`run`], and
//!   the [`Authenticated`] / [`AuthenticatedToken`] extractors.
//! - `docs_http`: `GET /v1/docs/{id}/history` (who delivered each change) and
//!   `GET`/`PUT /v1/docs/{id}/access` (a document's owner and rules; sharing).
//! - `error`: [`AppError`], which turns failures into 4xx JSON or a generic 500.
//! - [`body_deadline`]: request bodies must arrive in time (slow uploads get 408).
//! - `listen`: accepts connections; request headers must arrive in time (slow-loris).
//! - [`backend`]: `--store`: sled in the data directory or a PostgreSQL database, opened as
//!   one `Arc<dyn Storage>` for every command.
//! - [`admin`]: the admin commands, their endpoint, `server.json`, and the loopback client.
//! - [`backup`]: `backup` and `restore`: the backup file format, per-document consistent
//!   reads of a running store, and restoring into a fresh data directory.
//! - [`check`]: `check`, which verifies every record and document of a stopped server's store.
//! - [`sync`]: the [`Hub`](sync::Hub) that owns the sync engine, the WebSocket endpoint
//!   (`GET /ws`, the automerge-repo protocol), the changes feed and the metrics.
//! - `web`: the web pages of [`passerelle_web`] over the hub and the access rules (sign-in
//!   with a token, then a session cookie).
//! - [`federation`]: peers (`DATA/peers.json`), and one link task per peer that replicates
//!   with another passerelle server over its batch sync and changes feed.
//! - [`cluster`]: several instances on one PostgreSQL database: the changes feed shared
//!   through a table and LISTEN/NOTIFY, other instances' changes relayed to this one's
//!   clients, leases that tell a crashed instance.
//! - `main.rs` and `cli.rs` (the binary): the command line, tracing setup, and `serve`.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod backup;
pub mod body_deadline;
pub mod check;
pub mod cluster;
mod docs_http;
mod error;
pub mod federation;
mod http;
mod listen;
pub mod sync;
mod web;

/// [`tokio::task::spawn_blocking`] for storage work: `work` runs in a
/// [`passerelle_store::blocking_section`], so that PostgreSQL calls run on the blocking thread
/// itself rather than hand off to the storage's connection threads and back.
pub(crate) fn spawn_blocking<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> tokio::task::JoinHandle<R> {
    tokio::task::spawn_blocking(move || passerelle_store::blocking_section(work))
}

pub use error::AppError;
pub use http::{AppState, Authenticated, AuthenticatedToken, ServerConfig, app, run};

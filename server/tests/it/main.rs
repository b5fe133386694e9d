//! The server's integration tests, one test binary: each module was a test file of its own;
//! linking one binary instead of one per file keeps CI's build short and its disk small.
//! Run one file's tests with `cargo test -p passerelle-server --test it MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod auth_access;
mod auth_http;
mod auth_store;
mod backup_consistency;
mod backup_corrupt;
mod backup_roundtrip;
mod cli_admin;
mod cluster;
mod docs_http;
mod hostile_input;
mod postgres_tls;
mod serve_limits;
mod sync_http;
mod sync_ws;

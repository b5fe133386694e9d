//! The client's integration tests, one test binary: each module was a test file of its own;
//! linking one binary instead of one per file keeps CI's build short and its disk small.
//! Run one file's tests with `cargo test -p passerelle-client --test it MODULE::`.
//!
//! `bench` (measurements, ignored) and `crash` (re-runs its own binary as a child) stay apart.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod cli_docs;
mod cli_erasure;
mod cli_help;
mod cli_programme;
mod cli_programme_lists;
mod cli_report;
mod cli_sync;
mod demo;
mod events;
mod replica;
mod sync;
mod sync_loop;
mod sync_pass;

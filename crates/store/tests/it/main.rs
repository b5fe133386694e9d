//! The store's integration tests, one test binary: each module was a test file of its own;
//! linking one binary instead of one per file keeps CI's build short and its disk small.
//! Run one file's tests with `cargo test -p passerelle-store --test it MODULE::`.
//!
//! `measure` (measurements, ignored, run by hand) stays apart.

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod doc_store;
mod model;
mod postgres;
mod postgres_locks;
mod postgres_tls;

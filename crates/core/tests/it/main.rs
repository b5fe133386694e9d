//! The sync engine's integration tests, one test binary: each module was a test file of its own;
//! linking one binary instead of one per file keeps CI's build short and its disk small.
//! Run one file's tests with `cargo test -p passerelle-core --test it MODULE::`.
//!
//! `fuzz_regressions` stays apart (fuzz/README.md runs it by name).

#[path = "../support/mod.rs"]
mod support;

mod engine;
mod simulation;
mod validate;
mod wire_fixtures;

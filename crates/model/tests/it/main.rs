//! The model's integration tests, one test binary: each module was a test file of its own;
//! linking one binary instead of one per file keeps CI's build short and its disk small.
//! Run one file's tests with `cargo test -p passerelle-model --test it MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod conflicts;
mod documents;
mod migration;
mod validation;

//! Durable storage for passerelle.

mod storage;
mod storage_key;

pub use storage::{Batch, Op, Storage, StorageError};
pub use storage_key::StorageKey;

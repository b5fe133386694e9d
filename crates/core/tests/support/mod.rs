//! Helpers shared by the engine's integration tests.

use std::collections::BTreeMap;

use passerelle_core::{DocumentId, StorageResult, StorageTask};

/// An in-memory disk that answers storage tasks at once: a document is the concatenation of
/// its appended chunks.
#[derive(Default)]
pub(crate) struct Disk(pub(crate) BTreeMap<DocumentId, Vec<u8>>);

impl Disk {
    /// Runs one storage task of the engine.
    pub(crate) fn run(&mut self, task: StorageTask) -> StorageResult {
        match task {
            StorageTask::Load { task, document_id } => StorageResult::Loaded {
                task,
                document_id,
                data: self.0.get(&document_id).cloned(),
            },
            StorageTask::Append {
                task,
                document_id,
                chunk,
            } => {
                self.0.entry(document_id).or_default().extend(chunk);
                StorageResult::Appended { task, document_id }
            }
        }
    }
}

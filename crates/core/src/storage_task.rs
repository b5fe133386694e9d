//! [`StorageTask`]: what the engine asks of durable storage, as data. A runtime runs it and
//! answers with a [`StorageResult`] carrying the same [`TaskId`].

use crate::DocumentId;

/// Ties a [`StorageResult`] to the [`StorageTask`] that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u64);

/// One request to storage. The engine never touches a disk; the runtime (server, client,
/// simulation) does, and reports back with [`StorageResult`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTask {
    /// Read every stored chunk of a document, concatenated in load order (snapshots then
    /// incrementals), ready for `Automerge::load`.
    Load {
        task: TaskId,
        document_id: DocumentId,
    },
    /// Append one chunk (a `save_after` or `save` of the document) and make it durable
    /// (flushed to disk) before answering.
    Append {
        task: TaskId,
        document_id: DocumentId,
        chunk: Vec<u8>,
    },
}

impl StorageTask {
    /// The id to answer with.
    pub fn task_id(&self) -> TaskId {
        match self {
            StorageTask::Load { task, .. } | StorageTask::Append { task, .. } => *task,
        }
    }

    /// The document the task concerns.
    pub fn document_id(&self) -> DocumentId {
        match self {
            StorageTask::Load { document_id, .. } | StorageTask::Append { document_id, .. } => {
                *document_id
            }
        }
    }
}

/// The answer to a [`StorageTask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageResult {
    /// The document's stored bytes; `None` when nothing is stored for it.
    Loaded {
        task: TaskId,
        document_id: DocumentId,
        data: Option<Vec<u8>>,
    },
    /// The chunk is durable.
    Appended {
        task: TaskId,
        document_id: DocumentId,
    },
    /// The task failed; `reason` is for logs and for the peer's error message.
    Failed {
        task: TaskId,
        document_id: DocumentId,
        reason: String,
    },
}

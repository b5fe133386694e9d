//! [`ClientError`]: everything that can go wrong in the client library, typed.

use std::path::PathBuf;

use passerelle_core::{DocumentId, EngineError};
use passerelle_store::StorageError;

use crate::PathError;

/// A failure of the client library. Each message is one line a person can act on; the CLI
/// prints it as it is.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The replica directory is open in another process (another `passerelle` command, or a
    /// long-running one). sled allows one process per directory, and two would corrupt it.
    #[error(
        "the replica at {} is in use by another passerelle process; try again when it has \
         finished",
        path.display()
    )]
    ReplicaBusy {
        /// The replica directory.
        path: PathBuf,
    },
    /// The replica directory could not be created.
    #[error("cannot create the replica directory {}: {source}", path.display())]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The storage backend failed (I/O, corruption).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No document with this id is stored in the replica.
    #[error("there is no document {0} in this replica (see `passerelle docs`)")]
    UnknownDocument(DocumentId),
    /// The document is stored but cannot be loaded (its storage failed or holds damaged data).
    #[error("document {document_id} cannot be loaded: {reason}")]
    Unreadable {
        /// The document.
        document_id: DocumentId,
        /// Why, from the storage layer or automerge.
        reason: String,
    },
    /// A change was made in memory but storage did not confirm it: it is **not** saved. (It
    /// is retried with the next change to the same document, whose storage chunk holds every
    /// change since the last durable point.)
    #[error("the change to document {document_id} was NOT saved: {reason}")]
    NotSaved {
        /// The document.
        document_id: DocumentId,
        /// What storage said.
        reason: String,
    },
    /// A path into a document does not name what the operation needs.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A document is created from a JSON object (its root is a map), not from another value.
    #[error("a document is created from a JSON object ({{...}}), not from {found}")]
    NotAnObject {
        /// What was given: "a list", "a string", ...
        found: &'static str,
    },
    /// The server URL given to `init` is not one the client can use.
    #[error("invalid server URL `{url}`: {reason}")]
    InvalidServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The token given to `init` cannot be a token.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Bytes given as an Automerge document do not load as one.
    #[error("not an Automerge document: {0}")]
    InvalidAutomerge(String),
    /// The sync engine refused a request (a document not loaded, or unavailable after a
    /// fault).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// One of the replica's own records (`["client", ...]` or a document's metadata) holds
    /// something this version did not write.
    #[error("the replica record {key} is corrupt: {reason}")]
    CorruptRecord {
        /// The key, as displayed.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

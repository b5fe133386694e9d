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
    /// No server is configured for this replica.
    #[error("no server is configured; run `passerelle init --server URL --token TOKEN` first")]
    NoServer,
    /// The server could not be reached (no route, refused connection, timeout, a connection
    /// dropped mid-request). Transient: retrying later is the cure.
    #[error("could not reach {server}: {reason}")]
    Unreachable {
        /// The server's URL.
        server: String,
        /// What failed, from the operating system or the HTTP stack.
        reason: String,
    },
    /// The server answered 401: the token is unknown, revoked or malformed.
    #[error(
        "the server refused the token; ask for a new one, then run `passerelle init --server \
         {server} --token NEW-TOKEN`"
    )]
    TokenRefused {
        /// The server's URL.
        server: String,
    },
    /// The server answered with an error status.
    #[error("the server {server} answered {status}: {message}")]
    Server {
        /// The server's URL.
        server: String,
        /// The HTTP status code.
        status: u16,
        /// The server's message (its `error` field), or the status's reason.
        message: String,
    },
    /// The server answered 404 about a document: it does not hold it, or the user may not
    /// see it (the server does not say which).
    #[error(
        "the server has no document {0}, or you may not see it (ask an admin of the \
         organisation that owns it to share it with you)"
    )]
    NotOnServer(DocumentId),
    /// The document is in this replica and the server never confirmed holding it: it was
    /// made here and not synced yet.
    #[error("document {0} has not reached the server yet; run `passerelle sync` first")]
    NotYetOnServer(DocumentId),
    /// The server understood the request and refused it (403); its reason.
    #[error("{0}")]
    Forbidden(String),
    /// The server's answer cannot be read (not the protocol this client speaks, or cut short).
    #[error("the server {server} sent an answer this client cannot read: {reason}")]
    BadResponse {
        /// The server's URL.
        server: String,
        /// What is wrong with it.
        reason: String,
    },
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

impl ClientError {
    /// Whether the failure may go away on its own, so that trying again later makes sense:
    /// the network, the server's own troubles (5xx, 408, 429), a replica busy in another
    /// process, storage that failed (a full disk can be freed). A refused token, a missing
    /// configuration or a request the server rejects as malformed need a person.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::BadResponse { .. }
            | ClientError::ReplicaBusy { .. }
            | ClientError::Storage(_)
            | ClientError::NotSaved { .. } => true,
            ClientError::Server { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            _ => false,
        }
    }
}

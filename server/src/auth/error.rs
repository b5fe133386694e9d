//! [`AuthError`] (the store failed) and [`Refusal`] (the request was understood and refused).

use passerelle_core::DocumentId;
use passerelle_store::StorageError;

use super::{Operation, UserName};

/// A failure: the storage backend failed, or holds a record this server cannot read. These
/// are the server's problems, never the client's: the HTTP layer answers 500 and logs them.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record does not decode. It is never treated as absent: a corrupt token record
    /// read as "no token" would be harmless, but a corrupt ACL read as "no ACL" would let the
    /// next editor re-create, and so take over, the document.
    #[error("stored record at {key} is unreadable: {reason}")]
    Corrupt {
        /// The storage key, as `a/b/c`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record written by a newer server (a format version this one does not know).
    #[error("stored record at {key} has format version {version}, newer than this server reads")]
    UnsupportedFormat {
        /// The storage key, as `a/b/c`.
        key: String,
        /// The version found.
        version: u32,
    },
}

/// An expected "no": the operation was refused for a reason the caller can show to the
/// person who asked. Returned as the inner error of `Result<Result<T, Refusal>, AuthError>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `user add` for a name that is taken.
    #[error("a user named `{0}` already exists")]
    UserExists(UserName),
    /// The user does not exist.
    #[error("there is no user named `{0}`")]
    UnknownUser(UserName),
    /// No token has this secret or id.
    #[error("no token has this secret or id")]
    UnknownToken,
    /// The document already has an ACL, so it cannot be created again.
    #[error("document {0} already exists")]
    DocumentExists(DocumentId),
    /// The document has no ACL. Callers facing the network must not tell this apart from
    /// [`Refusal::NotAllowed`] (see the protocol notes on `doc-unavailable`).
    #[error("document {0} does not exist")]
    UnknownDocument(DocumentId),
    /// The access policy denies the operation.
    #[error("not allowed to {0} this document")]
    NotAllowed(Operation),
}

//! The one error type of the crate.

use automerge::AutomergeError;

/// Why a document could not be read, edited, migrated or resolved.
///
/// Every error about a field names it with its full path, the document type first, as in
/// `mission.agenda[v1-2].starts_at: expected a date-time like 2026-05-12T09:30[Africa/Casablanca]`.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A field holds (or was given) a value of the wrong shape.
    #[error("{path}: expected {expected}")]
    Invalid {
        /// The field, e.g. `project.budget[k3f9a0c2].planned`.
        path: String,
        /// What the field should hold, in words.
        expected: String,
    },
    /// A required field is absent.
    #[error("{path}: missing")]
    Missing {
        /// The field.
        path: String,
    },
    /// A path names no field of this document type.
    #[error("{path}: no such field")]
    NoSuchField {
        /// The path as given.
        path: String,
    },
    /// A path names a list item that does not exist (or was deleted).
    #[error("{path}: no such item")]
    NoSuchItem {
        /// The path as given.
        path: String,
    },
    /// The operation does not apply to this kind of field (e.g. setting a list as a value).
    #[error("{path}: {reason}")]
    WrongOperation {
        /// The field.
        path: String,
        /// Why, in words.
        reason: &'static str,
    },
    /// The document is of another type than the caller expected.
    #[error("this is a {found} document, not a {expected}")]
    WrongType {
        /// The type the caller asked for.
        expected: &'static str,
        /// The type the document says it is.
        found: String,
    },
    /// The document was written by a newer schema than this program knows.
    #[error(
        "{doc_type} schema version {found} is newer than this program's ({current}); update passerelle"
    )]
    TooNew {
        /// The document's type.
        doc_type: &'static str,
        /// The document's schema version.
        found: u64,
        /// The newest version this program knows.
        current: u64,
    },
    /// A read-only call met a document of an older schema; open it with
    /// [`crate::open`] (which migrates) first.
    #[error("{doc_type} schema version {found} must be migrated to {current} first")]
    NeedsMigration {
        /// The document's type.
        doc_type: &'static str,
        /// The document's schema version.
        found: u64,
        /// The version it migrates to.
        current: u64,
    },
    /// Only an entry's author may edit it (journal entries).
    #[error("{path}: only its author, {author}, may edit this entry")]
    NotAuthor {
        /// The entry's field.
        path: String,
        /// The entry's author.
        author: String,
    },
    /// `resolve` was called on a field that holds a single value.
    #[error("{path}: no conflict to resolve")]
    NoConflict {
        /// The field.
        path: String,
    },
    /// Two amounts of different currencies were to be added.
    #[error("cannot add {left} and {right}: amounts in different currencies are never summed")]
    CurrencyMismatch {
        /// The left-hand amount.
        left: String,
        /// The right-hand amount.
        right: String,
    },
    /// Automerge refused an operation.
    #[error(transparent)]
    Automerge(#[from] AutomergeError),
}

impl ModelError {
    pub(crate) fn invalid(path: impl ToString, expected: impl Into<String>) -> Self {
        ModelError::Invalid {
            path: path.to_string(),
            expected: expected.into(),
        }
    }

    /// The field path the error is about, when it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ModelError::Invalid { path, .. }
            | ModelError::Missing { path }
            | ModelError::NoSuchField { path }
            | ModelError::NoSuchItem { path }
            | ModelError::WrongOperation { path, .. }
            | ModelError::NotAuthor { path, .. }
            | ModelError::NoConflict { path } => Some(path),
            _ => None,
        }
    }
}

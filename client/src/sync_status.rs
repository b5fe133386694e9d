//! [`SyncStatus`]: what of a document the server has confirmed, and what is pending.

use automerge::ChangeHash;
use passerelle_core::DocumentId;

use crate::Rejection;

/// Where one document stands with the server.
///
/// The sync code records the heads the server confirmed holding
/// ([`Replica::record_confirmed_heads`](crate::Replica::record_confirmed_heads)); every local
/// change not covered by them is pending. A document the server never confirmed is pending
/// as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// The document.
    pub document_id: DocumentId,
    /// The document's heads in this replica.
    pub heads: Vec<ChangeHash>,
    /// The heads the server last confirmed, if it ever did.
    pub confirmed_heads: Option<Vec<ChangeHash>>,
    /// The number of changes in this replica that the confirmed heads do not cover.
    pub pending_changes: usize,
    /// What the server last refused of this document, if it did (kept until a later sync
    /// of the document succeeds).
    pub rejection: Option<Rejection>,
}

impl SyncStatus {
    /// Whether some local change is not yet confirmed by the server.
    pub fn is_pending(&self) -> bool {
        self.pending_changes > 0
    }
}

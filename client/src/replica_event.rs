//! [`ReplicaEvent`]: what an application built on the client hears about — changes made
//! elsewhere arriving, the server coming and going, changes the server refused.
//!
//! Two sources:
//! - [`Replica::sync`](crate::Replica::sync) returns the events of its pass in
//!   [`SyncReport::events`](crate::SyncReport::events), in the order they happened, ending
//!   with one [`ReplicaEvent::SyncStateChanged`] (the pass reached the server).
//! - [`SyncLoop`](crate::SyncLoop) forwards those of every pass, and adds a
//!   [`ReplicaEvent::SyncStateChanged`] each time the server stops answering. Receive them
//!   from [`SyncLoop::events`](crate::SyncLoop::events) (a channel, for another thread, e.g.
//!   a user interface's) or as [`LoopEvent::Replica`](crate::LoopEvent::Replica) in the
//!   loop's observer callback.
//!
//! Every `RemoteChanges` event is sent only once the changes are durable in the replica;
//! every `ChangeRefused` once the refusal is recorded (`passerelle status` shows it).

use std::time::SystemTime;

use automerge::ChangeHash;
use passerelle_core::DocumentId;

/// Something an application may want to show or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicaEvent {
    /// Changes made elsewhere arrived for this document and are saved in the replica.
    RemoteChanges {
        /// The document.
        document_id: DocumentId,
        /// Its heads in the replica now (the merge of ours and the server's).
        heads: Vec<ChangeHash>,
        /// Its title, as `passerelle docs` shows it, if it has one.
        title: Option<String>,
    },
    /// The server became reachable or unreachable, or a sync completed (which moves
    /// `last_sync`).
    SyncStateChanged {
        /// Whether the server answered.
        reachable: bool,
        /// When the last complete sync ended (every document synced), if one ever did.
        last_sync: Option<SystemTime>,
        /// Why the server could not be reached, when it could not.
        error: Option<String>,
    },
    /// The server refused this document's local changes (the user may read it, not change
    /// it). The changes stay in the replica; they are not sent again until the document
    /// changes here once more.
    ChangeRefused {
        /// The document.
        document_id: DocumentId,
        /// The server's reason.
        reason: String,
    },
}

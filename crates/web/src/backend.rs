//! [`Backend`]: what the pages need from whoever serves them — the sync server over its hub
//! and access rules, or the client over its local replica.

use std::collections::HashMap;
use std::future::Future;

use automerge::{AutoCommit, ChangeHash};
use passerelle_core::DocumentId;
use tokio::sync::{broadcast, watch};

/// A failure of the backend (storage, the hub gone). Shown as a generic 500; the text goes
/// to the log only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

impl BackendError {
    /// A backend error from anything printable.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

/// The outcome of [`Backend::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The changes are durable.
    Saved,
    /// The reader may read the document but not change it; nothing was applied.
    ReadOnly,
    /// The reader may not see the document, or it does not exist (the same answer).
    Unavailable,
    /// The changes were malformed and refused.
    Failed(String),
}

/// The sync state shown on every page.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncView {
    /// `true` when the pages are served by the sync server itself (always online).
    pub is_server: bool,
    /// Whether the server answered the last attempt (`None`: not tried yet).
    pub online: Option<bool>,
    /// Changes made here that the server has not confirmed yet.
    pub unsynced_changes: usize,
    /// When the last complete sync ended (RFC 3339), if ever.
    pub last_sync: Option<String>,
}

/// Something that moved, for the pages' live updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// This document changed (here or elsewhere).
    Changed(DocumentId),
    /// The sync state changed: pages fetch [`Backend::sync_view`] again.
    SyncState,
}

/// Who made one change of a document, and when, as far as the backend knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authored {
    /// The person: the server's user whose connection delivered the change first, or the
    /// local user for a change made here that the server has not confirmed yet.
    pub who: String,
    /// When the server received it (`None`: the change's own time is shown, if it has one).
    pub at: Option<jiff::Timestamp>,
}

/// What the pages need. Implemented by the server (over its hub and access rules) and by the
/// client (over its local replica).
///
/// A `Reader` is whoever looks at the pages: the server's signed-in user, the local user.
/// Every method that touches a document takes it, and must answer exactly as the sync API
/// would for that reader: a document it could not sync is absent.
pub trait Backend: Send + Sync + 'static {
    /// Whoever reads the pages.
    type Reader: Clone + Send + Sync + 'static;

    /// The reader a bearer token signs in as (`None`: unknown or revoked). Called on every
    /// request of a signed-in session, so that a revoked token ends the session at once.
    fn sign_in(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<Self::Reader>, BackendError>> + Send;

    /// The reader of a backend that needs no sign-in (the local UI: its user); `None` when
    /// the pages ask for a token (the server).
    fn local_reader(&self) -> Option<Self::Reader>;

    /// The name recorded with the reader's edits (`Stamp::by`).
    fn reader_name(&self, reader: &Self::Reader) -> String;

    /// Every document the reader may read, with its content (at most `limit` of them).
    fn documents(
        &self,
        reader: &Self::Reader,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(DocumentId, AutoCommit)>, BackendError>> + Send;

    /// One document, if the reader may read it (`None`: missing or denied, alike).
    fn document(
        &self,
        reader: &Self::Reader,
        id: DocumentId,
    ) -> impl Future<Output = Result<Option<AutoCommit>, BackendError>> + Send;

    /// Whether the reader may read the document (for live events: a page never hears of a
    /// document its reader could not sync).
    fn may_read(
        &self,
        reader: &Self::Reader,
        id: DocumentId,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Whether `id` was erased for good (an actor's personal data) and the reader could have
    /// read it: the pages then show a reference to it as erased rather than as an unknown id.
    /// By default nothing is known to be erased.
    fn erased(
        &self,
        reader: &Self::Reader,
        id: DocumentId,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        let _ = (reader, id);
        async { Ok(false) }
    }

    /// Merges `doc` — the stored document plus the reader's new changes, made on top of
    /// `base` (the heads it was loaded at) — into the document `id`; durable when `Saved`.
    fn apply(
        &self,
        reader: &Self::Reader,
        id: DocumentId,
        doc: AutoCommit,
        base: Vec<ChangeHash>,
    ) -> impl Future<Output = Result<Applied, BackendError>> + Send;

    /// Every published document, for the public page, which needs no sign-in: only projects
    /// and missions whose `public` is true (see [`crate::Published::from_doc`], which every
    /// backend uses to choose and to cut down), at most `limit`, with the partner ids they
    /// name resolved to organisation names (see [`crate::organisation_name`]). Nothing else of
    /// any document may leave this method.
    fn published(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<crate::Published>, BackendError>> + Send;

    /// Who made the changes of these documents (those the reader may read; others are left
    /// out), by change hash. A change missing from the answer is shown without a name.
    fn authors(
        &self,
        reader: &Self::Reader,
        ids: Vec<DocumentId>,
    ) -> impl Future<
        Output = Result<HashMap<DocumentId, HashMap<ChangeHash, Authored>>, BackendError>,
    > + Send;

    /// The sync state shown on every page.
    fn sync_view(&self) -> SyncView;

    /// What moved from now on.
    fn subscribe(&self) -> broadcast::Receiver<LiveEvent>;

    /// Becomes `true` when the service shuts down: live streams end, so that a graceful
    /// shutdown does not wait for them.
    fn closing(&self) -> watch::Receiver<bool>;
}

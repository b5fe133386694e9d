//! Document sync: the [`Hub`] that owns the sync engine, the WebSocket endpoint speaking
//! the automerge-repo protocol, the changes feed and the server's metrics.

pub(crate) mod batch_http;
mod feed;
mod hub;
mod memory;
pub use memory::fix_mmap_threshold;
mod metrics;
pub(crate) mod websocket;
mod writer;

use std::sync::Arc;

use passerelle_store::{DocStore, Storage, StorageError, StorageKey};

pub use batch_http::{ChangedDocument, ChangesResponse, MAX_BATCH_DOCUMENTS};
pub use feed::{ChangeFeed, Cursor, CursorError, SAVED_FEED_KEY, Since, discard_saved};
pub(crate) use feed::{SharedEntry, ToShared};
pub(crate) use hub::Claimed;
pub use hub::{Hub, HubConfig};
pub use metrics::Metrics;

use crate::auth::{AuthStore, DocumentAcl};
use passerelle_core::DocumentId;

/// The ACL of a document (`None`: it does not exist), from [`AuthStore`]'s cache when it is
/// there, else read on a blocking thread. The sync paths check it on every message, so the
/// common case must cost neither a storage read nor a thread hand-off. Errors are for logs.
pub(crate) async fn document_acl(
    sync: &SyncState,
    auth: &Arc<AuthStore>,
    document_id: DocumentId,
) -> Result<Option<DocumentAcl>, String> {
    if let Some(acl) = auth.cached_acl(&document_id) {
        return Ok(acl);
    }
    let auth = Arc::clone(auth);
    sync.blocking(move || auth.acl(&document_id))
        .await
        .map_err(|join| join.to_string())?
        .map_err(|error| error.to_string())
}

/// Everything the sync endpoints share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncState {
    /// The engine's task.
    pub hub: Hub,
    /// Which documents changed, for `/v1/changes`.
    pub feed: Arc<ChangeFeed>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The documents' chunks.
    pub docs: Arc<DocStore>,
    /// This server's storage id (a UUIDv4, stable across restarts), sent in `peer`.
    pub storage_id: String,
    /// Messages queued per connection before it is dropped as too slow.
    pub outbox_capacity: usize,
    /// Set to `true` at shutdown: every connection closes.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// [`HubConfig::inline_storage`]: blocking calls run in place (see [`SyncState::blocking`]).
    inline_storage: bool,
    /// Several instances on one PostgreSQL database ([`HubConfig::cluster_url`]).
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl SyncState {
    /// Starts the hub on the current tokio runtime. Blocks briefly to read (or create) the
    /// server's storage id and to resume the changes feed a graceful shutdown saved.
    pub fn start(storage: Arc<dyn Storage>, auth: Arc<AuthStore>, config: HubConfig) -> Self {
        let storage_id = storage_id(storage.as_ref()).unwrap_or_else(|error| {
            tracing::error!("could not read or store the server's storage id: {error}");
            uuid::Uuid::new_v4().to_string()
        });
        // A feed shared by several instances lives in the database: nothing to resume.
        let feed = Arc::new(match config.cluster_url {
            Some(_) => ChangeFeed::new(),
            None => ChangeFeed::resume(storage.as_ref(), config.seed),
        });
        let docs = Arc::new(DocStore::new(storage));
        let inline_storage = config.inline_storage;
        let metrics = Arc::new(Metrics::default());
        let outbox_capacity = config.outbox_capacity;
        let cluster_url = config.cluster_url.clone();
        let hub = Hub::start(
            config,
            Arc::clone(&docs),
            Arc::clone(&auth),
            Arc::clone(&feed),
            Arc::clone(&metrics),
        );
        let cluster = cluster_url.map(|url| {
            Arc::new(crate::cluster::Cluster::start(
                url,
                Arc::clone(&feed),
                hub.clone(),
                Arc::clone(&docs),
                auth,
            ))
        });
        Self {
            hub,
            feed,
            metrics,
            docs,
            storage_id,
            outbox_capacity,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
            inline_storage,
            cluster,
        }
    }

    /// Runs blocking storage work (a token or ACL check) on tokio's blocking pool, or in place
    /// under [`HubConfig::inline_storage`], where a thread's timing would make a simulation
    /// impossible to replay.
    pub(crate) async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, tokio::task::JoinError> {
        if self.inline_storage {
            Ok(work())
        } else {
            crate::spawn_blocking(work).await
        }
    }
}

/// The server's storage id, kept under `["server", "storage-id"]`.
fn storage_id(storage: &dyn Storage) -> Result<String, StorageError> {
    let key = StorageKey::try_new(["server", "storage-id"])?;
    if let Some(Ok(id)) = storage.get(&key)?.map(String::from_utf8) {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut batch = passerelle_store::Batch::new();
    batch.put(key, id.clone().into_bytes());
    storage.apply(batch)?;
    Ok(id)
}

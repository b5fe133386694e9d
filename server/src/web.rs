//! The web pages on the server ([`passerelle_web`]), over the hub and the access rules.
//!
//! A page reads and writes documents exactly as a batch-sync client does: through the hub
//! ([`crate::sync::Hub::delta`]), after the same access check, so a page never shows a
//! document its reader could not sync, an edit by a reader is refused as a sync would be,
//! and every edit gets its authorship record and its entry in the changes feed. Live events
//! follow the changes feed.
//!
//! The public page reads without a user: through the hub as the peer `public~web` (no user's
//! peer name has that form), read-only, and only [`Published`] views leave
//! [`ServerPages::published`] — projects and missions whose `public` is true, cut down to
//! their public fields, and the names of the organisations they name as partners. The list
//! is computed once per position of the changes feed (every change, grant and erasure moves
//! it), so an anonymous visitor cannot make the server read every document on each request.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use automerge::{AutoCommit, ChangeHash};
use passerelle_core::{DeltaOutcome, DeltaRequest, DocumentId, PeerId};
use passerelle_web::{
    Applied, Authored, Backend, BackendError, LiveEvent, Published, SyncView, organisation_name,
};
use tokio::sync::{broadcast, watch};

use crate::auth::AuthStore;
use crate::auth::{Access, OrgName, Principal, Role, UserName, access_for};
use crate::sync::{Since, SyncState};

/// How many live events wait for a slow page before it is told to refresh instead.
const LIVE_CAPACITY: usize = 1_024;

/// The most documents the public page's list may name as partners (each one read).
const MAX_PARTNER_READS: usize = 1_000;

/// The server's [`Backend`].
#[derive(Debug)]
pub(crate) struct ServerPages {
    auth: Arc<AuthStore>,
    sync: SyncState,
    events: broadcast::Sender<LiveEvent>,
    /// The public page's list and the feed position it was computed at.
    published: tokio::sync::Mutex<Option<(u64, Vec<Published>)>>,
}

impl ServerPages {
    /// The backend over the server's auth store and hub; follows the changes feed on a task
    /// of its own until the server closes. Call inside the server's runtime.
    pub(crate) fn start(auth: Arc<AuthStore>, sync: SyncState) -> Arc<Self> {
        let (events, _) = broadcast::channel(LIVE_CAPACITY);
        let feed = Arc::clone(&sync.feed);
        let sender = events.clone();
        let mut closing = sync.closing.subscribe();
        let pages = Arc::new(Self {
            auth,
            sync,
            events,
            published: tokio::sync::Mutex::new(None),
        });
        tokio::spawn(async move {
            let mut cursor = feed.cursor();
            loop {
                tokio::select! {
                    _ = closing.wait_for(|closing| *closing) => return,
                    () = feed.wait_past(cursor.seq) => {}
                }
                let (since, now) = feed.since(Some(cursor));
                cursor = now;
                if let Since::Changes(changes) = since {
                    for (id, _) in changes {
                        // No page listening is fine.
                        let _ = sender.send(LiveEvent::Changed(id));
                    }
                }
            }
        });
        pages
    }

    /// The reader's rights on a document, and whether it exists.
    async fn access(&self, reader: &Principal, id: DocumentId) -> Result<Access, BackendError> {
        let acl = crate::sync::document_acl(&self.sync, &self.auth, id)
            .await
            .map_err(BackendError::new)?;
        Ok(access_for(reader, acl.as_ref()))
    }

    /// The principal of the public page's reads. Only ever used for read-only deltas (no
    /// changes, `may_write` false): it is never checked against an ACL, and never authors
    /// anything.
    fn public_reader() -> Result<Principal, BackendError> {
        Ok(Principal {
            user: UserName::new("public").map_err(BackendError::new)?,
            org: OrgName::new("public").map_err(BackendError::new)?,
            role: Role::Viewer,
        })
    }

    /// A document read through the hub for the public page, without an access check: only
    /// [`ServerPages::published`] calls it, and only published views leave that method.
    async fn read_for_public(&self, id: DocumentId) -> Result<Option<AutoCommit>, BackendError> {
        let reader = Self::public_reader()?;
        document_in(
            self.delta(&reader, id, Vec::new(), Vec::new(), false)
                .await?,
        )
    }

    /// The ids of every document in the store (one listing, off the runtime's threads).
    async fn stored_ids(&self) -> Result<Vec<DocumentId>, BackendError> {
        let docs = Arc::clone(&self.sync.docs);
        self.sync
            .blocking(move || docs.list_documents())
            .await
            .map_err(BackendError::new)?
            .map_err(BackendError::new)
    }

    /// Every published document, and the names of the organisations they name.
    async fn compute_published(&self, limit: usize) -> Result<Vec<Published>, BackendError> {
        let ids = self.stored_ids().await?;
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= limit {
                break;
            }
            if let Some(mut doc) = self.read_for_public(id).await?
                && let Some(published) = Published::from_doc(id, &mut doc)
            {
                out.push(published);
            }
        }
        let named: BTreeSet<DocumentId> = out
            .iter()
            .flat_map(|p| p.partner_ids().iter().copied())
            .collect();
        let mut names = HashMap::new();
        for id in named.into_iter().take(MAX_PARTNER_READS) {
            if let Some(mut doc) = self.read_for_public(id).await?
                && let Some(name) = organisation_name(&mut doc)
            {
                names.insert(id, name);
            }
        }
        for published in &mut out {
            published.resolve(&names);
        }
        Ok(out)
    }

    /// The hub's peer name for this reader's page requests (authorship goes to the reader).
    fn peer(reader: &Principal) -> Result<PeerId, BackendError> {
        format!("{}~web", crate::sync::batch_http::user_tag(reader))
            .parse()
            .map_err(BackendError::new)
    }

    /// One delta through the hub, as a batch-sync client sends it.
    async fn delta(
        &self,
        reader: &Principal,
        id: DocumentId,
        heads: Vec<ChangeHash>,
        changes: Vec<u8>,
        may_write: bool,
    ) -> Result<DeltaOutcome, BackendError> {
        let from = Self::peer(reader)?;
        let request = DeltaRequest {
            request: 0,
            from: from.clone(),
            document_id: id,
            heads,
            changes,
            may_write,
        };
        let outcome = self.sync.hub.delta(request, reader.clone()).await;
        self.sync.hub.delta_done(from).await;
        outcome.ok_or_else(|| BackendError::new("the sync hub is gone (shutting down)"))
    }
}

/// The document a read-only delta brought back (a `save()`: the reader had nothing), if any.
fn document_in(outcome: DeltaOutcome) -> Result<Option<AutoCommit>, BackendError> {
    match outcome {
        DeltaOutcome::Synced { changes, .. } if !changes.is_empty() => AutoCommit::load(&changes)
            .map(Some)
            .map_err(BackendError::new),
        DeltaOutcome::Synced { .. } | DeltaOutcome::Unavailable => Ok(None),
        DeltaOutcome::Failed(message) => Err(BackendError::new(message)),
    }
}

impl Backend for ServerPages {
    type Reader = Principal;

    async fn sign_in(&self, token: &str) -> Result<Option<Principal>, BackendError> {
        let auth = Arc::clone(&self.auth);
        let token = token.to_owned();
        self.sync
            .blocking(move || auth.check_token(&token))
            .await
            .map_err(BackendError::new)?
            .map_err(BackendError::new)
    }

    fn local_reader(&self) -> Option<Principal> {
        None
    }

    fn reader_name(&self, reader: &Principal) -> String {
        reader.user.as_str().to_owned()
    }

    async fn documents(
        &self,
        reader: &Principal,
        limit: usize,
    ) -> Result<Vec<(DocumentId, AutoCommit)>, BackendError> {
        let ids = self.stored_ids().await?;
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= limit {
                break;
            }
            if let Some(doc) = self.document(reader, id).await? {
                out.push((id, doc));
            }
        }
        Ok(out)
    }

    async fn document(
        &self,
        reader: &Principal,
        id: DocumentId,
    ) -> Result<Option<AutoCommit>, BackendError> {
        if self.access(reader, id).await? < Access::Read {
            return Ok(None);
        }
        document_in(
            self.delta(reader, id, Vec::new(), Vec::new(), false)
                .await?,
        )
    }

    async fn may_read(&self, reader: &Principal, id: DocumentId) -> Result<bool, BackendError> {
        Ok(self.access(reader, id).await? >= Access::Read)
    }

    async fn erased(&self, reader: &Principal, id: DocumentId) -> Result<bool, BackendError> {
        let auth = Arc::clone(&self.auth);
        let tombstone = self
            .sync
            .blocking(move || auth.tombstone(&id))
            .await
            .map_err(BackendError::new)?
            .map_err(BackendError::new)?;
        // Said only to a reader who could read it before (its rules are in the tombstone).
        Ok(tombstone.is_some_and(|t| access_for(reader, t.acl.as_ref()) >= Access::Read))
    }

    async fn apply(
        &self,
        reader: &Principal,
        id: DocumentId,
        mut doc: AutoCommit,
        base: Vec<ChangeHash>,
    ) -> Result<Applied, BackendError> {
        let rights = self.access(reader, id).await?;
        if rights < Access::Read {
            return Ok(Applied::Unavailable);
        }
        let changes: Vec<u8> = doc
            .get_changes(&base)
            .into_iter()
            .flat_map(|change| change.raw_bytes().to_vec())
            .collect();
        if changes.is_empty() {
            return Ok(Applied::Saved);
        }
        let heads = doc.get_heads();
        let may_write = rights >= Access::Write;
        Ok(
            match self.delta(reader, id, heads, changes, may_write).await? {
                DeltaOutcome::Synced { refused: true, .. } => Applied::ReadOnly,
                DeltaOutcome::Synced { .. } => Applied::Saved,
                DeltaOutcome::Unavailable => Applied::Unavailable,
                DeltaOutcome::Failed(message) => Applied::Failed(message),
            },
        )
    }

    async fn published(&self, limit: usize) -> Result<Vec<Published>, BackendError> {
        // One computation at a time; others wait for it and reuse it.
        let mut cached = self.published.lock().await;
        let position = self.sync.feed.cursor().seq;
        if let Some((at, list)) = cached.as_ref()
            && *at == position
        {
            return Ok(list.iter().take(limit).cloned().collect());
        }
        let list = self.compute_published(limit).await?;
        *cached = Some((position, list.clone()));
        Ok(list)
    }

    async fn authors(
        &self,
        reader: &Principal,
        ids: Vec<DocumentId>,
    ) -> Result<HashMap<DocumentId, HashMap<ChangeHash, Authored>>, BackendError> {
        let mut readable = Vec::new();
        for id in ids {
            if self.may_read(reader, id).await? {
                readable.push(id);
            }
        }
        let auth = Arc::clone(&self.auth);
        self.sync
            .blocking(move || {
                let mut out = HashMap::new();
                for id in readable {
                    let records = auth.history(&id)?;
                    let by_change: HashMap<ChangeHash, Authored> = records
                        .into_iter()
                        .map(|r| {
                            (
                                ChangeHash(*r.change_hash.as_bytes()),
                                Authored {
                                    // `karim (lille)` for a user of a peer server.
                                    who: r.author_label(),
                                    at: Some(r.at),
                                },
                            )
                        })
                        .collect();
                    out.insert(id, by_change);
                }
                Ok::<_, crate::auth::AuthError>(out)
            })
            .await
            .map_err(BackendError::new)?
            .map_err(BackendError::new)
    }

    fn sync_view(&self) -> SyncView {
        SyncView {
            is_server: true,
            online: Some(true),
            unsynced_changes: 0,
            last_sync: None,
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    fn closing(&self) -> watch::Receiver<bool> {
        self.sync.closing.subscribe()
    }
}

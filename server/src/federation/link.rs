//! [`Link`]: the task that keeps this server and one peer in step.
//!
//! It is a batch-sync client of the peer (`GET /v1/changes`, `POST /v1/sync`, with the
//! token the peer issued us) whose local side is this server's own hub instead of a replica:
//! every local read and write is a [`DeltaRequest`] to the hub, exactly like a batch-sync
//! client's, so the peer's changes are validated, stored durably, recorded with authorship
//! and announced to local clients (the changes feed, and WebSocket peers) like anyone's.
//!
//! One pass:
//! 1. candidates: the documents our changes feed lists since our local cursor (all of them
//!    after a reset) and those the peer's feed lists since its cursor (long-polled when we
//!    have nothing to send), minus those whose heads are the peer's heads we recorded;
//! 2. for each candidate the offered user may read here: ask the hub for our heads and the
//!    changes the peer lacks (relative to the peer heads recorded), send them in one batch;
//! 3. ask the peer who made the reply's changes (`POST /v1/authorship`), apply them through
//!    the hub (written as the offered user, if they may write; documents new here are
//!    created as theirs; the authorship records name their authors on the peer), record the
//!    peer's heads, durably (the batch sent in 2 carries the authors of our changes, see
//!    [`super::claims`]);
//! 4. once every batch is done, store both cursors: a restart resumes from them.
//!
//! No loops: what we just received has the recorded peer heads, so our feed's entry for it
//! is skipped; what we just sent comes back in the peer's feed with the heads it replied,
//! skipped too.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::ChangeHash;
use passerelle_core::batch::{self, DocumentDelta, DocumentReply, ReplyStatus, SyncResponse};
use passerelle_core::validate::change_hashes;
use passerelle_core::{DeltaOutcome, DeltaRequest, DocumentId, PeerId};
use passerelle_store::{Batch, StorageKey};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::claims::{
    AuthorClaim, AuthorshipAnswer, AuthorshipQuery, DocumentAuthors, MAX_QUERY_DOCUMENTS,
    MAX_QUERY_HASHES, QueryDocument, SyncRequestWithAuthors,
};
use super::config::{PeerConfig, PeerStatus, StatusFile};
use crate::auth::{Access, MAX_ORIGIN_HOPS, Operation, Principal, UserName, access_for, allowed};
use crate::http::AppState;
use crate::sync::Claimed;
use crate::sync::{ChangesResponse, Cursor, Since};

/// Documents per `POST /v1/sync`.
const BATCH_DOCUMENTS: usize = 64;
/// How long the peer's feed is long-polled when we have nothing to send.
const LONG_POLL_SECS: u64 = 25;
/// How long one local hub exchange may take.
const DELTA_TIMEOUT: Duration = Duration::from_secs(30);
/// The most heads a document may have in a reply (a document has a handful).
const MAX_HEADS: usize = 1_024;
/// The longest cursor kept from the peer.
const MAX_CURSOR_LEN: usize = 256;
/// The longest JSON answer of the peer's feed.
const MAX_FEED_BYTES: usize = 64 * 1024 * 1024;
/// The longest JSON answer of the peer's `POST /v1/authorship` (10,000 records of ~250
/// bytes at most, with room).
const MAX_AUTHORS_BYTES: usize = 8 * 1024 * 1024;
/// Pauses between failed attempts: 1 s doubling to 60 s, with jitter.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Rounds per batch: a round sends again what the peer still lacks after the last one
/// (someone edited here meanwhile).
const MAX_ROUNDS: usize = 3;

/// The two cursors of one peer, stored under `["peer", NAME, "cursors"]`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursors {
    remote: Option<String>,
    local: Option<String>,
}

/// The link to one peer. See the module documentation.
pub(crate) struct Link {
    config: PeerConfig,
    base: Url,
    http: reqwest::Client,
    state: AppState,
    /// The hub's name for this peer (`fed~NAME`).
    peer_id: PeerId,
    /// Our replica name in the peer's batch sync.
    replica: String,
    remote_cursor: Option<String>,
    local_cursor: Option<Cursor>,
    /// The peer's heads per document, as last confirmed (`["peer", NAME, "heads", DOC]`).
    heads: HashMap<DocumentId, Vec<ChangeHash>>,
    status: Arc<Mutex<StatusFile>>,
    max_body: usize,
}

impl Link {
    pub(crate) fn new(
        config: PeerConfig,
        state: AppState,
        status: Arc<Mutex<StatusFile>>,
    ) -> anyhow::Result<Self> {
        let base = config.base_url()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(LONG_POLL_SECS + 35))
            .build()?;
        let peer_id: PeerId = format!("fed~{}", config.name).parse()?;
        let replica = format!("fed-{}", &state.sync.storage_id);
        let max_body = state.config.max_message_bytes;
        Ok(Self {
            config,
            base,
            http,
            state,
            peer_id,
            replica,
            remote_cursor: None,
            local_cursor: None,
            heads: HashMap::new(),
            status,
            max_body,
        })
    }

    /// Runs until the server closes (or the task is aborted: the configuration changed).
    pub(crate) async fn run(mut self, mut closing: watch::Receiver<bool>) {
        if let Err(error) = self.load().await {
            tracing::error!(peer = %self.config.name, "could not read the peer's state: {error:#}");
            self.update(|s| s.error = Some(format!("{error:#}")));
            return;
        }
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                outcome = self.pass() => outcome,
                _ = closing.wait_for(|closing| *closing) => return,
            };
            match outcome {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let pause = backoff(failures);
                    tracing::warn!(peer = %self.config.name, "link down ({error:#}); retrying in {pause:?}");
                    self.update(|s| {
                        s.connected = false;
                        s.error = Some(format!("{error:#}"));
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = closing.wait_for(|closing| *closing) => return,
                    }
                }
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut PeerStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        change(status.peers.entry(self.config.name.clone()).or_default());
    }

    fn key(&self, rest: &[&str]) -> anyhow::Result<StorageKey> {
        let mut components = vec!["peer", self.config.name.as_str()];
        components.extend_from_slice(rest);
        Ok(StorageKey::try_new(components)?)
    }

    /// Reads the cursors and the recorded heads.
    async fn load(&mut self) -> anyhow::Result<()> {
        let storage = Arc::clone(&self.state.storage);
        let cursors_key = self.key(&["cursors"])?;
        let heads_prefix = self.key(&["heads"])?;
        let (cursors, heads) = self
            .state
            .sync
            .blocking(move || -> anyhow::Result<_> {
                let cursors = storage.get(&cursors_key)?;
                let heads = storage.scan_prefix(&heads_prefix)?;
                Ok((cursors, heads))
            })
            .await??;
        if let Some(bytes) = cursors {
            let cursors: Cursors = serde_json::from_slice(&bytes)?;
            self.remote_cursor = cursors.remote;
            self.local_cursor = cursors.local.and_then(|text| text.parse().ok());
        }
        for (key, value) in heads {
            let Some(id) = key.components().last().and_then(|c| c.parse().ok()) else {
                continue;
            };
            self.heads.insert(id, decode_heads(&value));
        }
        Ok(())
    }

    async fn save(&self, batch: Batch) -> anyhow::Result<()> {
        let storage = Arc::clone(&self.state.storage);
        self.state
            .sync
            .blocking(move || storage.apply(batch))
            .await??;
        Ok(())
    }

    fn recorded(&self, id: &DocumentId) -> Vec<ChangeHash> {
        self.heads.get(id).cloned().unwrap_or_default()
    }

    /// The local user the peer is offered as, read again each pass (a deleted user stops the
    /// link; a changed role applies).
    async fn principal(&self) -> anyhow::Result<Principal> {
        let auth = Arc::clone(&self.state.auth);
        let name = self.config.offer.clone();
        let user = self.state.sync.blocking(move || auth.user(&name)).await??;
        match user {
            Some(user) => Ok(user.principal()),
            None => anyhow::bail!(
                "the offered user `{}` does not exist on this server",
                self.config.offer
            ),
        }
    }

    async fn pass(&mut self) -> anyhow::Result<()> {
        let principal = self.principal().await?;
        let feed = Arc::clone(&self.state.sync.feed);
        let (since, local_now) = feed.since(self.local_cursor);
        // Candidates, and whether the peer's feed named them (then ask even when our heads
        // are the recorded ones).
        let mut candidates: BTreeMap<DocumentId, bool> = BTreeMap::new();
        match since {
            Since::Reset => {
                let docs = Arc::clone(&self.state.sync.docs);
                for id in self
                    .state
                    .sync
                    .blocking(move || docs.list_documents())
                    .await??
                {
                    candidates.insert(id, false);
                }
            }
            Since::Changes(changed) => {
                for (id, heads) in changed {
                    // Empty heads: a grant (the heads are not told); compare.
                    if feed.erased(&id).is_none()
                        && (heads.is_empty() || self.recorded(&id) != heads)
                    {
                        candidates.insert(id, false);
                    }
                }
            }
        }
        let page = if candidates.is_empty() && self.remote_cursor.is_some() {
            tokio::select! {
                page = self.changes(LONG_POLL_SECS) => Some(page?),
                // Something changed here: start again, with it.
                _ = feed.wait_past(local_now.seq) => None,
            }
        } else {
            Some(self.changes(0).await?)
        };
        let Some(page) = page else {
            return Ok(());
        };
        self.update(|s| {
            s.connected = true;
            s.error = None;
        });
        for entry in &page.documents {
            // Erasure does not cross yet: an erased document stays on the other side.
            if entry.deleted {
                continue;
            }
            let Ok(id) = entry.id.parse::<DocumentId>() else {
                tracing::warn!(peer = %self.config.name, "the peer's feed names a malformed id");
                continue;
            };
            let heads: Option<Vec<ChangeHash>> =
                entry.heads.iter().map(|h| h.parse().ok()).collect();
            // Empty heads: a grant there (heads not told); compare.
            if page.reset
                || heads.is_none_or(|heads| heads.is_empty() || heads != self.recorded(&id))
            {
                candidates.insert(id, true);
            }
        }
        let candidates: Vec<(DocumentId, bool)> = candidates.into_iter().collect();
        let mut behind = candidates.len();
        self.update(|s| s.behind = behind);
        for chunk in candidates.chunks(BATCH_DOCUMENTS) {
            let mut todo = chunk.to_vec();
            for _ in 0..MAX_ROUNDS {
                todo = self.exchange(&todo, &principal).await?;
                if todo.is_empty() {
                    break;
                }
            }
            behind -= chunk.len();
            self.update(|s| s.behind = behind);
        }
        if page.cursor.len() <= MAX_CURSOR_LEN {
            self.remote_cursor = Some(page.cursor);
        } else {
            self.remote_cursor = None;
        }
        self.local_cursor = Some(local_now);
        let cursors = Cursors {
            remote: self.remote_cursor.clone(),
            local: self.local_cursor.map(|c| c.to_string()),
        };
        let mut batch = Batch::new();
        batch.put(self.key(&["cursors"])?, serde_json::to_vec(&cursors)?);
        self.save(batch).await?;
        let now = jiff::Timestamp::now().to_string();
        self.update(|s| {
            s.last_sync = Some(now);
            s.behind = 0;
        });
        Ok(())
    }

    /// One batch round trip for `docs`; returns the documents the peer still lacks changes
    /// of (to send in another round).
    async fn exchange(
        &mut self,
        docs: &[(DocumentId, bool)],
        principal: &Principal,
    ) -> anyhow::Result<Vec<(DocumentId, bool)>> {
        struct Sent {
            id: DocumentId,
            exists: bool,
            may_write: bool,
            local_heads: Vec<ChangeHash>,
        }
        let mut sent = Vec::new();
        let mut deltas = Vec::new();
        let mut authors = Vec::new();
        for &(id, asked) in docs {
            let acl = crate::sync::document_acl(&self.state.sync, &self.state.auth, id)
                .await
                .map_err(anyhow::Error::msg)?;
            let rights = access_for(principal, acl.as_ref());
            let exists = acl.is_some();
            if exists && rights < Access::Read {
                // Not offered, and nothing of the peer's is taken in.
                continue;
            }
            if !exists && !allowed(principal, None, Operation::Create) {
                continue;
            }
            let recorded = self.recorded(&id);
            let (local_heads, changes) = if exists {
                match self
                    .local(
                        id,
                        recorded.clone(),
                        Vec::new(),
                        false,
                        principal,
                        Claimed::new(),
                    )
                    .await?
                {
                    DeltaOutcome::Synced { heads, changes, .. } => (heads, changes),
                    DeltaOutcome::Unavailable => (Vec::new(), Vec::new()),
                    DeltaOutcome::Failed(message) => {
                        tracing::warn!(peer = %self.config.name, %id, "could not read: {message}");
                        continue;
                    }
                }
            } else {
                (Vec::new(), Vec::new())
            };
            if !asked && local_heads == recorded {
                continue;
            }
            if !changes.is_empty() {
                let changes = self.claims_for(id, &changes).await?;
                if !changes.is_empty() {
                    authors.push(DocumentAuthors {
                        id: id.to_string(),
                        changes,
                    });
                }
            }
            deltas.push(DocumentDelta {
                id: id.to_string(),
                heads: batch::to_wire(&local_heads),
                changes,
            });
            sent.push(Sent {
                id,
                exists,
                may_write: rights >= Access::Write,
                local_heads,
            });
        }
        if deltas.is_empty() {
            return Ok(Vec::new());
        }
        let response = self.sync(deltas, &authors).await?;
        anyhow::ensure!(
            response.documents.len() == sent.len(),
            "the peer answered {} documents for {}",
            response.documents.len(),
            sent.len()
        );
        // Who made the changes the peer sent: asked before they are applied, since the first
        // record of a change stays.
        let mut received_authors = self.ask_authors(&response.documents).await?;
        let mut again = Vec::new();
        let mut records = Batch::new();
        let mut synced = 0u64;
        for (doc, reply) in sent.into_iter().zip(response.documents) {
            anyhow::ensure!(
                reply.id == doc.id.to_string(),
                "the peer answered out of order"
            );
            let id = doc.id;
            match reply.status {
                ReplyStatus::Unavailable => continue,
                ReplyStatus::Error => {
                    tracing::warn!(peer = %self.config.name, %id, "the peer could not apply our changes: {}",
                        reply.message.as_deref().unwrap_or("no reason given"));
                    // Send everything next time.
                    self.heads.remove(&id);
                    records.delete(self.key(&["heads", &id.to_string()])?);
                    continue;
                }
                ReplyStatus::Ok | ReplyStatus::Refused => {}
            }
            anyhow::ensure!(
                reply.heads.len() <= MAX_HEADS,
                "the peer sent too many heads"
            );
            let remote_heads = batch::from_wire(&reply.heads);
            let mut record = |this: &mut Self, heads: Vec<ChangeHash>| -> anyhow::Result<()> {
                records.put(this.key(&["heads", &id.to_string()])?, encode_heads(&heads));
                this.heads.insert(id, heads);
                Ok(())
            };
            synced += 1;
            if reply.changes.is_empty() && remote_heads == doc.local_heads {
                record(self, remote_heads)?;
                continue;
            }
            let may_write = if doc.exists {
                doc.may_write
            } else {
                if reply.changes.is_empty() {
                    continue;
                }
                let auth = Arc::clone(&self.state.auth);
                let creator = principal.clone();
                match self
                    .state
                    .sync
                    .blocking(move || auth.create_document(&id, &creator))
                    .await??
                {
                    Ok(_) => true,
                    // Created meanwhile (or erased here once): the next pass decides.
                    Err(_) => continue,
                }
            };
            let claimed = received_authors.remove(&id).unwrap_or_default();
            match self
                .local(
                    id,
                    remote_heads.clone(),
                    reply.changes,
                    may_write,
                    principal,
                    claimed,
                )
                .await?
            {
                DeltaOutcome::Synced {
                    changes, missing, ..
                } => {
                    if missing.is_empty() || !may_write {
                        record(self, remote_heads)?;
                    } else {
                        // Their changes did not complete their heads here: start over.
                        record(self, Vec::new())?;
                    }
                    if !changes.is_empty() && reply.status == ReplyStatus::Ok {
                        again.push((id, true));
                    }
                }
                DeltaOutcome::Unavailable => {}
                DeltaOutcome::Failed(message) => {
                    tracing::warn!(peer = %self.config.name, %id, "the peer's changes were refused here: {message}");
                }
            }
        }
        if !records.ops.is_empty() {
            self.save(records).await?;
        }
        self.update(|s| s.documents_synced += synced);
        Ok(again)
    }

    /// One exchange with the local hub, as this peer.
    async fn local(
        &self,
        document_id: DocumentId,
        heads: Vec<ChangeHash>,
        changes: Vec<u8>,
        may_write: bool,
        principal: &Principal,
        authors: Claimed,
    ) -> anyhow::Result<DeltaOutcome> {
        let hub = &self.state.sync.hub;
        let delta = DeltaRequest {
            request: 0,
            from: self.peer_id.clone(),
            document_id,
            heads,
            changes,
            may_write,
        };
        let outcome = tokio::time::timeout(
            DELTA_TIMEOUT,
            hub.delta_with_authors(delta, principal.clone(), authors),
        )
        .await;
        hub.delta_done(self.peer_id.clone()).await;
        match outcome {
            Ok(Some(outcome)) => Ok(outcome),
            Ok(None) => anyhow::bail!("the sync hub is gone (shutting down)"),
            Err(_) => anyhow::bail!("the local hub did not answer within {DELTA_TIMEOUT:?}"),
        }
    }

    /// `GET /v1/changes` of the peer.
    async fn changes(&self, wait: u64) -> anyhow::Result<ChangesResponse> {
        let mut url = self.base.join("v1/changes")?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(cursor) = &self.remote_cursor {
                query.append_pair("since", cursor);
            }
            query.append_pair("wait", &wait.to_string());
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.config.token)
            .send()
            .await?;
        let body = self.body(response, MAX_FEED_BYTES).await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// What this server records of who made the changes in `changes` of `id`, as claims for
    /// the peer (which takes them if our account there has the `peer` role).
    async fn claims_for(&self, id: DocumentId, changes: &[u8]) -> anyhow::Result<Vec<AuthorClaim>> {
        let Ok(hashes) = change_hashes(changes) else {
            // Our own hub's output: cannot happen; the peer then names our link account.
            return Ok(Vec::new());
        };
        let auth = Arc::clone(&self.state.auth);
        let records = self
            .state
            .sync
            .blocking(move || auth.authorship_of(&id, hashes.into_iter().map(Into::into)))
            .await??;
        Ok(records
            .iter()
            // One that came through too many servers cannot go further: the peer then
            // names our link account.
            .filter(|record| record.origin.len() < MAX_ORIGIN_HOPS)
            .map(AuthorClaim::from_record)
            .collect())
    }

    /// Asks the peer who made the changes of its `replies` (`POST /v1/authorship`), and
    /// checks the answer into the records to keep here (naming the peer). A peer without
    /// that route (an older server) answers 404: its changes are then recorded as the
    /// offered user's.
    async fn ask_authors(
        &self,
        replies: &[DocumentReply],
    ) -> anyhow::Result<HashMap<DocumentId, Claimed>> {
        let mut queries: Vec<Vec<QueryDocument>> = vec![Vec::new()];
        let mut in_query = 0usize;
        for reply in replies {
            if reply.changes.is_empty()
                || !matches!(reply.status, ReplyStatus::Ok | ReplyStatus::Refused)
            {
                continue;
            }
            let Ok(hashes) = change_hashes(&reply.changes) else {
                // Malformed: the hub refuses them anyway.
                continue;
            };
            for part in hashes.chunks(MAX_QUERY_HASHES) {
                if in_query + part.len() > MAX_QUERY_HASHES
                    || queries
                        .last()
                        .is_some_and(|q| q.len() >= MAX_QUERY_DOCUMENTS)
                {
                    queries.push(Vec::new());
                    in_query = 0;
                }
                in_query += part.len();
                queries.last_mut().expect("one query").push(QueryDocument {
                    id: reply.id.clone(),
                    hashes: part.iter().map(ToString::to_string).collect(),
                });
            }
        }
        let via = UserName::new(self.config.name.as_str())?;
        let mut out: HashMap<DocumentId, Claimed> = HashMap::new();
        for documents in queries.into_iter().filter(|q| !q.is_empty()) {
            let response = self
                .http
                .post(self.base.join("v1/authorship")?)
                .bearer_auth(&self.config.token)
                .json(&AuthorshipQuery { documents })
                .send()
                .await?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                tracing::debug!(peer = %self.config.name, "the peer does not tell authors");
                return Ok(HashMap::new());
            }
            let body = self.body(response, MAX_AUTHORS_BYTES).await?;
            let answer: AuthorshipAnswer = serde_json::from_slice(&body)?;
            let now = jiff::Timestamp::now();
            for document in answer.documents {
                let Ok(id) = document.id.parse::<DocumentId>() else {
                    anyhow::bail!("the peer's authors name a malformed document id");
                };
                let records = out.entry(id).or_default();
                for claim in document.changes {
                    // A record we cannot keep (too far, or names we refuse) leaves that
                    // change to the offered user; the rest of the answer stands.
                    match claim.to_record(&via, now) {
                        Ok(record) => {
                            records.entry(record.change_hash).or_insert(record);
                        }
                        Err(error) => {
                            tracing::debug!(peer = %self.config.name, %id, "author not kept: {error}")
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// `POST /v1/sync` of the peer, with the authors of the changes sent.
    async fn sync(
        &self,
        documents: Vec<DocumentDelta>,
        authors: &[DocumentAuthors],
    ) -> anyhow::Result<SyncResponse> {
        let body = batch::encode(&SyncRequestWithAuthors {
            replica: &self.replica,
            documents: &documents,
            authors,
        });
        let response = self
            .http
            .post(self.base.join("v1/sync")?)
            .bearer_auth(&self.config.token)
            .header(reqwest::header::CONTENT_TYPE, "application/cbor")
            .body(body)
            .send()
            .await?;
        let body = self.body(response, self.max_body).await?;
        Ok(batch::decode(&body)?)
    }

    /// The body of a successful answer, at most `limit` bytes.
    async fn body(&self, mut response: reqwest::Response, limit: usize) -> anyhow::Result<Vec<u8>> {
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            anyhow::bail!("the peer refused our token (401): ask its admins for a new one");
        }
        if !status.is_success() {
            anyhow::bail!("the peer answered {status}");
        }
        if response.content_length().is_some_and(|n| n > limit as u64) {
            anyhow::bail!("the peer's answer is larger than {limit} bytes");
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            anyhow::ensure!(
                body.len() + chunk.len() <= limit,
                "the peer's answer is larger than {limit} bytes"
            );
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .map(|chunk| ChangeHash(chunk.try_into().expect("32 bytes")))
        .collect()
}

/// The pause after `failures` failed attempts in a row: 1 s doubling up to 60 s, each with
/// up to a quarter more at random, so that many servers do not retry in step.
fn backoff(failures: u32) -> Duration {
    let base = BACKOFF_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(6))
        .min(BACKOFF_MAX);
    let jitter = base.mul_f64(rand::random::<f64>() / 4.0);
    base + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_and_backoff_is_bounded() {
        let heads = vec![ChangeHash([1; 32]), ChangeHash([2; 32])];
        assert_eq!(decode_heads(&encode_heads(&heads)), heads);
        assert!(decode_heads(&[]).is_empty());
        assert!(backoff(1) >= BACKOFF_MIN && backoff(1) < BACKOFF_MIN * 2);
        assert!(backoff(100) <= BACKOFF_MAX.mul_f64(1.25));
        assert!(backoff(3) >= Duration::from_secs(4));
    }
}

//! The replica's durable sync bookkeeping, under `["client", …]` in its store.
//!
//! | key | value | meaning |
//! | --- | --- | --- |
//! | `client/cursor` | UTF-8 | the changes-feed cursor of the last page recorded |
//! | `client/check/DOC` | empty | the server may hold changes of DOC we lack: ask |
//! | `client/dirty/DOC` | empty | DOC may hold local changes the server has not confirmed |
//! | `client/confirmed/DOC` | JSON hex list | the heads the server last confirmed holding |
//! | `client/rejected/DOC` | JSON [`Rejection`] | the server refused our changes, or the document |
//! | `client/erased/DOC` | decimal ms since the epoch | DOC was erased (here or on the server) |
//! | `client/last-sync` | decimal ms since the epoch | the end of the last complete pass |
//! | `client/estimates` | JSON | what documents brought back lately, to size requests |
//!
//! The `check` and `dirty` sets make a pass cost what changed, not what is stored: a pass
//! loads only the documents in them. `dirty` is written *before* a local change is made
//! (a crash in between leaves a harmless extra candidate, never a change that is not sent),
//! and cleared once the server confirmed heads covering every local change. `check` is
//! written together with the feed cursor that announced the change, in one batch, so a page
//! of the feed is never lost: a pass cut short resumes from these sets.

use std::collections::BTreeSet;

use automerge::ChangeHash;
use passerelle_core::DocumentId;
use passerelle_store::{Batch, Storage, StorageKey};
use serde::{Deserialize, Serialize};

use crate::ClientError;
use crate::sync::Estimates;

pub(crate) const CLIENT_PREFIX: &str = "client";
const CURSOR: &str = "cursor";
pub(crate) const CHECK: &str = "check";
pub(crate) const DIRTY: &str = "dirty";
pub(crate) const CONFIRMED: &str = "confirmed";
pub(crate) const REJECTED: &str = "rejected";
/// Documents erased for good (an actor's personal data): their ids stay, with no content, so
/// that references to them from other documents can be shown as erased rather than unknown.
pub(crate) const ERASED: &str = "erased";
const LAST_SYNC: &str = "last-sync";
const ESTIMATES: &str = "estimates";

/// What the server said no to, kept until a later sync of the document succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The document.
    #[serde(skip, default = "placeholder_id")]
    pub document_id: DocumentId,
    /// Refused (read-only access) or unavailable (no such document, or no access).
    pub kind: RejectionKind,
    /// The server's reason, for a person.
    pub reason: String,
    /// The local changes that were not accepted (hex hashes). They stay in the replica; they
    /// are not sent again until the document changes locally once more.
    pub changes: Vec<String>,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Why a [`Rejection`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RejectionKind {
    /// The user may read the document but not change it: the changes were not applied.
    Refused,
    /// The server has no such document, or the user may not see it.
    Unavailable,
}

fn placeholder_id() -> DocumentId {
    DocumentId::from_bytes([0; 16])
}

impl Rejection {
    /// The refused change hashes.
    pub(crate) fn hashes(&self) -> BTreeSet<ChangeHash> {
        self.changes.iter().filter_map(|h| h.parse().ok()).collect()
    }
}

pub(crate) fn key(parts: &[&str]) -> StorageKey {
    StorageKey::try_new(std::iter::once(CLIENT_PREFIX).chain(parts.iter().copied()))
        .expect("the client's record keys are valid")
}

pub(crate) fn doc_key(set: &str, document_id: &DocumentId) -> StorageKey {
    key(&[set, &document_id.to_string()])
}

fn corrupt(key: &StorageKey, reason: impl std::fmt::Display) -> ClientError {
    ClientError::CorruptRecord {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// The documents in one of the per-document sets (`check`, `dirty`, `rejected`, ...).
pub(crate) fn members(
    storage: &dyn Storage,
    set: &str,
) -> Result<BTreeSet<DocumentId>, ClientError> {
    let prefix = key(&[set]);
    let mut out = BTreeSet::new();
    for key in storage.keys_with_prefix(&prefix)? {
        match key.components() {
            [_, _, id] => {
                out.insert(id.parse().map_err(|e| corrupt(&key, e))?);
            }
            _ => return Err(corrupt(&key, "expected client/SET/DOC")),
        }
    }
    Ok(out)
}

pub(crate) fn is_member(
    storage: &dyn Storage,
    set: &str,
    document_id: &DocumentId,
) -> Result<bool, ClientError> {
    Ok(storage.get(&doc_key(set, document_id))?.is_some())
}

/// Adds the document to the `dirty` set, durably, unless it is there already.
pub(crate) fn mark_dirty(
    storage: &dyn Storage,
    document_id: &DocumentId,
) -> Result<(), ClientError> {
    let key = doc_key(DIRTY, document_id);
    if storage.get(&key)?.is_none() {
        let mut batch = Batch::new();
        batch.put(key, Vec::new());
        storage.apply(batch)?;
    }
    Ok(())
}

pub(crate) fn cursor(storage: &dyn Storage) -> Result<Option<String>, ClientError> {
    let key = key(&[CURSOR]);
    storage
        .get(&key)?
        .map(|bytes| String::from_utf8(bytes).map_err(|e| corrupt(&key, e)))
        .transpose()
}

pub(crate) fn put_cursor(batch: &mut Batch, cursor: &str) {
    batch.put(key(&[CURSOR]), cursor.as_bytes().to_vec());
}

pub(crate) fn delete_cursor(batch: &mut Batch) {
    batch.delete(key(&[CURSOR]));
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    serde_json::to_vec(&hex).expect("a list of strings serialises")
}

pub(crate) fn decode_heads(key: &StorageKey, value: &[u8]) -> Result<Vec<ChangeHash>, ClientError> {
    let hex: Vec<String> = serde_json::from_slice(value).map_err(|e| corrupt(key, e))?;
    hex.iter()
        .map(|h| h.parse().map_err(|e| corrupt(key, format!("`{h}`: {e}"))))
        .collect()
}

pub(crate) fn confirmed(
    storage: &dyn Storage,
    document_id: &DocumentId,
) -> Result<Option<Vec<ChangeHash>>, ClientError> {
    let key = doc_key(CONFIRMED, document_id);
    storage
        .get(&key)?
        .map(|value| decode_heads(&key, &value))
        .transpose()
}

pub(crate) fn put_confirmed(batch: &mut Batch, document_id: &DocumentId, heads: &[ChangeHash]) {
    batch.put(doc_key(CONFIRMED, document_id), encode_heads(heads));
}

pub(crate) fn rejection(
    storage: &dyn Storage,
    document_id: &DocumentId,
) -> Result<Option<Rejection>, ClientError> {
    let key = doc_key(REJECTED, document_id);
    let Some(value) = storage.get(&key)? else {
        return Ok(None);
    };
    let mut rejection: Rejection = serde_json::from_slice(&value).map_err(|e| corrupt(&key, e))?;
    rejection.document_id = *document_id;
    Ok(Some(rejection))
}

pub(crate) fn put_rejection(batch: &mut Batch, rejection: &Rejection) {
    batch.put(
        doc_key(REJECTED, &rejection.document_id),
        serde_json::to_vec(rejection).expect("a rejection serialises"),
    );
}

pub(crate) fn last_sync_ms(storage: &dyn Storage) -> Result<Option<u64>, ClientError> {
    let key = key(&[LAST_SYNC]);
    storage
        .get(&key)?
        .map(|bytes| {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| corrupt(&key, "expected a number of milliseconds"))
        })
        .transpose()
}

pub(crate) fn put_last_sync(batch: &mut Batch, at_ms: u64) {
    batch.put(key(&[LAST_SYNC]), at_ms.to_string().into_bytes());
}

/// The stored answer-size estimates; the defaults when none (or unreadable: they are only a
/// hint).
pub(crate) fn estimates(storage: &dyn Storage) -> Result<Estimates, ClientError> {
    Ok(storage
        .get(&key(&[ESTIMATES]))?
        .and_then(|value| serde_json::from_slice(&value).ok())
        .unwrap_or_default())
}

pub(crate) fn put_estimates(batch: &mut Batch, estimates: &Estimates) {
    batch.put(
        key(&[ESTIMATES]),
        serde_json::to_vec(estimates).expect("estimates serialise"),
    );
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Deletes every record of the given per-document sets, and the cursor and last sync time:
/// the replica forgets what any server confirmed (the server changed).
pub(crate) fn forget_server(storage: &dyn Storage) -> Result<(), ClientError> {
    let mut batch = Batch::new();
    for set in [CHECK, CONFIRMED, REJECTED] {
        for key in storage.keys_with_prefix(&key(&[set]))? {
            batch.delete(key);
        }
    }
    delete_cursor(&mut batch);
    batch.delete(key(&[LAST_SYNC]));
    batch.delete(key(&[ESTIMATES]));
    storage.apply(batch)?;
    Ok(())
}

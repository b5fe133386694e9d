//! [`ChangeFeed`]: which documents changed, in order, so that a client holding thousands of
//! documents syncs only those that moved (`GET /v1/changes`).
//!
//! The feed lives in memory. A cursor names the feed's *epoch* (a random number drawn at
//! start-up) and a sequence number; a cursor from another epoch or from before the oldest
//! entry kept is answered with `reset`, and the client falls back to a full comparison of its
//! documents. That costs one full pass, and never misses a change.
//!
//! A graceful shutdown saves the feed ([`ChangeFeed::save`], after every write has drained)
//! and the next start resumes it ([`ChangeFeed::resume`]), epoch included, so clients keep
//! their cursors across a planned restart or an upgrade. The saved copy is deleted, durably,
//! before the resumed feed serves anything: after a crash there is none, a new epoch is drawn
//! and every client compares once, as a feed that may lack the last entries must not be
//! trusted. Admin commands that open the store of a stopped server discard it too
//! ([`discard_saved`]), since they may change what a caller can see without the feed hearing.
//!
//! Several instances on one PostgreSQL database share one feed ([`crate::cluster`]): the feed
//! is then [`shared`](ChangeFeed::share). What is published goes to the cluster, which inserts
//! it as a row of the database's feed table, and every instance applies the table's rows in
//! order ([`ChangeFeed::apply_shared`]) with the database's sequence numbers and epoch, so a
//! cursor from one instance works on any other. Nothing is saved at shutdown then.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use automerge::ChangeHash;
use passerelle_core::DocumentId;
use passerelle_store::{Batch, Storage, StorageError, StorageKey};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::auth::DocumentAcl;

/// The most entries the feed keeps; older cursors get `reset`.
const MAX_ENTRIES: usize = 100_000;

/// A position in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    epoch: u64,
    pub(crate) seq: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// A cursor that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("a cursor looks like `<hex epoch>-<number>`, as returned by /v1/changes")]
pub struct CursorError;

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (epoch, seq) = input.split_once('-').ok_or(CursorError)?;
        Ok(Self {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| CursorError)?,
            seq: seq.parse().map_err(|_| CursorError)?,
        })
    }
}

/// What changed since a cursor.
#[derive(Debug)]
pub enum Since {
    /// These documents changed (each once, with its latest durable heads).
    Changes(Vec<(DocumentId, Vec<ChangeHash>)>),
    /// The cursor is from another epoch or too old: compare everything.
    Reset,
}

#[derive(Debug, Default)]
struct Entries {
    /// The feed's epoch (see [`Cursor`]).
    epoch: u64,
    /// seq → document, one entry per document (its latest change).
    by_seq: BTreeMap<u64, DocumentId>,
    /// document → (seq, heads).
    latest: HashMap<DocumentId, (u64, Vec<ChangeHash>)>,
    /// The lowest seq a cursor may name without a reset.
    floor: u64,
    /// Documents whose latest entry is their erasure, with the rules they had: the feed
    /// tells those who could read them (and only them) that they are gone.
    erased: HashMap<DocumentId, DocumentAcl>,
}

/// An entry on its way to the feed shared by several instances ([`ChangeFeed::share`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SharedEntry {
    pub(crate) document_id: DocumentId,
    pub(crate) heads: Vec<ChangeHash>,
    pub(crate) erased: Option<DocumentAcl>,
}

/// What a shared feed sends to the cluster's publisher.
#[derive(Debug)]
pub(crate) enum ToShared {
    /// An entry to insert.
    Entry(SharedEntry),
    /// Answer once every entry sent before is in the database.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The feed. Shared by the hub (which publishes) and the HTTP handlers (which read).
#[derive(Debug)]
pub struct ChangeFeed {
    entries: Mutex<Entries>,
    head: watch::Sender<u64>,
    /// Set when several instances share the feed: published entries go there, and come back
    /// through [`ChangeFeed::apply_shared`] with the shared sequence number.
    shared: OnceLock<mpsc::UnboundedSender<ToShared>>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeFeed {
    /// An empty feed with a new epoch.
    pub fn new() -> Self {
        Self::with_epoch(rand_epoch())
    }

    /// An empty feed with the given epoch (simulations, which must replay exactly). Every
    /// start of a server must use a different one, or a client's cursor from before a restart
    /// would not be reset.
    pub fn with_epoch(epoch: u64) -> Self {
        let (head, _) = watch::channel(0);
        Self {
            entries: Mutex::new(Entries {
                epoch,
                ..Entries::default()
            }),
            head,
            shared: OnceLock::new(),
        }
    }

    /// The cursor of the newest entry.
    pub fn cursor(&self) -> Cursor {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.cursor_locked(&entries)
    }

    fn cursor_locked(&self, entries: &Entries) -> Cursor {
        Cursor {
            epoch: entries.epoch,
            seq: *self.head.borrow(),
        }
    }

    /// From now on, entries are published to `sender` (the cluster, which writes them to the
    /// shared feed) instead of here; they come back through [`ChangeFeed::apply_shared`].
    /// Called once, before the hub starts.
    pub(crate) fn share(&self, sender: mpsc::UnboundedSender<ToShared>) {
        let _ = self.shared.set(sender);
    }

    /// For a shared feed: resolves once every entry published so far is in the database.
    pub(crate) fn flush_shared(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let (done, flushed) = tokio::sync::oneshot::channel();
        self.shared.get()?.send(ToShared::Flush(done)).ok()?;
        Some(flushed)
    }

    /// Whether the feed is shared by several instances.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// Starts the feed over with the shared feed's `epoch`, empty, at `head`: cursors of
    /// another epoch, or from before `floor`, get `reset`. The head never moves back.
    pub(crate) fn reset_shared(&self, epoch: u64, floor: u64, head: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let head = head.max(*self.head.borrow());
        *entries = Entries {
            epoch,
            floor: floor.min(head),
            ..Entries::default()
        };
        drop(entries);
        self.head.send_replace(head);
    }

    /// Applies an entry of the shared feed with its sequence number; entries at or below the
    /// head are already here and are ignored (rows are applied in order).
    pub(crate) fn apply_shared(
        &self,
        seq: u64,
        document_id: DocumentId,
        heads: Vec<ChangeHash>,
        erased: Option<DocumentAcl>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if seq <= *self.head.borrow() {
            return;
        }
        Self::insert_entry(&mut entries, seq, document_id, heads, erased);
        drop(entries);
        self.head.send_replace(seq);
    }

    /// The latest heads the feed lists for the document.
    pub(crate) fn latest_heads(&self, document_id: &DocumentId) -> Option<Vec<ChangeHash>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .latest
            .get(document_id)
            .map(|(_, heads)| heads.clone())
    }

    /// Records that `document_id` now durably has `heads`.
    pub fn publish(&self, document_id: DocumentId, heads: Vec<ChangeHash>) {
        self.publish_entry(document_id, heads, None);
    }

    /// Records that `document_id` was erased; `acl` (its rules before erasure) decides who
    /// hears of it. The entry lists no heads.
    pub fn publish_erased(&self, document_id: DocumentId, acl: DocumentAcl) {
        self.publish_entry(document_id, Vec::new(), Some(acl));
    }

    /// The rules an erased document had, if its latest entry is its erasure.
    pub fn erased(&self, document_id: &DocumentId) -> Option<DocumentAcl> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.erased.get(document_id).cloned()
    }

    fn publish_entry(
        &self,
        document_id: DocumentId,
        heads: Vec<ChangeHash>,
        erased: Option<DocumentAcl>,
    ) {
        if let Some(shared) = self.shared.get() {
            // A document re-stored with the heads the feed already lists (an instance
            // applying what another published) is not news: publishing it would echo
            // between the instances. Grants (no heads) and erasures always go.
            if erased.is_none()
                && !heads.is_empty()
                && self.latest_heads(&document_id).is_some_and(|latest| {
                    let (mut latest, mut new) = (latest, heads.clone());
                    latest.sort();
                    new.sort();
                    latest == new
                })
            {
                return;
            }
            let _ = shared.send(ToShared::Entry(SharedEntry {
                document_id,
                heads,
                erased,
            }));
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let seq = *self.head.borrow() + 1;
        Self::insert_entry(&mut entries, seq, document_id, heads, erased);
        drop(entries);
        self.head.send_replace(seq);
    }

    fn insert_entry(
        entries: &mut Entries,
        seq: u64,
        document_id: DocumentId,
        heads: Vec<ChangeHash>,
        erased: Option<DocumentAcl>,
    ) {
        match erased {
            Some(acl) => entries.erased.insert(document_id, acl),
            None => entries.erased.remove(&document_id),
        };
        if let Some((old_seq, _)) = entries.latest.insert(document_id, (seq, heads)) {
            entries.by_seq.remove(&old_seq);
        }
        entries.by_seq.insert(seq, document_id);
        while entries.by_seq.len() > MAX_ENTRIES {
            if let Some((oldest, doc)) = entries.by_seq.pop_first() {
                entries.latest.remove(&doc);
                entries.erased.remove(&doc);
                entries.floor = oldest;
            }
        }
    }

    /// What changed after `cursor` (everything, for `None`... a reset).
    pub fn since(&self, cursor: Option<Cursor>) -> (Since, Cursor) {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.cursor_locked(&entries);
        let Some(cursor) = cursor else {
            return (Since::Reset, now);
        };
        if cursor.epoch == now.epoch && cursor.seq > now.seq && self.is_shared() {
            // A cursor from an instance that applied the shared feed's newest rows a moment
            // before this one: nothing to say yet.
            return (Since::Changes(Vec::new()), now);
        }
        if cursor.epoch != now.epoch || cursor.seq < entries.floor || cursor.seq > now.seq {
            return (Since::Reset, now);
        }
        let changes = entries
            .by_seq
            .range(cursor.seq + 1..)
            .filter_map(|(_, doc)| {
                entries
                    .latest
                    .get(doc)
                    .map(|(_, heads)| (*doc, heads.clone()))
            })
            .collect();
        (Since::Changes(changes), now)
    }

    /// Saves the feed under `["server", "feed"]`, flushed: call it at a graceful shutdown,
    /// once every write has drained, so that the saved feed lists every durable change.
    /// A shared feed is not saved: it lives in the database.
    pub fn save(&self, storage: &dyn Storage) -> Result<(), StorageError> {
        if self.is_shared() {
            return Ok(());
        }
        let saved = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            Saved {
                v: SAVED_VERSION,
                epoch: entries.epoch,
                head: *self.head.borrow(),
                floor: entries.floor,
                entries: entries
                    .by_seq
                    .iter()
                    .filter_map(|(seq, doc)| {
                        let (_, heads) = entries.latest.get(doc)?;
                        Some(SavedEntry {
                            seq: *seq,
                            doc: serde_bytes::ByteBuf::from(doc.as_bytes().to_vec()),
                            heads: serde_bytes::ByteBuf::from(
                                heads.iter().flat_map(|h| h.0).collect::<Vec<u8>>(),
                            ),
                            erased: entries.erased.get(doc).cloned(),
                        })
                    })
                    .collect(),
            }
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&saved, &mut bytes)
            .map_err(|e| StorageError::Invalid(format!("the changes feed does not encode: {e}")))?;
        let mut batch = Batch::new();
        batch.put(saved_key()?, bytes);
        storage.apply(batch)
    }

    /// The feed a graceful shutdown saved, if any, else a new one (with `epoch`, or a random
    /// one). The saved copy is deleted, durably, before this returns; if that fails, the
    /// saved feed is not used.
    pub fn resume(storage: &dyn Storage, epoch: Option<u64>) -> Self {
        let fresh = || match epoch {
            Some(epoch) => Self::with_epoch(epoch),
            None => Self::new(),
        };
        let saved = match load_saved(storage) {
            Ok(saved) => saved,
            Err(error) => {
                tracing::warn!(
                    "the saved changes feed is unreadable ({error}); starting a new one"
                );
                None
            }
        };
        if let Err(error) = discard_saved(storage) {
            tracing::warn!("could not delete the saved changes feed ({error}); starting a new one");
            return fresh();
        }
        let Some(saved) = saved else {
            return fresh();
        };
        let mut entries = Entries {
            epoch: saved.epoch,
            floor: saved.floor,
            ..Entries::default()
        };
        for entry in saved.entries {
            let Ok(doc) = <[u8; 16]>::try_from(entry.doc.as_slice()) else {
                continue;
            };
            let doc = DocumentId::from_bytes(doc);
            let heads = entry
                .heads
                .chunks_exact(32)
                .filter_map(|h| <[u8; 32]>::try_from(h).ok().map(ChangeHash))
                .collect();
            if let Some(acl) = entry.erased {
                entries.erased.insert(doc, acl);
            }
            entries.by_seq.insert(entry.seq, doc);
            entries.latest.insert(doc, (entry.seq, heads));
        }
        tracing::info!(
            entries = entries.by_seq.len(),
            "resumed the changes feed saved at the last shutdown"
        );
        let (head, _) = watch::channel(saved.head);
        Self {
            entries: Mutex::new(entries),
            head,
            shared: OnceLock::new(),
        }
    }

    /// Resolves when the feed moves past `seq`.
    pub async fn wait_past(&self, seq: u64) {
        let mut receiver = self.head.subscribe();
        let _ = receiver.wait_for(|head| *head > seq).await;
    }
}

/// The format of the saved feed; another version is not resumed.
const SAVED_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    v: u32,
    epoch: u64,
    head: u64,
    floor: u64,
    entries: Vec<SavedEntry>,
}

#[derive(Serialize, Deserialize)]
struct SavedEntry {
    seq: u64,
    doc: serde_bytes::ByteBuf,
    /// The heads, 32 bytes each.
    heads: serde_bytes::ByteBuf,
    erased: Option<DocumentAcl>,
}

/// Where a graceful shutdown saves the feed (never in backups).
pub const SAVED_FEED_KEY: [&str; 2] = ["server", "feed"];

fn saved_key() -> Result<StorageKey, StorageError> {
    StorageKey::try_new(SAVED_FEED_KEY)
}

fn load_saved(storage: &dyn Storage) -> Result<Option<Saved>, String> {
    let Some(bytes) = storage
        .get(&saved_key().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let saved: Saved = ciborium::from_reader(bytes.as_slice()).map_err(|e| e.to_string())?;
    if saved.v != SAVED_VERSION {
        return Err(format!(
            "format version {}, expected {SAVED_VERSION}",
            saved.v
        ));
    }
    if saved
        .entries
        .iter()
        .any(|e| e.seq > saved.head || e.seq < saved.floor)
    {
        return Err("an entry lies outside the feed's range".into());
    }
    Ok(Some(saved))
}

/// Deletes the feed a graceful shutdown saved, durably: the next start draws a new epoch.
pub fn discard_saved(storage: &dyn Storage) -> Result<(), StorageError> {
    let key = saved_key()?;
    if storage.get(&key)?.is_none() {
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.delete(key);
    storage.apply(batch)
}

fn rand_epoch() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // Mix in a stack address so two servers started in the same nanosecond still differ.
    let local = 0u8;
    nanos ^ ((&local as *const u8 as u64).rotate_left(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_changed_document_once_with_its_latest_heads() {
        let feed = ChangeFeed::new();
        let start = feed.cursor();
        let (a, b) = (DocumentId::random(), DocumentId::random());
        feed.publish(a, vec![ChangeHash([1; 32])]);
        feed.publish(b, vec![ChangeHash([2; 32])]);
        feed.publish(a, vec![ChangeHash([3; 32])]);
        let (Since::Changes(changes), next) = feed.since(Some(start)) else {
            panic!("expected changes");
        };
        assert_eq!(
            changes,
            vec![
                (b, vec![ChangeHash([2; 32])]),
                (a, vec![ChangeHash([3; 32])])
            ]
        );
        let (Since::Changes(none), _) = feed.since(Some(next)) else {
            panic!("expected changes");
        };
        assert!(none.is_empty());
        let parsed: Cursor = next.to_string().parse().unwrap();
        assert_eq!(parsed, next);
    }

    #[test]
    fn a_saved_feed_resumes_once_with_its_epoch_entries_and_erasures() {
        use crate::auth::{DocumentAcl, OrgName, Principal, Role, UserName};
        let storage = passerelle_store::MemoryStorage::new();
        let feed = ChangeFeed::new();
        let start = feed.cursor();
        let (a, b) = (DocumentId::random(), DocumentId::random());
        feed.publish(a, vec![ChangeHash([1; 32]), ChangeHash([2; 32])]);
        let middle = feed.cursor();
        let owner = Principal {
            user: UserName::new("samira").unwrap(),
            org: OrgName::new("oujda").unwrap(),
            role: Role::Admin,
        };
        let acl = DocumentAcl::new_for(&owner);
        feed.publish_erased(b, acl.clone());
        feed.save(&storage).unwrap();

        let resumed = ChangeFeed::resume(&storage, None);
        assert_eq!(resumed.cursor(), feed.cursor());
        let (Since::Changes(all), _) = resumed.since(Some(start)) else {
            panic!("a cursor from before the restart resets");
        };
        assert_eq!(
            all,
            vec![
                (a, vec![ChangeHash([1; 32]), ChangeHash([2; 32])]),
                (b, vec![])
            ]
        );
        let (Since::Changes(late), _) = resumed.since(Some(middle)) else {
            panic!("expected changes");
        };
        assert_eq!(late, vec![(b, vec![])]);
        assert_eq!(resumed.erased(&b), Some(acl));
        assert_eq!(resumed.erased(&a), None);
        // The saved copy was consumed: a second start (as after a crash) is a new feed.
        let again = ChangeFeed::resume(&storage, None);
        assert!(matches!(again.since(Some(start)).0, Since::Reset));
    }

    #[test]
    fn a_damaged_saved_feed_is_not_resumed() {
        let storage = passerelle_store::MemoryStorage::new();
        let mut batch = Batch::new();
        batch.put(saved_key().unwrap(), b"not cbor".to_vec());
        storage.apply(batch).unwrap();
        let feed = ChangeFeed::resume(&storage, Some(7));
        assert_eq!(feed.cursor().to_string(), "7-0");
        assert!(storage.get(&saved_key().unwrap()).unwrap().is_none());
    }

    #[test]
    fn a_shared_feed_publishes_to_the_cluster_and_lists_rows_by_their_shared_numbers() {
        let feed = ChangeFeed::new();
        let (sender, mut published) = mpsc::unbounded_channel();
        feed.share(sender);
        feed.reset_shared(0xabc, 40, 40);
        let start = feed.cursor();
        assert_eq!(start.to_string(), "abc-40");
        let (a, b) = (DocumentId::random(), DocumentId::random());
        feed.publish(a, vec![ChangeHash([1; 32])]);
        let Ok(ToShared::Entry(entry)) = published.try_recv() else {
            panic!("published to the cluster");
        };
        assert_eq!(entry.document_id, a);
        assert_eq!(feed.cursor(), start, "listed only once the row comes back");
        // Rows come back with the database's numbers, the other instances' too.
        feed.apply_shared(41, a, vec![ChangeHash([1; 32])], None);
        feed.apply_shared(45, b, vec![ChangeHash([2; 32])], None);
        feed.apply_shared(45, b, vec![ChangeHash([9; 32])], None);
        let (Since::Changes(changes), now) = feed.since(Some(start)) else {
            panic!("expected changes");
        };
        assert_eq!(now.to_string(), "abc-45");
        assert_eq!(
            changes,
            vec![
                (a, vec![ChangeHash([1; 32])]),
                (b, vec![ChangeHash([2; 32])])
            ]
        );
        // Re-storing what the feed lists is no news (no echo between instances)...
        feed.publish(b, vec![ChangeHash([2; 32])]);
        assert!(published.try_recv().is_err());
        // ...but a grant (no heads) and an erasure are.
        feed.publish(b, Vec::new());
        assert!(published.try_recv().is_ok());
        // A cursor an instance handed out a moment before this one applied the row.
        let ahead: Cursor = "abc-46".parse().unwrap();
        assert!(matches!(feed.since(Some(ahead)), (Since::Changes(c), _) if c.is_empty()));
        // A new epoch (an instance died): old cursors reset, the head never moves back.
        feed.reset_shared(0xdef, 45, 45);
        assert!(matches!(feed.since(Some(now)).0, Since::Reset));
        assert_eq!(feed.cursor().to_string(), "def-45");
        let storage = passerelle_store::MemoryStorage::new();
        feed.save(&storage).unwrap();
        assert!(
            storage.get(&saved_key().unwrap()).unwrap().is_none(),
            "never saved"
        );
    }

    #[test]
    fn a_cursor_from_another_epoch_resets() {
        let old = ChangeFeed::new().cursor();
        let feed = ChangeFeed::new();
        assert!(matches!(feed.since(Some(old)).0, Since::Reset));
        assert!(matches!(feed.since(None).0, Since::Reset));
        assert!("nonsense".parse::<Cursor>().is_err());
    }
}

//! [`ChangeFeed`]: which documents changed, in order, so that a client holding thousands of
//! documents syncs only those that moved (`GET /v1/changes`).
//!
//! The feed lives in memory. A cursor names the feed's *epoch* (a random number drawn at
//! start-up) and a sequence number; a cursor from another epoch (the server restarted since)
//! or from before the oldest entry kept is answered with `reset`, and the client falls back
//! to a full comparison of its documents. That costs one full pass after a server restart,
//! and never misses a change.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use automerge::ChangeHash;
use passerelle_core::DocumentId;
use tokio::sync::watch;

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

/// The feed. Shared by the hub (which publishes) and the HTTP handlers (which read).
#[derive(Debug)]
pub struct ChangeFeed {
    epoch: u64,
    entries: Mutex<Entries>,
    head: watch::Sender<u64>,
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
            epoch,
            entries: Mutex::new(Entries::default()),
            head,
        }
    }

    /// The cursor of the newest entry.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            epoch: self.epoch,
            seq: *self.head.borrow(),
        }
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
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match erased {
            Some(acl) => entries.erased.insert(document_id, acl),
            None => entries.erased.remove(&document_id),
        };
        let seq = *self.head.borrow() + 1;
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
        drop(entries);
        self.head.send_replace(seq);
    }

    /// What changed after `cursor` (everything, for `None`... a reset).
    pub fn since(&self, cursor: Option<Cursor>) -> (Since, Cursor) {
        let now = self.cursor();
        let Some(cursor) = cursor else {
            return (Since::Reset, now);
        };
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if cursor.epoch != self.epoch || cursor.seq < entries.floor || cursor.seq > now.seq {
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

    /// Resolves when the feed moves past `seq`.
    pub async fn wait_past(&self, seq: u64) {
        let mut receiver = self.head.subscribe();
        let _ = receiver.wait_for(|head| *head > seq).await;
    }
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
    fn a_cursor_from_another_epoch_resets() {
        let old = ChangeFeed::new().cursor();
        let feed = ChangeFeed::new();
        assert!(matches!(feed.since(Some(old)).0, Since::Reset));
        assert!(matches!(feed.since(None).0, Since::Reset));
        assert!("nonsense".parse::<Cursor>().is_err());
    }
}

//! What goes into the [`Engine`](crate::Engine) ([`Event`]) and what comes out ([`Effect`]).

use automerge::ChangeHash;

use crate::{DocumentId, Message, PeerId, StorageResult, StorageTask};

/// A point in time, in milliseconds, from any fixed origin the runtime likes (the engine only
/// compares and subtracts them). The simulation uses virtual time; runtimes use a monotonic
/// clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// `self - earlier`, or zero when `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// How the engine treats a newly connected peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// Offer every document we hold to this peer (a client connecting to its server).
    Announce,
    /// Only sync the documents this peer asks about (a server facing its clients: a client is
    /// told nothing it did not ask for, and the runtime checks access on every message).
    OnRequest,
}

/// Something that happened, for the engine to react to.
#[derive(Debug)]
pub enum Event {
    /// A peer finished the `join`/`peer` handshake. Any sync state with this peer is forgotten:
    /// a new connection always starts a fresh sync (see the engine's invariants).
    PeerConnected { peer: PeerId, role: PeerRole },
    /// The connection to a peer is gone.
    PeerDisconnected { peer: PeerId },
    /// A document message (`sync`, `request`, `doc-unavailable`, `ephemeral`) from a connected
    /// peer. `may_write` is the runtime's access decision: when false, changes the peer sends
    /// are not applied and the peer is told so ([`Effect::Refused`]).
    Received {
        from: PeerId,
        message: Message,
        may_write: bool,
    },
    /// The answer to a [`StorageTask`].
    Storage(StorageResult),
    /// Time passed: retry stalled syncs, evict idle documents.
    Tick,
    /// One document of an HTTP batch sync (see [`crate::batch`]): apply the client's changes
    /// and answer, once everything is durable, with [`Effect::DeltaReply`].
    Delta(DeltaRequest),
}

/// One document of an HTTP batch sync, as the engine sees it.
#[derive(Debug, Clone)]
pub struct DeltaRequest {
    /// Ties the reply to the request (the runtime's choice).
    pub request: u64,
    /// Who sends it, for authorship ([`Effect::ChangesApplied`]).
    pub from: PeerId,
    pub document_id: DocumentId,
    /// The client's heads, after its changes.
    pub heads: Vec<ChangeHash>,
    /// The client's changes (concatenated changes or a whole save), maybe empty.
    pub changes: Vec<u8>,
    /// The runtime's access decision; when false, changes are refused, not applied.
    pub may_write: bool,
}

/// The outcome of one [`DeltaRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaOutcome {
    /// Applied (or refused, for a reader) and durable.
    Synced {
        /// The document's heads, all durable.
        heads: Vec<ChangeHash>,
        /// What the client lacks: a `save()` when it had nothing, else the changes since
        /// the heads of its that we know.
        changes: Vec<u8>,
        /// Client heads we lack even after its changes.
        missing: Vec<ChangeHash>,
        /// The client sent changes it may not make; they were not applied.
        refused: bool,
    },
    /// No copy here, and the client brought none.
    Unavailable,
    /// The client's changes are malformed; nothing was applied.
    Failed(String),
}

/// Something the runtime must do, or may want to know.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this message to this peer.
    Send { to: PeerId, message: Message },
    /// Run this storage task and answer with [`Event::Storage`].
    Storage(StorageTask),
    /// The document is in memory and can be read or changed; `exists` is false when neither
    /// storage nor any peer had it (yet).
    Ready {
        document_id: DocumentId,
        exists: bool,
    },
    /// Every change up to these heads is durable. Local edits are "saved" once their heads are
    /// covered by this effect.
    Durable {
        document_id: DocumentId,
        heads: Vec<ChangeHash>,
    },
    /// Changes from a peer were applied (and are about to be stored).
    ChangesApplied {
        document_id: DocumentId,
        from: PeerId,
        hashes: Vec<ChangeHash>,
    },
    /// Every connected peer we asked said it has no copy of this document.
    Unavailable { document_id: DocumentId },
    /// A peer without write access sent changes; they were not applied, stored or relayed.
    Refused {
        peer: PeerId,
        document_id: DocumentId,
        reason: String,
    },
    /// A peer sent something malformed for this document. Nothing from it was kept; the
    /// runtime should tell the peer and may close its connection. Other peers are unaffected.
    PeerError {
        peer: PeerId,
        document_id: Option<DocumentId>,
        error: String,
    },
    /// The answer to [`Event::Delta`], sent only once everything it reports is durable.
    DeltaReply {
        request: u64,
        document_id: DocumentId,
        outcome: DeltaOutcome,
    },
    /// Storage failed for this document; the engine retries saves on later ticks.
    StorageFailed {
        document_id: DocumentId,
        reason: String,
    },
}

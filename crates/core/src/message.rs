//! The automerge-repo wire messages, protocol version "1".
//!
//! Every WebSocket binary frame holds one CBOR map. Field names are camelCase strings, byte
//! payloads are plain CBOR byte strings. [`Message::decode`] is the only way bytes from the
//! network become a [`Message`]; it enforces [`DecodeLimits`](crate::DecodeLimits) before it
//! allocates.

use std::collections::BTreeMap;

use crate::{DocumentId, PeerId};

/// The only protocol version there is.
pub const PROTOCOL_VERSION: &str = "1";

/// What a peer says about itself in `join` and `peer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    /// The peer's storage id (a UUIDv4 string), if it has durable storage.
    pub storage_id: Option<String>,
    /// An ephemeral peer keeps nothing; its sync state is never worth remembering.
    pub is_ephemeral: bool,
}

/// The heads a storage id holds of a document, in `remote-heads-changed`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadsAt {
    /// bs58check-encoded change hashes.
    pub heads: Vec<String>,
    /// Milliseconds since the Unix epoch (JS sends a number, sometimes a float).
    pub timestamp: f64,
}

/// One message of the automerge-repo protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Client → server: the first message on a connection.
    Join {
        sender_id: PeerId,
        peer_metadata: PeerMetadata,
        /// Empty when the peer sent no list, which means version "1".
        supported_protocol_versions: Vec<String>,
    },
    /// Server → client: the answer to `join`.
    Peer {
        sender_id: PeerId,
        target_id: PeerId,
        peer_metadata: PeerMetadata,
        selected_protocol_version: String,
    },
    /// Either way: something is wrong and the connection is about to close.
    Error {
        sender_id: PeerId,
        target_id: Option<PeerId>,
        message: String,
    },
    /// One Automerge sync message for one document.
    Sync {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// Like `sync`, from a peer that has no copy and asks for one.
    Request {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// The sender has no copy (or will not share it).
    DocUnavailable {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
    },
    /// Presence and other data that is relayed, never stored.
    Ephemeral {
        sender_id: PeerId,
        target_id: PeerId,
        count: u64,
        session_id: String,
        document_id: DocumentId,
        data: Vec<u8>,
    },
    /// Opt-in heads gossip: which storage ids the sender wants to hear about.
    RemoteSubscriptionChange {
        sender_id: PeerId,
        target_id: PeerId,
        add: Option<Vec<String>>,
        remove: Option<Vec<String>>,
    },
    /// Opt-in heads gossip: new heads of a document at some storage ids.
    RemoteHeadsChanged {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        new_heads: BTreeMap<String, HeadsAt>,
    },
    /// Advisory goodbye.
    Leave { sender_id: PeerId },
}

impl Message {
    /// The peer that sent this message.
    pub fn sender_id(&self) -> &PeerId {
        match self {
            Message::Join { sender_id, .. }
            | Message::Peer { sender_id, .. }
            | Message::Error { sender_id, .. }
            | Message::Sync { sender_id, .. }
            | Message::Request { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
            | Message::Ephemeral { sender_id, .. }
            | Message::RemoteSubscriptionChange { sender_id, .. }
            | Message::RemoteHeadsChanged { sender_id, .. }
            | Message::Leave { sender_id } => sender_id,
        }
    }

    /// The document this message is about, if any.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Message::Sync { document_id, .. }
            | Message::Request { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. }
            | Message::RemoteHeadsChanged { document_id, .. } => Some(*document_id),
            _ => None,
        }
    }

    /// The `type` field on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Error { .. } => "error",
            Message::Sync { .. } => "sync",
            Message::Request { .. } => "request",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Message::RemoteHeadsChanged { .. } => "remote-heads-changed",
            Message::Leave { .. } => "leave",
        }
    }
}

//! The HTTP batch sync of `POST /v1/sync`: one request carries, for many documents at once,
//! the client's heads and the changes the server has not confirmed yet; the response carries
//! the changes the client lacks. One round trip per batch, and retrying a request whose
//! response was lost is safe: applying the same changes twice changes nothing.
//!
//! This is passerelle's own protocol for clients on poor links (the WebSocket endpoint
//! speaks automerge-repo's). Bodies are CBOR (`application/cbor`).

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The client replica's peer id: stable for one replica, so the server can name it.
    pub replica: String,
    /// One entry per document to sync.
    pub documents: Vec<DocumentDelta>,
}

/// One document in a [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentDelta {
    /// The document id (bs58check).
    pub id: String,
    /// The client's heads, after its `changes`.
    pub heads: Vec<Hash>,
    /// The changes the server has not confirmed (`save_after` of the heads the server last
    /// confirmed), or a whole `save()`, or nothing.
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
}

/// The body of a `POST /v1/sync` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// One reply per requested document, in request order.
    pub documents: Vec<DocumentReply>,
}

/// What happened to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyStatus {
    /// Synced: `changes` holds what the client lacks; `heads` is the server's state, durable.
    Ok,
    /// The client may read but not write this document: its changes were not applied.
    /// `changes` still brings the server's side.
    Refused,
    /// No such document, or no access (the two look the same).
    Unavailable,
    /// The client's changes could not be applied (malformed); nothing was stored.
    Error,
}

/// One document in a [`SyncResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentReply {
    /// The document id, as requested.
    pub id: String,
    /// The outcome.
    pub status: ReplyStatus,
    /// The server's heads, all durable.
    pub heads: Vec<Hash>,
    /// Changes the client lacks (a `save()` when it had nothing).
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
    /// Heads the client named that the server lacks even after applying the client's
    /// changes: the client should send everything next time.
    pub missing: Vec<Hash>,
    /// For `error` and `refused`: why, for a person.
    pub message: Option<String>,
}

/// A change hash on the wire: 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hash(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl From<ChangeHash> for Hash {
    fn from(hash: ChangeHash) -> Self {
        Self(hash.0)
    }
}

impl From<Hash> for ChangeHash {
    fn from(hash: Hash) -> Self {
        ChangeHash(hash.0)
    }
}

/// Converts heads for the wire.
pub fn to_wire(heads: &[ChangeHash]) -> Vec<Hash> {
    heads.iter().copied().map(Hash::from).collect()
}

/// Converts heads from the wire.
pub fn from_wire(heads: &[Hash]) -> Vec<ChangeHash> {
    heads.iter().copied().map(ChangeHash::from).collect()
}

/// A body that is not a valid batch.
#[derive(Debug, thiserror::Error)]
#[error("malformed batch body: {0}")]
pub struct BatchDecodeError(String);

/// Encodes a batch body as CBOR.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// Decodes a batch body. The caller bounds the body's size first (the HTTP layer does);
/// nesting is bounded here.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, BatchDecodeError> {
    ciborium::de::from_reader_with_recursion_limit(bytes, 16)
        .map_err(|e| BatchDecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let request = SyncRequest {
            replica: "peer-1".into(),
            documents: vec![DocumentDelta {
                id: "x".into(),
                heads: vec![Hash([7; 32])],
                changes: vec![1, 2, 3],
            }],
        };
        let bytes = encode(&request);
        assert_eq!(decode::<SyncRequest>(&bytes).unwrap(), request);
        assert!(decode::<SyncRequest>(&[0xff, 0x00]).is_err());
        assert!(decode::<SyncRequest>(&bytes[..bytes.len() - 1]).is_err());
        // Hashes are CBOR byte strings (0x58 0x20 then 32 bytes), not arrays of numbers.
        let mut hash = vec![0x58, 0x20];
        hash.extend([7u8; 32]);
        assert!(bytes.windows(hash.len()).any(|w| w == hash.as_slice()));
    }
}

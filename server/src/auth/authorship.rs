//! [`AuthorshipRecord`]: who first delivered each change of a document to this server.
//!
//! Automerge changes carry an actor id, which is a random number chosen by the writing
//! replica, not a person. The server knows who is at the other end of a connection, so it
//! writes down, per change hash, which authenticated user delivered the change first. That is
//! the answer to "who wrote this?" in reports and audits. "First" matters: a change relayed
//! later by another peer (a colleague who synced it offline) does not change its author.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{OrgName, UserName};

/// The SHA-256 hash of one Automerge change, shown as 64 lowercase hex digits (the form
/// Automerge prints and the form used in storage keys).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChangeHash([u8; 32]);

/// Why a string is not a change hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a change hash is 64 hex digits")]
pub struct ChangeHashError;

impl ChangeHash {
    /// The hash with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<automerge::ChangeHash> for ChangeHash {
    fn from(hash: automerge::ChangeHash) -> Self {
        Self(hash.0)
    }
}

impl FromStr for ChangeHash {
    type Err = ChangeHashError;

    /// Parses 64 hex digits, either case.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.len() != 64 {
            return Err(ChangeHashError);
        }
        let bytes = hex::decode(input).map_err(|_| ChangeHashError)?;
        bytes.try_into().map(Self).map_err(|_| ChangeHashError)
    }
}

impl TryFrom<String> for ChangeHash {
    type Error = ChangeHashError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        input.parse()
    }
}

impl From<ChangeHash> for String {
    fn from(hash: ChangeHash) -> String {
        hash.to_string()
    }
}

impl fmt::Display for ChangeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChangeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChangeHash({self})")
    }
}

/// Who delivered one change first, and when; stored under
/// `["authorship", <documentId>, <change hash hex>]` and never overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorshipRecord {
    /// The change.
    pub change_hash: ChangeHash,
    /// The user whose connection delivered it.
    pub user: UserName,
    /// That user's organisation at the time (kept because users can move).
    pub org: OrgName,
    /// When the server received it.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_hashes_round_trip_through_hex() {
        let hash = ChangeHash::from_bytes([0xab; 32]);
        let text = hash.to_string();
        assert_eq!(text, "ab".repeat(32));
        assert_eq!(text.parse::<ChangeHash>().unwrap(), hash);
        assert_eq!(text.to_uppercase().parse::<ChangeHash>().unwrap(), hash);
        assert!("ab".parse::<ChangeHash>().is_err());
        assert!("zz".repeat(32).parse::<ChangeHash>().is_err());
    }
}

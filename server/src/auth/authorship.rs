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
    /// When the server received it (for a change from a federation peer: when the first
    /// server received it, as the peer stated).
    pub at: Timestamp,
    /// Empty for a change a user of this server delivered. For a change made on another
    /// server and carried here by federation, the servers it came through, nearest first:
    /// each is the name the previous server gave the next one (the peer's name in
    /// `peers.json`, or the federation user a peer dials in as). `user` and `org` are then
    /// the author's on the last of them, not an account of this server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<UserName>,
}

/// The most servers an [`AuthorshipRecord::origin`] names.
pub const MAX_ORIGIN_HOPS: usize = 8;

impl AuthorshipRecord {
    /// The author as people read it: `karim` for a user of this server, `karim (lille)` for
    /// a user of the peer `lille`, `karim (rabat, via oujda)` for one relayed by `oujda`.
    pub fn author_label(&self) -> String {
        author_label(self.user.as_str(), &self.origin)
    }
}

/// [`AuthorshipRecord::author_label`] from its parts.
pub fn author_label(user: &str, origin: &[impl AsRef<str>]) -> String {
    match origin {
        [] => user.to_owned(),
        [only] => format!("{user} ({})", only.as_ref()),
        [via @ .., from] => {
            let via: Vec<&str> = via.iter().map(AsRef::as_ref).collect();
            format!("{user} ({}, via {})", from.as_ref(), via.join(", "))
        }
    }
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

    #[test]
    fn remote_authors_name_their_servers() {
        assert_eq!(author_label("karim", &[] as &[&str]), "karim");
        assert_eq!(author_label("karim", &["lille"]), "karim (lille)");
        assert_eq!(
            author_label("karim", &["oujda", "lille"]),
            "karim (lille, via oujda)"
        );
        // A record written before federation carried authors reads as a local one.
        let old = r#"{"change_hash":"abababababababababababababababababababababababababababababababab","user":"amina","org":"lille","at":"2026-01-01T00:00:00Z"}"#;
        let record: AuthorshipRecord = serde_json::from_str(old).unwrap();
        assert!(record.origin.is_empty());
        assert_eq!(record.author_label(), "amina");
        assert!(!serde_json::to_string(&record).unwrap().contains("origin"));
    }
}

//! [`PeerId`]: the name a peer gives itself in `join` and `peer` messages.

use std::fmt;
use std::str::FromStr;

/// The longest peer id accepted from the network, in bytes.
pub const MAX_PEER_ID_LEN: usize = 256;

/// A peer's self-chosen name (`peer-xxxx` in automerge-repo). It is a free string, so it is
/// only an address for messages, never an identity: who a peer *is* comes from its token.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(String);

/// Why a string is not a peer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    /// Empty strings cannot address anyone.
    #[error("a peer id is empty")]
    Empty,
    /// Longer than [`MAX_PEER_ID_LEN`].
    #[error("a peer id is at most {MAX_PEER_ID_LEN} bytes; this one has {0}")]
    TooLong(usize),
    /// Control characters would corrupt logs.
    #[error("a peer id holds a control character")]
    ControlCharacter,
}

impl PeerId {
    /// A new random peer id of the form `peer-<hex>`.
    pub fn random() -> Self {
        let bytes: [u8; 8] = rand::random();
        Self(format!("peer-{}", hex::encode(bytes)))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.is_empty() {
            return Err(PeerIdError::Empty);
        }
        if input.len() > MAX_PEER_ID_LEN {
            return Err(PeerIdError::TooLong(input.len()));
        }
        if input.chars().any(char::is_control) {
            return Err(PeerIdError::ControlCharacter);
        }
        Ok(Self(input.to_owned()))
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert_eq!("peer-1".parse::<PeerId>().unwrap().as_str(), "peer-1");
        assert_eq!("".parse::<PeerId>(), Err(PeerIdError::Empty));
        assert_eq!("a\nb".parse::<PeerId>(), Err(PeerIdError::ControlCharacter));
        assert_eq!(
            "p".repeat(300).parse::<PeerId>(),
            Err(PeerIdError::TooLong(300))
        );
        assert!(PeerId::random().as_str().starts_with("peer-"));
    }
}

//! [`DocumentId`]: the name of one Automerge document, as automerge-repo spells it.

use std::fmt;
use std::str::FromStr;

/// The `automerge:` prefix of a document URL.
pub const URL_PREFIX: &str = "automerge:";

/// The identity of one document: 16 random bytes (a UUIDv4 in automerge-repo), shown as
/// bs58check, the form the JS `Repo` puts in `automerge:<id>` URLs.
///
/// The bs58check text is made once, when the id is: a server writes ids in every message
/// it sends and every storage key it reads or writes, and encoding one (two SHA-256 and a
/// base conversion) cost an eighth of the server's CPU in benchmark workload 1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId {
    // Ordering, equality and hashing go by the bytes; the text follows from them.
    bytes: [u8; 16],
    text: Bs58Text,
}

/// The longest bs58check text of 16 bytes (20 with the checksum: 20 × log 256 / log 58 < 28).
const MAX_TEXT: usize = 28;

/// A bs58check text of at most [`MAX_TEXT`] ASCII characters, inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Bs58Text {
    len: u8,
    chars: [u8; MAX_TEXT],
}

impl Bs58Text {
    fn of(bytes: &[u8; 16]) -> Self {
        let mut chars = [0u8; MAX_TEXT];
        let len = bs58::encode(bytes)
            .with_check()
            .onto(&mut chars[..])
            .expect("20 bytes fit in 28 base58 characters");
        Self {
            len: len as u8,
            chars,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.chars[..usize::from(self.len)]).expect("base58 is ASCII")
    }
}

/// Why a string is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentIdError {
    /// The string is empty (or only the `automerge:` prefix).
    #[error("a document id is empty")]
    Empty,
    /// The string is longer than any valid id, so it was not decoded at all.
    #[error("a document id is at most 64 characters; this one has {0}")]
    TooLong(usize),
    /// Not base58, or its checksum does not match (a typo, or a truncated copy).
    #[error("`{0}` is not a bs58check document id (bad character or checksum)")]
    NotBs58Check(String),
    /// Valid bs58check, but it does not hold 16 bytes.
    #[error("a document id holds 16 bytes; `{id}` holds {len}")]
    WrongLength { id: String, len: usize },
}

impl DocumentId {
    /// A new random id (a UUIDv4, like automerge-repo's `generateAutomergeUrl`).
    pub fn random() -> Self {
        let mut bytes: [u8; 16] = rand::random();
        // Version 4, variant RFC 4122: the same bit pattern as `uuid.v4()`.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self::from_bytes(bytes)
    }

    /// The id for these raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self {
            bytes,
            text: Bs58Text::of(&bytes),
        }
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// The bare bs58check form, as [`Display`](fmt::Display) writes it.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The `automerge:<id>` URL form.
    pub fn to_url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }
}

impl FromStr for DocumentId {
    type Err = DocumentIdError;

    /// Parses a bare bs58check id or an `automerge:` URL (a `#heads` suffix is ignored).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let bare = input.strip_prefix(URL_PREFIX).unwrap_or(input);
        let bare = bare.split('#').next().unwrap_or(bare);
        if bare.is_empty() {
            return Err(DocumentIdError::Empty);
        }
        if bare.len() > 64 {
            return Err(DocumentIdError::TooLong(bare.len()));
        }
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| DocumentIdError::NotBs58Check(bare.to_owned()))?;
        let array: [u8; 16] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| DocumentIdError::WrongLength {
                    id: bare.to_owned(),
                    len: bytes.len(),
                })?;
        // Base58 spells each byte string one way (leading zero bytes as leading `1`s, then the
        // number's digits), so `bare` is the text `from_bytes` would make.
        if bare.len() > MAX_TEXT {
            return Ok(Self::from_bytes(array));
        }
        let mut chars = [0u8; MAX_TEXT];
        chars[..bare.len()].copy_from_slice(bare.as_bytes());
        let id = Self {
            bytes: array,
            text: Bs58Text {
                len: bare.len() as u8,
                chars,
            },
        };
        debug_assert_eq!(id, Self::from_bytes(array));
        Ok(id)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn display_then_parse_round_trips(bytes in any::<[u8; 16]>()) {
            let id = DocumentId::from_bytes(bytes);
            prop_assert_eq!(id.to_string(), bs58::encode(bytes).with_check().into_string());
            prop_assert_eq!(id.to_string().parse::<DocumentId>().unwrap(), id);
            prop_assert_eq!(id.to_url().parse::<DocumentId>().unwrap(), id);
        }
    }

    #[test]
    fn random_ids_are_uuid_v4() {
        let id = DocumentId::random();
        assert_eq!(id.as_bytes()[6] >> 4, 4);
        assert_eq!(id.as_bytes()[8] >> 6, 0b10);
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!("".parse::<DocumentId>(), Err(DocumentIdError::Empty));
        assert_eq!(
            "automerge:".parse::<DocumentId>(),
            Err(DocumentIdError::Empty)
        );
        assert!(matches!(
            "0OIl".parse::<DocumentId>(),
            Err(DocumentIdError::NotBs58Check(_))
        ));
        let mut id = DocumentId::random().to_string();
        // Change one character: the checksum must catch it.
        let last = id.pop().unwrap();
        id.push(if last == '2' { '3' } else { '2' });
        assert!(matches!(
            id.parse::<DocumentId>(),
            Err(DocumentIdError::NotBs58Check(_))
        ));
        let eight = bs58::encode([1u8; 8]).with_check().into_string();
        assert!(matches!(
            eight.parse::<DocumentId>(),
            Err(DocumentIdError::WrongLength { len: 8, .. })
        ));
        assert!(matches!(
            "x".repeat(100).parse::<DocumentId>(),
            Err(DocumentIdError::TooLong(100))
        ));
    }
}

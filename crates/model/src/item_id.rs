//! Stable ids of list items.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// The longest id accepted, in bytes.
pub const MAX_ITEM_ID_LEN: usize = 40;

/// The stable id of an item of a list (an agenda item, an action, an indicator…): the key of
/// the item in its list's map, so concurrent inserts, moves and deletes never confuse two
/// items. New ids are 10 random base-36 characters; items migrated from schema 1 get
/// `v1-N`. Ids are 1 to 40 characters of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(String);

impl ItemId {
    /// A new random id (about 51 bits: enough that two replicas never pick the same one for
    /// items of one list).
    pub fn random() -> Self {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::thread_rng();
        let id = (0..10)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        ItemId(id)
    }

    pub(crate) fn migrated(n: usize) -> Self {
        ItemId(format!("v1-{n}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_ITEM_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
}

/// An id that is not 1 to 40 characters of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an item id is 1 to {MAX_ITEM_ID_LEN} characters of a-z, 0-9 and -")]
pub struct InvalidItemId;

impl FromStr for ItemId {
    type Err = InvalidItemId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if ItemId::is_valid(s) {
            Ok(ItemId(s.to_owned()))
        } else {
            Err(InvalidItemId)
        }
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for ItemId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ItemId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

//! [`StorageKey`]: a key as a short list of validated string components, and its
//! order-preserving byte encoding for ordered byte-keyed backends such as sled.

use crate::StorageError;

/// The most components a key may have. Our deepest key is `[docId, "incremental", hash]`;
/// the bound leaves room for other users while keeping keys small.
pub const MAX_KEY_COMPONENTS: usize = 8;

/// The longest component, in bytes of UTF-8. A SHA-256 in hex is 64 bytes and a document id
/// fewer than 32; the bound stops a caller from smuggling a value into a key.
pub const MAX_COMPONENT_LEN: usize = 256;

/// The byte that ends every component in the [ordered encoding](StorageKey::to_ordered_bytes).
/// Components never contain it, which is what makes the encoding unambiguous.
const COMPONENT_END: u8 = 0x00;

/// A storage key: at most [`MAX_KEY_COMPONENTS`] components, each a non-empty string of at
/// most [`MAX_COMPONENT_LEN`] bytes without a NUL character. Keys compare component by
/// component, each component byte-wise, so `["ab"] < ["ab", "x"] < ["abc"]`.
///
/// Every way of building a key validates it, so a backend never sees an invalid one. The key
/// with no components is valid: as a prefix it selects everything, but no value may be stored
/// under it (backends refuse it in [`Storage::apply`](crate::Storage::apply)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorageKey(Vec<String>);

impl StorageKey {
    /// A key from its components, or [`StorageError::Invalid`] saying which rule a component
    /// breaks.
    pub fn try_new<I, S>(components: I) -> Result<Self, StorageError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let components: Vec<String> = components.into_iter().map(Into::into).collect();
        check_components(&components).map_err(StorageError::Invalid)?;
        Ok(Self(components))
    }

    /// The key with no components: as a prefix, it selects every key.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This key with one more component at the end.
    pub fn child(&self, component: impl Into<String>) -> Result<Self, StorageError> {
        let mut components = self.0.clone();
        components.push(component.into());
        check_components(&components).map_err(StorageError::Invalid)?;
        Ok(Self(components))
    }

    /// A key whose components are valid by construction: the crate's own key builders use
    /// it for document ids (bs58, under 32 bytes), fixed words and hex hashes, so that an
    /// impossible error branch does not clutter them. Their unit tests check the rules hold.
    pub(crate) fn from_valid_components(components: Vec<String>) -> Self {
        Self(components)
    }

    /// The components.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// The number of components.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the key with no components.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `prefix`'s components are the first components of this key. Whole components
    /// only: `["abc", "x"]` starts with `["abc"]` but not with `["ab"]`.
    pub fn starts_with(&self, prefix: &StorageKey) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The order-preserving byte encoding: each component followed by a `0x00` byte.
    ///
    /// Byte-wise comparison of two encodings gives the same order as comparing the keys, and
    /// the encoding of a prefix key is a byte prefix of exactly the keys that start with it:
    /// the terminator of `["ab"]` (`0x00`) differs from the next byte of `["abc"]` (`c`),
    /// because no component contains `0x00`.
    pub fn to_ordered_bytes(&self) -> Vec<u8> {
        let len = self.0.iter().map(|c| c.len() + 1).sum();
        let mut bytes = Vec::with_capacity(len);
        for component in &self.0 {
            bytes.extend_from_slice(component.as_bytes());
            bytes.push(COMPONENT_END);
        }
        bytes
    }

    /// The range of [`to_ordered_bytes`](Self::to_ordered_bytes) forms, `start..end`, of
    /// every key that starts with this one (itself included); `end` is `None` for the root
    /// (every key). For stores that scan a prefix as a key range (PostgreSQL).
    pub fn ordered_range(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let start = self.to_ordered_bytes();
        let end = successor(&start);
        (start, end)
    }

    /// Decodes [`to_ordered_bytes`](Self::to_ordered_bytes). Bytes read from disk that do not
    /// decode to a valid key are [`StorageError::Corrupt`], named by their escaped form.
    pub fn from_ordered_bytes(bytes: &[u8]) -> Result<Self, StorageError> {
        let corrupt = |reason: String| StorageError::Corrupt {
            key: bytes.escape_ascii().to_string(),
            reason,
        };
        let Some(body) = bytes.strip_suffix(&[COMPONENT_END]) else {
            if bytes.is_empty() {
                return Ok(Self::root());
            }
            return Err(corrupt(
                "an encoded key must end with a 0x00 component terminator".to_owned(),
            ));
        };
        let mut components = Vec::new();
        for raw in body.split(|&b| b == COMPONENT_END) {
            let component = std::str::from_utf8(raw)
                .map_err(|e| corrupt(format!("a key component is not UTF-8: {e}")))?;
            components.push(component.to_owned());
        }
        check_components(&components).map_err(corrupt)?;
        Ok(Self(components))
    }
}

/// Checks the rules of [`StorageKey`]; the error says which rule fails and where.
fn check_components(components: &[String]) -> Result<(), String> {
    if components.len() > MAX_KEY_COMPONENTS {
        return Err(format!(
            "a key has at most {MAX_KEY_COMPONENTS} components; this one has {}",
            components.len()
        ));
    }
    for (index, component) in components.iter().enumerate() {
        if component.is_empty() {
            return Err(format!("key component {index} is empty"));
        }
        if component.len() > MAX_COMPONENT_LEN {
            return Err(format!(
                "key component {index} is {} bytes; the limit is {MAX_COMPONENT_LEN}",
                component.len()
            ));
        }
        if component.as_bytes().contains(&COMPONENT_END) {
            return Err(format!("key component {index} contains a NUL character"));
        }
    }
    Ok(())
}

impl std::fmt::Display for StorageKey {
    /// The components joined by `/`, for logs and error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// The first byte string after every string that starts with `prefix`, or `None` when there
/// is none (the empty prefix, or one of only 0xFF bytes).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_at_the_successor() {
        assert_eq!(successor(b""), None);
        assert_eq!(successor(b"a\x00"), Some(b"a\x01".to_vec()));
        assert_eq!(successor(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff"), None);
        let acl = StorageKey::try_new(["acl"]).unwrap();
        assert_eq!(
            acl.ordered_range(),
            (b"acl\x00".to_vec(), Some(b"acl\x01".to_vec()))
        );
        assert_eq!(StorageKey::root().ordered_range(), (Vec::new(), None));
    }
    use proptest::prelude::*;

    fn key(components: &[&str]) -> StorageKey {
        StorageKey::try_new(components.iter().copied()).unwrap()
    }

    #[test]
    fn rejects_each_broken_rule_with_a_reason() {
        let invalid = |components: Vec<String>| match StorageKey::try_new(components) {
            Err(StorageError::Invalid(reason)) => reason,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert!(invalid(vec!["a".into(), String::new()]).contains("component 1 is empty"));
        assert!(invalid(vec!["a\0b".into()]).contains("NUL"));
        assert!(invalid(vec!["x".repeat(MAX_COMPONENT_LEN + 1)]).contains("257 bytes"));
        assert!(invalid(vec!["a".into(); MAX_KEY_COMPONENTS + 1]).contains("at most 8"));
        assert!(StorageKey::try_new(vec!["x".repeat(MAX_COMPONENT_LEN)]).is_ok());
        assert!(StorageKey::try_new(vec!["a"; MAX_KEY_COMPONENTS]).is_ok());
        assert!(
            key(&["a"; MAX_KEY_COMPONENTS])
                .child("one too many")
                .is_err()
        );
    }

    #[test]
    fn a_prefix_matches_whole_components_only() {
        let prefix = key(&["ab"]).to_ordered_bytes();
        assert!(key(&["ab", "c"]).to_ordered_bytes().starts_with(&prefix));
        assert!(key(&["ab"]).to_ordered_bytes().starts_with(&prefix));
        assert!(!key(&["abc", "d"]).to_ordered_bytes().starts_with(&prefix));
        assert!(key(&["abc", "d"]).starts_with(&key(&["abc"])));
        assert!(!key(&["abc", "d"]).starts_with(&key(&["ab"])));
    }

    #[test]
    fn undecodable_bytes_are_corrupt() {
        for bytes in [&b"ab"[..], b"\0", b"a\0\0", b"\xff\0"] {
            assert!(
                matches!(
                    StorageKey::from_ordered_bytes(bytes),
                    Err(StorageError::Corrupt { .. })
                ),
                "{bytes:?} decoded"
            );
        }
        assert_eq!(
            StorageKey::from_ordered_bytes(b"").unwrap(),
            StorageKey::root()
        );
    }

    /// Components drawn from a small alphabet that includes the lowest allowed byte (0x01)
    /// and multi-byte characters, so prefixes and near-prefixes are frequent.
    fn component() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ab\u{1}\u{7f}é\u{10000}]{1,4}").unwrap()
    }

    fn any_key() -> impl Strategy<Value = StorageKey> {
        proptest::collection::vec(component(), 0..4)
            .prop_map(|components| StorageKey::try_new(components).unwrap())
    }

    proptest! {
        #[test]
        fn encoding_round_trips(key in any_key()) {
            prop_assert_eq!(StorageKey::from_ordered_bytes(&key.to_ordered_bytes())?, key);
        }

        #[test]
        fn encoding_preserves_order_and_prefixes(a in any_key(), b in any_key()) {
            let (ea, eb) = (a.to_ordered_bytes(), b.to_ordered_bytes());
            prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
            prop_assert_eq!(a.starts_with(&b), ea.starts_with(&eb));
        }
    }
}

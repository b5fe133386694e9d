//! The frame around every stored value: a format byte and a CRC32, checked on every read.
//!
//! ```text
//! byte 0      format (FRAME_FORMAT_V1)
//! bytes 1..5  CRC32 (IEEE, little-endian) of the format byte followed by the payload
//! bytes 5..   payload, the caller's bytes unchanged
//! ```
//!
//! Both backends frame values with these two functions, at the one place each writes and the
//! one place each reads, so corruption is caught the same way whatever the backend. The frame
//! is part of a backend's on-disk format rather than of the [`Storage`](crate::Storage)
//! trait: a future backend with its own checksums (PostgreSQL's page checksums) may choose
//! another, and the trait's callers never see it.

use crate::{StorageError, StorageKey};

/// The only format so far. A new layout gets a new byte, so old data stays readable.
const FRAME_FORMAT_V1: u8 = 1;

/// Format byte plus CRC32.
const HEADER_LEN: usize = 5;

/// The framed form of `payload`, ready to store.
pub(crate) fn seal(payload: &[u8]) -> Vec<u8> {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[FRAME_FORMAT_V1]);
    hasher.update(payload);
    let crc = hasher.finalize();
    let mut framed = Vec::with_capacity(HEADER_LEN + payload.len());
    framed.push(FRAME_FORMAT_V1);
    framed.extend_from_slice(&crc.to_le_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// The payload of a framed value read at `key`, or [`StorageError::Corrupt`] naming the key
/// and what is wrong with the frame.
pub(crate) fn open(key: &StorageKey, framed: &[u8]) -> Result<Vec<u8>, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: key.to_string(),
        reason,
    };
    let Some((header, payload)) = framed.split_at_checked(HEADER_LEN) else {
        return Err(corrupt(format!(
            "the stored value is {} bytes, shorter than its {HEADER_LEN}-byte frame header",
            framed.len()
        )));
    };
    let format = header[0];
    if format != FRAME_FORMAT_V1 {
        return Err(corrupt(format!(
            "unknown frame format {format} (this build reads format {FRAME_FORMAT_V1})"
        )));
    }
    let stored_crc = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[format]);
    hasher.update(payload);
    let computed_crc = hasher.finalize();
    if stored_crc != computed_crc {
        return Err(corrupt(format!(
            "CRC32 mismatch over {} payload bytes: stored {stored_crc:08x}, computed \
             {computed_crc:08x}",
            payload.len()
        )));
    }
    Ok(payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> StorageKey {
        StorageKey::try_new(["doc", "incremental", "abc"]).unwrap()
    }

    fn reason(result: Result<Vec<u8>, StorageError>) -> String {
        match result {
            Err(StorageError::Corrupt { key, reason }) => {
                assert_eq!(key, "doc/incremental/abc");
                reason
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_payload_round_trips() {
        assert_eq!(open(&key(), &seal(b"")).unwrap(), b"");
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(reason(open(&key(), b"\x01ab")).contains("shorter than its 5-byte"));
        let mut framed = seal(b"payload");
        framed[0] = 9;
        assert!(reason(open(&key(), &framed)).contains("unknown frame format 9"));
        let framed = seal(b"payload");
        assert!(reason(open(&key(), &framed[..framed.len() - 1])).contains("CRC32 mismatch"));
    }

    proptest! {
        #[test]
        fn round_trips(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(open(&key(), &seal(&payload))?, payload);
        }

        /// CRC32 detects every single-bit error, so this property has no lucky escapes.
        #[test]
        fn any_flipped_bit_is_caught(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            bit in any::<prop::sample::Index>(),
        ) {
            let mut framed = seal(&payload);
            let bit = bit.index(framed.len() * 8);
            framed[bit / 8] ^= 1 << (bit % 8);
            let is_corrupt = matches!(open(&key(), &framed), Err(StorageError::Corrupt { .. }));
            prop_assert!(is_corrupt);
        }
    }
}

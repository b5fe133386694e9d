//! Order keys for list items: strings that sort between any two others.
//!
//! A key is a non-empty string of base-36 digits (`0-9a-z`) read as a fraction `0.d1d2…`,
//! never ending in `0`. Between any two keys there is another, so moving an item writes only
//! its own `pos`; concurrent moves of one item leave one position (the register's winner),
//! and two items given the same position by two replicas are ordered by id.

const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const BASE: usize = 36;

/// The longest order key accepted when reading a document.
pub(crate) const MAX_POS_LEN: usize = 200;

fn digit(b: u8) -> usize {
    DIGITS.iter().position(|d| *d == b).unwrap_or(0)
}

pub(crate) fn is_valid(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_POS_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        && !key.ends_with('0')
}

/// A key strictly between `a` and `b` (`None`: the start or end of the list). Requires
/// `a < b` when both are given.
pub(crate) fn between(a: Option<&str>, b: Option<&str>) -> String {
    match (a, b) {
        (Some(a), None) => after(a),
        _ => {
            let mid = midpoint(a.unwrap_or("").as_bytes(), b.map(str::as_bytes));
            String::from_utf8(mid).unwrap_or_default()
        }
    }
}

/// A short key after `a`: the first digit that can grow, grown. Appending keeps keys short
/// (one more character every 35 appends at the end).
fn after(a: &str) -> String {
    let bytes = a.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let d = digit(*b);
        if d + 1 < BASE {
            let mut key = bytes[..i].to_vec();
            key.push(DIGITS[d + 1]);
            return String::from_utf8(key).unwrap_or_default();
        }
    }
    format!("{a}i")
}

/// The midpoint of two fractions given as digit strings (`a` may be empty, meaning 0;
/// `b` of `None` means 1).
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    if let Some(b) = b {
        let mut n = 0;
        while n < b.len() && a.get(n).copied().unwrap_or(b'0') == b[n] {
            n += 1;
        }
        if n > 0 {
            let mut key = b[..n].to_vec();
            key.extend(midpoint(a.get(n..).unwrap_or(&[]), Some(&b[n..])));
            return key;
        }
    }
    let digit_a = a.first().map(|d| digit(*d)).unwrap_or(0);
    let digit_b = b.and_then(|b| b.first()).map(|d| digit(*d)).unwrap_or(BASE);
    if digit_b - digit_a > 1 {
        vec![DIGITS[(digit_a + digit_b).div_ceil(2)]]
    } else if let Some(b) = b.filter(|b| b.len() > 1) {
        vec![b[0]]
    } else {
        let mut key = vec![DIGITS[digit_a]];
        key.extend(midpoint(a.get(1..).unwrap_or(&[]), None));
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_between_their_neighbours() {
        let mut keys = vec![between(None, None)];
        // Append, prepend and insert in the middle many times; the order must hold.
        for i in 0..300 {
            let key = match i % 3 {
                0 => between(keys.last().map(String::as_str), None),
                1 => between(None, keys.first().map(String::as_str)),
                _ => {
                    let m = keys.len() / 2;
                    between(Some(&keys[m - 1]), Some(&keys[m]))
                }
            };
            assert!(is_valid(&key), "{key}");
            keys.push(key);
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), i + 2, "duplicate key");
        }
        assert!(keys.iter().all(|k| k.len() < 100));
    }
}

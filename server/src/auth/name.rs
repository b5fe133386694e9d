//! [`UserName`] and [`OrgName`]: validated names of people and organisations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest user or organisation name, in characters (not bytes: Arabic names count the
/// same as Latin ones).
pub const MAX_NAME_CHARS: usize = 64;

/// Why a string is not a valid user or organisation name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Names are used as storage keys and shown in lists: an empty one names nothing.
    #[error("a name cannot be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("a name is at most {MAX_NAME_CHARS} characters; this one has {0}")]
    TooLong(usize),
    /// Leading or trailing spaces make two names look the same in a list.
    #[error("a name cannot start or end with a space")]
    SurroundingWhitespace,
    /// Control characters corrupt logs and terminals; bidirectional overrides and invisible
    /// characters let one name pass for another (`alice` vs `alice\u{200b}`).
    #[error("a name cannot hold control, invisible or text-direction characters")]
    Unprintable,
}

/// Characters that print nothing or reorder the text around them. `char::is_control` does
/// not cover them (they are Unicode "format" characters), yet they are how a name is made to
/// look like another one.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                 // soft hyphen
        | '\u{061C}'               // Arabic letter mark
        | '\u{180E}'               // Mongolian vowel separator
        | '\u{200B}'..='\u{200F}'  // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}'  // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'  // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'  // bidi isolates
        | '\u{FEFF}'               // byte order mark
    )
}

fn validate(input: &str) -> Result<(), NameError> {
    if input.is_empty() {
        return Err(NameError::Empty);
    }
    let chars = input.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong(chars));
    }
    if input
        .chars()
        .any(|c| c.is_control() || is_invisible_or_bidi(c))
    {
        return Err(NameError::Unprintable);
    }
    if input.trim() != input {
        return Err(NameError::SurroundingWhitespace);
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `input` (see [`NameError`] for what is refused).
            pub fn new(input: impl Into<String>) -> Result<Self, NameError> {
                let input = input.into();
                validate(&input)?;
                Ok(Self(input))
            }

            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::new(input)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(input: String) -> Result<Self, Self::Error> {
                Self::new(input)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

name_type!(
    /// A user's login name, unique on the server. Compared exactly (case matters), so
    /// `Fatima` and `fatima` would be two users: the admin who creates accounts picks one
    /// spelling. Any script is accepted (Latin, Arabic, …).
    UserName
);

name_type!(
    /// An organisation's name (`ville-de-lille`, `commune-oujda`, `institut-francais`): the
    /// unit that owns documents and that documents are shared with. Compared exactly.
    OrgName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names_in_any_script() {
        for ok in [
            "alice",
            "Fatima Zahra",
            "فاطمة",
            "ville-de-lille",
            "a.b@c",
            "x",
        ] {
            assert_eq!(UserName::new(ok).unwrap().as_str(), ok);
            assert_eq!(OrgName::new(ok).unwrap().as_str(), ok);
        }
        assert!(UserName::new("é".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn refuses_names_that_mislead_or_corrupt() {
        assert_eq!(UserName::new(""), Err(NameError::Empty));
        assert_eq!(
            UserName::new("a".repeat(MAX_NAME_CHARS + 1)),
            Err(NameError::TooLong(MAX_NAME_CHARS + 1))
        );
        assert_eq!(
            UserName::new(" alice"),
            Err(NameError::SurroundingWhitespace)
        );
        assert_eq!(
            UserName::new("alice "),
            Err(NameError::SurroundingWhitespace)
        );
        assert_eq!(UserName::new("   "), Err(NameError::SurroundingWhitespace));
        for bad in [
            "al\nice",
            "al\u{7}ice",
            "alice\u{200b}",
            "\u{202e}ecila",
            "a\u{2066}b",
        ] {
            assert_eq!(UserName::new(bad), Err(NameError::Unprintable), "{bad:?}");
        }
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let name: UserName = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"alice\"");
        assert!(serde_json::from_str::<OrgName>("\"\"").is_err());
    }
}

//! Bearer tokens: how they look, how they are made, and what of them is stored.
//!
//! A token is 32 random bytes shown as `psl_` followed by 43 URL-safe base64 characters, so it
//! fits in a header, a query string and a shell without quoting, and a leaked one is easy to
//! recognise (secret scanners, logs). The server keeps only the SHA-256 of the random bytes:
//! a copy of the data directory does not let anyone sign in. The bytes are uniformly random,
//! so a plain (unsalted, fast) hash is enough: there is nothing to guess from a dictionary.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::UserName;

/// The start of every bearer token.
pub const TOKEN_PREFIX: &str = "psl_";

/// The start of every token id.
pub const TOKEN_ID_PREFIX: &str = "tok_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// A bearer token in the clear. It exists only between its creation and the moment it is
/// shown to the person it is for; `Debug` hides it so that it cannot end up in a log by
/// accident. It serialises as the plain string: the admin endpoint hands new tokens to the CLI.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BearerToken(String);

impl BearerToken {
    /// A new random token and the hash under which it is stored.
    pub(crate) fn generate() -> (Self, TokenHash) {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = Self(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)));
        (token, TokenHash::of_bytes(&bytes))
    }

    /// Wraps a token received from a client or read from a configuration file.
    pub fn from_secret(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The token itself, to show once to its owner or to send to the server.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// The SHA-256 of a token's random bytes: what the server stores and looks tokens up by.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenHash([u8; 32]);

impl TokenHash {
    fn of_bytes(bytes: &[u8; TOKEN_BYTES]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The hash of a presented token, or `None` when the string is not shaped like one of
    /// ours (then it cannot be valid and storage is not even consulted).
    pub(crate) fn of_presented(token: &str) -> Option<Self> {
        let encoded = token.strip_prefix(TOKEN_PREFIX)?;
        // 32 bytes are exactly 43 characters without padding; checking the length first
        // bounds the work done on hostile input.
        if encoded.len() != 43 {
            return None;
        }
        let bytes: [u8; TOKEN_BYTES] = URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()?;
        Some(Self::of_bytes(&bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not a secret, but printing it helps no one either.
        f.write_str("TokenHash(..)")
    }
}

/// The public name of a token (`tok_` and 16 hex digits): shown in lists and used to revoke a
/// token whose secret is lost. Knowing an id grants nothing.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

/// Why a string is not a token id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a token id (expected `tok_` and 16 hex digits)")]
pub struct TokenIdError(String);

impl TokenId {
    pub(crate) fn generate() -> Self {
        let bytes: [u8; 8] = rand::random();
        Self(format!("{TOKEN_ID_PREFIX}{}", hex::encode(bytes)))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TokenId {
    type Err = TokenIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let valid = input.strip_prefix(TOKEN_ID_PREFIX).is_some_and(|digits| {
            digits.len() == 16
                && digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(TokenIdError(input.to_owned()))
        }
    }
}

impl TryFrom<String> for TokenId {
    type Error = TokenIdError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        input.parse()
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.0)
    }
}

/// What is known about a token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token's public id.
    pub id: TokenId,
    /// The user the token signs in as.
    pub user: UserName,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was revoked, if it was: from then on every check refuses it.
    pub revoked_at: Option<Timestamp>,
}

impl TokenInfo {
    /// Whether the token was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A token just issued: the only moment its secret is known.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token's public facts.
    pub info: TokenInfo,
    /// The secret, to show once.
    pub token: BearerToken,
}

/// What a token argument on the command line names: the token itself or its id. Serialises
/// as the string it was parsed from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TokenRef {
    /// A token in the clear (`psl_…`).
    Secret(BearerToken),
    /// A token id (`tok_…`).
    Id(TokenId),
}

/// Why a string names no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a token (`{TOKEN_PREFIX}…`) or a token id (`{TOKEN_ID_PREFIX}…`)")]
pub struct TokenRefError;

impl FromStr for TokenRef {
    type Err = TokenRefError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        if input.starts_with(TOKEN_PREFIX) {
            Ok(TokenRef::Secret(BearerToken::from_secret(input)))
        } else {
            input.parse().map(TokenRef::Id).map_err(|_| TokenRefError)
        }
    }
}

impl TryFrom<String> for TokenRef {
    type Error = TokenRefError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        input.parse()
    }
}

impl From<TokenRef> for String {
    fn from(token: TokenRef) -> String {
        match token {
            TokenRef::Secret(secret) => secret.0,
            TokenRef::Id(id) => id.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_to_their_hash() {
        let (token, hash) = BearerToken::generate();
        assert!(token.expose_secret().starts_with(TOKEN_PREFIX));
        assert_eq!(token.expose_secret().len(), TOKEN_PREFIX.len() + 43);
        assert!(
            token.expose_secret()[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(TokenHash::of_presented(token.expose_secret()), Some(hash));
        assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
    }

    #[test]
    fn malformed_tokens_have_no_hash() {
        let (token, _) = BearerToken::generate();
        let secret = token.expose_secret();
        assert_eq!(TokenHash::of_presented(""), None);
        assert_eq!(TokenHash::of_presented(&secret[TOKEN_PREFIX.len()..]), None);
        assert_eq!(TokenHash::of_presented(&format!("{secret}A")), None);
        assert_eq!(TokenHash::of_presented(&secret[..secret.len() - 1]), None);
        assert_eq!(
            TokenHash::of_presented(&format!("psl_{}", "!".repeat(43))),
            None
        );
    }

    #[test]
    fn token_ids_and_refs_parse() {
        let id = TokenId::generate();
        assert_eq!(id.as_str().parse::<TokenId>().unwrap(), id);
        assert!("tok_123".parse::<TokenId>().is_err());
        assert!("tok_ABCDEF0123456789".parse::<TokenId>().is_err());
        assert!(matches!(id.as_str().parse(), Ok(TokenRef::Id(_))));
        assert!(matches!("psl_x".parse(), Ok(TokenRef::Secret(_))));
        assert!("bob".parse::<TokenRef>().is_err());
    }
}

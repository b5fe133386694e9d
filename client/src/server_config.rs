//! [`ServerConfig`]: which server a replica syncs with, and the token it presents.

use std::fmt;

use crate::ClientError;
use reqwest::Url;

/// The server a replica syncs with and the bearer token it presents, both validated when
/// built. The token is kept in the replica's store as given (the replica directory is the
/// user's own; protect it as you would an SSH key).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    url: Url,
    token: String,
}

impl ServerConfig {
    /// A configuration from a URL and a token as a person typed them.
    ///
    /// The URL must be absolute, `http` or `https` (the WebSocket and HTTP endpoints hang off
    /// it), name a host, and carry no query, fragment or credentials. A path is kept, so a
    /// server behind a reverse proxy at `https://example.org/passerelle/` works. The token
    /// must be non-empty and hold no whitespace or control characters.
    pub fn new(url: &str, token: &str) -> Result<Self, ClientError> {
        Ok(Self {
            url: parse_url(url)?,
            token: check_token(token)?,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for ServerConfig {
    /// Never prints the token: configurations end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url.as_str())
            .field("token", &"<redacted>")
            .finish()
    }
}

fn parse_url(input: &str) -> Result<Url, ClientError> {
    let invalid = |reason: String| ClientError::InvalidServerUrl {
        url: input.to_owned(),
        reason,
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    // Without `://`, `localhost:7780` would parse as the scheme `localhost`: say what is
    // missing instead.
    if !trimmed.contains("://") {
        return Err(invalid(
            "it has no scheme; write it in full, e.g. https://sync.example.org".to_owned(),
        ));
    }
    let url = Url::parse(trimmed).map_err(|error| invalid(error.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(invalid(format!(
                "the scheme `{other}` is not supported; use http:// or https://"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it holds a user name or password; pass credentials with --token instead".to_owned(),
        ));
    }
    if url.query().is_some() {
        return Err(invalid(
            "it has a query (`?...`); give the server's base URL only".to_owned(),
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid(
            "it has a fragment (`#...`); give the server's base URL only".to_owned(),
        ));
    }
    Ok(url)
}

fn check_token(token: &str) -> Result<String, ClientError> {
    if token.is_empty() {
        return Err(ClientError::InvalidToken("it is empty".to_owned()));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ClientError::InvalidToken(
            "it holds whitespace or a control character (a copy-paste accident?)".to_owned(),
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> String {
        match ServerConfig::new(url, "t") {
            Err(ClientError::InvalidServerUrl { reason, .. }) => reason,
            other => panic!("expected InvalidServerUrl for {url}, got {other:?}"),
        }
    }

    #[test]
    fn accepts_http_and_https_base_urls() {
        for url in [
            "http://127.0.0.1:7780",
            "https://sync.example.org/",
            "https://example.org/passerelle/",
        ] {
            let config = ServerConfig::new(url, "tok").unwrap();
            assert_eq!(config.token(), "tok");
        }
    }

    #[test]
    fn names_what_is_wrong_with_a_url() {
        assert!(reason("").contains("empty"));
        assert!(reason("sync.example.org").contains("no scheme"));
        assert!(reason("localhost:7780").contains("no scheme"));
        assert!(reason("ftp://example.org").contains("`ftp`"));
        assert!(reason("https://user:pw@example.org").contains("password"));
        assert!(reason("https://example.org/?a=1").contains("query"));
        assert!(reason("https://example.org/#x").contains("fragment"));
        assert!(reason("http://exa mple.org").contains("invalid"));
        assert!(reason("https://").contains("host"));
    }

    #[test]
    fn checks_the_token_and_hides_it() {
        assert!(ServerConfig::new("https://e.org", "").is_err());
        assert!(ServerConfig::new("https://e.org", "a b").is_err());
        let config = ServerConfig::new("https://e.org", "secret-token").unwrap();
        assert!(!format!("{config:?}").contains("secret-token"));
    }
}

//! The peers of a server, `DATA/peers.json`, and what the running server reports about them,
//! `DATA/peers-status.json`.
//!
//! Both are small files of the data directory rather than records of the store: the store
//! is locked by a running server, and `peer add`/`list`/`remove`/`status` must work whether
//! it runs or not. The running server reads `peers.json` again every few seconds. The file
//! holds the peers' tokens as given (as the client keeps its own token in its replica): it
//! is written readable by the owner only (mode 0600), like `server.json`'s admin secret.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::auth::UserName;

/// The file of the configured peers, in the data directory.
pub const PEERS_FILE_NAME: &str = "peers.json";
/// The file where the running server reports each peer's link, in the data directory.
pub const STATUS_FILE_NAME: &str = "peers-status.json";
/// The longest peer name.
pub const MAX_PEER_NAME_LEN: usize = 64;
/// The most peers one server dials.
pub const MAX_PEERS: usize = 64;

/// One peer: the server to dial, the token it knows us by, and what we offer it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    /// A short name (`lille`): lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// The peer's base URL (`https://passerelle.lille.example/`).
    pub url: String,
    /// The bearer token the peer issued to this server (one of its users): the peer's access
    /// rules apply to us as to that user.
    pub token: String,
    /// The local user whose read access decides which of our documents the peer gets, and as
    /// whom the peer's changes are written here (their organisation owns the documents that
    /// first arrive from the peer; their write access decides which changes are accepted).
    pub offer: UserName,
}

impl fmt::Debug for PeerConfig {
    /// Never prints the token: configurations end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("offer", &self.offer)
            .finish()
    }
}

/// Why a peer configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerConfigError {
    /// The name breaks the rules.
    #[error(
        "a peer name is 1 to {MAX_PEER_NAME_LEN} lowercase letters, digits, `-` or `_`; not `{0}`"
    )]
    Name(String),
    /// The URL is not an absolute http(s) URL without query or credentials.
    #[error("the peer URL `{url}` is not usable: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The token is empty or holds whitespace or control characters.
    #[error("the token is empty or holds whitespace or control characters")]
    Token,
    /// A peer of that name exists.
    #[error("a peer named `{0}` exists already (remove it first)")]
    Exists(String),
    /// No peer of that name.
    #[error("no peer is named `{0}`")]
    Unknown(String),
    /// Too many peers.
    #[error("a server dials at most {MAX_PEERS} peers")]
    TooMany,
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is not a peers file.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl PeerConfig {
    /// A peer from what a person typed, checked. Without a name, the URL's host names it.
    pub fn new(
        name: Option<&str>,
        url: &str,
        token: &str,
        offer: UserName,
    ) -> Result<Self, PeerConfigError> {
        let parsed = parse_url(url)?;
        let name = match name {
            Some(name) => name.to_owned(),
            None => default_name(&parsed),
        };
        check_name(&name)?;
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PeerConfigError::Token);
        }
        Ok(Self {
            name,
            url: parsed.to_string(),
            token: token.to_owned(),
            offer,
        })
    }

    /// The base URL, parsed (checked when the configuration was made or read).
    pub fn base_url(&self) -> Result<Url, PeerConfigError> {
        parse_url(&self.url)
    }

    fn check(&self) -> Result<(), PeerConfigError> {
        check_name(&self.name)?;
        parse_url(&self.url)?;
        if self.token.is_empty()
            || self
                .token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(PeerConfigError::Token);
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), PeerConfigError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PEER_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(PeerConfigError::Name(name.to_owned()))
    }
}

/// `passerelle.lille.example` → `passerelle-lille-example`, `127.0.0.1:7780` →
/// `127-0-0-1-7780`.
fn default_name(url: &Url) -> String {
    let mut name: String = url
        .host_str()
        .unwrap_or("peer")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if let Some(port) = url.port() {
        name.push_str(&format!("-{port}"));
    }
    name.truncate(MAX_PEER_NAME_LEN);
    name
}

fn parse_url(input: &str) -> Result<Url, PeerConfigError> {
    let invalid = |reason: &str| PeerConfigError::Url {
        url: input.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(input.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("give the token with --token, not in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not carry a query or a fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The content of `peers.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersFile {
    /// The peers, in the order they were added.
    pub peers: Vec<PeerConfig>,
}

impl PeersFile {
    /// Where the file of `data_dir` is.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(PEERS_FILE_NAME)
    }

    /// Reads the peers of `data_dir` (none when there is no file), checking each.
    pub fn read(data_dir: &Path) -> Result<Self, PeerConfigError> {
        let path = Self::path(data_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(PeerConfigError::Io { path, source }),
        };
        if bytes.len() > 1024 * 1024 {
            return Err(PeerConfigError::Damaged {
                path,
                reason: "larger than 1 MiB".into(),
            });
        }
        let file: Self = serde_json::from_slice(&bytes).map_err(|e| PeerConfigError::Damaged {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if file.peers.len() > MAX_PEERS {
            return Err(PeerConfigError::TooMany);
        }
        for peer in &file.peers {
            peer.check().map_err(|e| PeerConfigError::Damaged {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(file)
    }

    /// Adds a peer; refused when the name is taken.
    pub fn add(&mut self, peer: PeerConfig) -> Result<(), PeerConfigError> {
        if self.peers.iter().any(|p| p.name == peer.name) {
            return Err(PeerConfigError::Exists(peer.name));
        }
        if self.peers.len() >= MAX_PEERS {
            return Err(PeerConfigError::TooMany);
        }
        self.peers.push(peer);
        Ok(())
    }

    /// Removes a peer by name.
    pub fn remove(&mut self, name: &str) -> Result<PeerConfig, PeerConfigError> {
        let index = self
            .peers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| PeerConfigError::Unknown(name.to_owned()))?;
        Ok(self.peers.remove(index))
    }

    /// Writes the file into `data_dir`, owner-only and atomically.
    pub fn write(&self, data_dir: &Path) -> Result<(), PeerConfigError> {
        let path = Self::path(data_dir);
        let bytes = serde_json::to_vec_pretty(self).expect("peers serialise");
        crate::admin::write_private(data_dir, PEERS_FILE_NAME, &bytes)
            .map_err(|source| PeerConfigError::Io { path, source })
    }
}

/// What the running server last knew of one peer's link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The last exchange with the peer succeeded.
    pub connected: bool,
    /// When the last complete pass ended (RFC 3339), if one did.
    pub last_sync: Option<String>,
    /// Documents known to differ and not yet exchanged in the pass under way.
    pub behind: usize,
    /// Documents sent and received since the server started.
    pub documents_synced: u64,
    /// The last error, while the link is down.
    pub error: Option<String>,
}

/// The content of `peers-status.json`, by peer name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    /// The process that wrote it.
    pub pid: u32,
    /// Each configured peer's link.
    pub peers: BTreeMap<String, PeerStatus>,
}

impl StatusFile {
    /// Reads the status the running server last wrote (`None`: none written).
    pub fn read(data_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(data_dir.join(STATUS_FILE_NAME)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes it (owner-only, atomically).
    pub fn write(&self, data_dir: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("status serialises");
        crate::admin::write_private(data_dir, STATUS_FILE_NAME, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserName {
        UserName::new("lille-link").unwrap()
    }

    #[test]
    fn checks_what_a_person_types_and_round_trips() {
        let peer = PeerConfig::new(None, "http://127.0.0.1:7780", "psl_abc", user()).unwrap();
        assert_eq!(peer.name, "127-0-0-1-7780");
        assert_eq!(peer.url, "http://127.0.0.1:7780/");
        assert!(!format!("{peer:?}").contains("psl_abc"));
        assert!(PeerConfig::new(Some("Lille"), "http://x/", "t", user()).is_err());
        assert!(PeerConfig::new(Some("lille"), "ftp://x/", "t", user()).is_err());
        assert!(PeerConfig::new(Some("lille"), "http://u:p@x/", "t", user()).is_err());
        assert!(PeerConfig::new(Some("lille"), "http://x/?a=b", "t", user()).is_err());
        assert!(PeerConfig::new(Some("lille"), "http://x/", "a b", user()).is_err());
        assert!(PeerConfig::new(Some("lille"), "http://x/", "", user()).is_err());

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PeersFile::read(dir.path()).unwrap(), PeersFile::default());
        let mut file = PeersFile::default();
        file.add(PeerConfig::new(Some("lille"), "https://l.example/p", "t1", user()).unwrap())
            .unwrap();
        assert!(matches!(
            file.add(PeerConfig::new(Some("lille"), "http://x/", "t2", user()).unwrap()),
            Err(PeerConfigError::Exists(_))
        ));
        file.write(dir.path()).unwrap();
        let back = PeersFile::read(dir.path()).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.peers[0].url, "https://l.example/p/");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(PeersFile::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut back = back;
        assert!(back.remove("oujda").is_err());
        back.remove("lille").unwrap();
        assert!(back.peers.is_empty());

        std::fs::write(
            PeersFile::path(dir.path()),
            b"{\"peers\": [{\"name\": \"A\"}]}",
        )
        .unwrap();
        assert!(matches!(
            PeersFile::read(dir.path()),
            Err(PeerConfigError::Damaged { .. })
        ));
    }
}

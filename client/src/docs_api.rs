//! Per-document questions for the server, beside sync: who wrote what
//! ([`Replica::history`], `GET /v1/docs/{id}/history`) and who may see what
//! ([`HttpTransport::document_access`], [`HttpTransport::share`], `GET`/`PUT
//! /v1/docs/{id}/access`).
//!
//! Unlike sync, these need the network and answer at once; they are not queued offline.
//! The server answers 404 alike for a document it does not hold and for one the user may not
//! see: [`ClientError::NotOnServer`], or [`ClientError::NotYetOnServer`] when this replica
//! made the document and never synced it (the usual reason, and one the user can fix).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use automerge::ChangeHash;
use passerelle_core::DocumentId;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::sync_records::{self, RejectionKind};
use crate::transport::read_body;
use crate::{ClientError, HttpTransport, Replica};

/// How long one of these requests may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One change of a document as the server recorded it when it first arrived: who delivered
/// it (the authenticated user, not a claim of the change itself) and when (the server's
/// clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// The change.
    pub hash: ChangeHash,
    /// The user whose connection delivered it first.
    pub user: String,
    /// Their organisation at the time.
    pub org: String,
    /// When the server received it.
    pub time: SystemTime,
    /// Empty for a user of the server. For a change made on another server and carried by
    /// federation: the servers it came through, nearest first (`user` and `org` are the
    /// author's there, not an account of this server).
    pub origin: Vec<String>,
}

impl HistoryRecord {
    /// The author as people read it: `karim`, or `karim (lille)` for a user of the peer
    /// server `lille`, `karim (rabat, via lille)` when relayed.
    pub fn author(&self) -> String {
        match self.origin.as_slice() {
            [] => self.user.clone(),
            [only] => format!("{} ({only})", self.user),
            [via @ .., from] => format!("{} ({from}, via {})", self.user, via.join(", ")),
        }
    }
}

/// A change this replica holds and the server does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    /// The change.
    pub hash: ChangeHash,
    /// The server's reason, when it refused the change (read-only access); `None` when the
    /// change simply has not been sent yet.
    pub refused: Option<String>,
}

/// The history of one document: what the server holds, then what is only here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentHistory {
    /// The document.
    pub document_id: DocumentId,
    /// The changes on the server, oldest first.
    pub on_server: Vec<HistoryRecord>,
    /// The changes of this replica the server does not hold, in the order they were made.
    pub pending: Vec<PendingChange>,
}

/// How much of a document someone may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Nothing (as a rule: a denial).
    None,
    /// Receive the document.
    Read,
    /// Read and change it.
    Write,
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessLevel::None => "none",
            AccessLevel::Read => "read",
            AccessLevel::Write => "write",
        })
    }
}

/// Whom a rule is about: an organisation or one user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grantee {
    /// Every member of an organisation.
    Org(String),
    /// One user.
    User(String),
}

impl fmt::Display for Grantee {
    /// `org:NAME` or `user:NAME`, the form the server speaks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Org(name) => write!(f, "org:{name}"),
            Grantee::User(name) => write!(f, "user:{name}"),
        }
    }
}

impl FromStr for Grantee {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input.split_once(':') {
            Some(("org", name)) => Ok(Grantee::Org(name.to_owned())),
            Some(("user", name)) => Ok(Grantee::User(name.to_owned())),
            _ => Err(format!("`{input}` is not `org:NAME` or `user:NAME`")),
        }
    }
}

/// One rule of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Whom it is about.
    pub grantee: Grantee,
    /// What they get.
    pub access: AccessLevel,
}

/// A document's owner and rules, as the server keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentAccess {
    /// The document.
    pub document_id: DocumentId,
    /// The organisation that owns it: its members have access by default, its admins share.
    pub owner_org: String,
    /// Who created it.
    pub created_by: String,
    /// The rules beyond the owner's default.
    pub rules: Vec<AccessRule>,
    /// What the user asking may do.
    pub your_access: AccessLevel,
    /// Whether the user asking may change the rules.
    pub you_can_share: bool,
}

#[derive(Deserialize)]
struct WireHistory {
    changes: Vec<WireRecord>,
}

#[derive(Deserialize)]
struct WireRecord {
    hash: String,
    user: String,
    org: String,
    time: String,
    #[serde(default)]
    origin: Vec<String>,
}

#[derive(Deserialize)]
struct WireAccess {
    owner_org: String,
    created_by: String,
    rules: Vec<WireRule>,
    your_access: AccessLevel,
    you_can_share: bool,
}

#[derive(Deserialize)]
struct WireRule {
    subject: String,
    access: AccessLevel,
}

impl HttpTransport {
    /// `GET /v1/docs/{id}/history`: the changes of the document the server holds, with the
    /// user who first delivered each and when, oldest first.
    pub fn history(&self, document_id: DocumentId) -> Result<Vec<HistoryRecord>, ClientError> {
        let body = self.document_request(document_id, "history", None)?;
        let wire: WireHistory = self.parse(&body)?;
        wire.changes
            .into_iter()
            .map(|record| {
                let hash = record.hash.parse().map_err(|_| {
                    self.bad_response(format!("`{}` is not a change hash", record.hash))
                })?;
                let time: jiff::Timestamp = record
                    .time
                    .parse()
                    .map_err(|_| self.bad_response(format!("`{}` is not a time", record.time)))?;
                Ok(HistoryRecord {
                    hash,
                    user: record.user,
                    org: record.org,
                    time: SystemTime::from(time),
                    origin: record.origin,
                })
            })
            .collect()
    }

    /// `GET /v1/docs/{id}/access`: the document's owner and rules.
    pub fn document_access(&self, document_id: DocumentId) -> Result<DocumentAccess, ClientError> {
        let body = self.document_request(document_id, "access", None)?;
        self.access_from(document_id, &body)
    }

    /// `PUT /v1/docs/{id}/access`: gives `grantee` `access` to the document
    /// ([`AccessLevel::None`] takes it away). Only admins of the organisation that owns the
    /// document may ([`ClientError::Forbidden`] otherwise). Returns the new rules.
    pub fn share(
        &self,
        document_id: DocumentId,
        grantee: &Grantee,
        access: AccessLevel,
    ) -> Result<DocumentAccess, ClientError> {
        let body = serde_json::json!({"subject": grantee.to_string(), "access": access});
        let body = self.document_request(document_id, "access", Some(body.to_string()))?;
        self.access_from(document_id, &body)
    }

    /// `GET` (or `PUT` with a JSON body) `/v1/docs/{id}/{what}`, with the document errors
    /// mapped to their [`ClientError`]s.
    fn document_request(
        &self,
        document_id: DocumentId,
        what: &str,
        put: Option<String>,
    ) -> Result<Vec<u8>, ClientError> {
        let url = self.endpoint(&format!("v1/docs/{document_id}/{what}"));
        let request = match put {
            Some(body) => self
                .client
                .put(url)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body),
            None => self.client.get(url),
        };
        let response = request
            .bearer_auth(&self.token)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        match read_body(self, response) {
            Err(ClientError::Server { status: 404, .. }) => {
                Err(ClientError::NotOnServer(document_id))
            }
            Err(ClientError::Server {
                status: 403,
                message,
                ..
            }) => Err(ClientError::Forbidden(message)),
            other => other,
        }
    }

    fn access_from(
        &self,
        document_id: DocumentId,
        body: &[u8],
    ) -> Result<DocumentAccess, ClientError> {
        let wire: WireAccess = self.parse(body)?;
        let rules = wire
            .rules
            .into_iter()
            .map(|rule| {
                Ok(AccessRule {
                    grantee: rule.subject.parse().map_err(|e| self.bad_response(e))?,
                    access: rule.access,
                })
            })
            .collect::<Result<_, ClientError>>()?;
        Ok(DocumentAccess {
            document_id,
            owner_org: wire.owner_org,
            created_by: wire.created_by,
            rules,
            your_access: wire.your_access,
            you_can_share: wire.you_can_share,
        })
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, body: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| self.bad_response(e.to_string()))
    }

    fn bad_response(&self, reason: impl Into<String>) -> ClientError {
        ClientError::BadResponse {
            server: crate::Transport::server(self),
            reason: reason.into(),
        }
    }
}

impl Replica {
    /// The history of a document: the server's record of who delivered each change and when
    /// (oldest first), followed by the changes of this replica that the server does not hold
    /// (not sent yet, or refused), so that nothing made here is hidden.
    ///
    /// Needs the server. A document made here and never synced is
    /// [`ClientError::NotYetOnServer`].
    pub fn history(
        &mut self,
        transport: &HttpTransport,
        document_id: DocumentId,
    ) -> Result<DocumentHistory, ClientError> {
        let on_server = match transport.history(document_id) {
            Ok(records) => records,
            Err(ClientError::NotOnServer(id)) => return Err(self.why_not_on_server(id)?),
            Err(error) => return Err(error),
        };
        let held: HashSet<ChangeHash> = on_server.iter().map(|r| r.hash).collect();
        let refused: BTreeMap<ChangeHash, String> =
            match sync_records::rejection(self.storage(), &document_id)? {
                Some(rejection) if rejection.kind == RejectionKind::Refused => rejection
                    .hashes()
                    .into_iter()
                    .map(|hash| (hash, rejection.reason.clone()))
                    .collect(),
                _ => BTreeMap::new(),
            };
        let pending = match self.document_if_any(document_id)? {
            Some(doc) => doc
                .get_changes_meta(&[])
                .iter()
                .filter(|change| !held.contains(&change.hash))
                .map(|change| PendingChange {
                    hash: change.hash,
                    refused: refused.get(&change.hash).cloned(),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(DocumentHistory {
            document_id,
            on_server,
            pending,
        })
    }

    /// What a 404 about `document_id` most likely means, from what this replica knows:
    /// made here and never synced, or not visible on the server.
    pub fn why_not_on_server(
        &mut self,
        document_id: DocumentId,
    ) -> Result<ClientError, ClientError> {
        let never_synced = self.document_if_any(document_id)?.is_some()
            && self.confirmed_heads(document_id)?.is_none()
            && !sync_records::rejection(self.storage(), &document_id)?
                .is_some_and(|r| r.kind == RejectionKind::Unavailable);
        Ok(if never_synced {
            ClientError::NotYetOnServer(document_id)
        } else {
            ClientError::NotOnServer(document_id)
        })
    }
}

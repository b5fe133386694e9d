//! Authorship across servers: who made the changes a federation link carries.
//!
//! A server records, per change, the user who first delivered it ([`AuthorshipRecord`]).
//! Between servers that user is the link's account, not the person who typed, so the link
//! carries the original records along with the changes, as [`AuthorClaim`]s:
//! - pushing (`POST /v1/sync` of the peer), the dialler adds the records of the changes it
//!   sends (a top-level `authors` field, which older servers ignore); the peer takes them
//!   only from an account with the `peer` role ([`crate::auth::Role::Peer`]), and ignores
//!   them from anyone else;
//! - pulling, the dialler asks the peer for the records of the changes it received
//!   (`POST /v1/authorship`, readers of the documents, as the history is).
//!
//! The receiving server never trusts a claim to name one of its own users: it writes the
//! claim with the name of the server it came from in front of its `origin` (the peer's name
//! in `peers.json`, or the `peer` account it dials in with). A record with an origin names a
//! user of another server, shown as `karim (lille)`; a claim's origin is kept as it came, so
//! a change relayed A → B → C keeps its author (`karim (a, via b)` on C). And a change keeps
//! its first record: one that comes back is not re-attributed.

use std::collections::HashMap;

use jiff::Timestamp;
use passerelle_core::DocumentId;
use passerelle_core::batch::DocumentDelta;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthorshipRecord, ChangeHash, MAX_ORIGIN_HOPS, NameError, OrgName, UserName};

/// The most claims one request may carry (one per change).
pub const MAX_CLAIMS: usize = 100_000;
/// The most change hashes one `POST /v1/authorship` may ask about.
pub const MAX_QUERY_HASHES: usize = 10_000;
/// The most documents one `POST /v1/authorship` may ask about.
pub const MAX_QUERY_DOCUMENTS: usize = 1_000;

/// Who made one change, as a server states it to another (from its [`AuthorshipRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorClaim {
    /// The change, 64 hex digits.
    pub hash: String,
    /// The author's user name on the server where they work.
    pub user: String,
    /// Their organisation there.
    pub org: String,
    /// The servers the change came through before the stating one, nearest first (empty
    /// for a user of the stating server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<String>,
    /// When the first server received it (RFC 3339).
    pub time: String,
}

/// The claims about one document's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentAuthors {
    /// The document id.
    pub id: String,
    /// Its changes' authors.
    pub changes: Vec<AuthorClaim>,
}

/// Why claims are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// More than [`MAX_CLAIMS`].
    #[error("at most {MAX_CLAIMS} authorship claims per request; this one has {0}")]
    TooMany(usize),
    /// A malformed document id.
    #[error("authorship claims name a malformed document id `{0}`")]
    Document(String),
    /// A malformed change hash.
    #[error("authorship claim: `{0}` is not a change hash")]
    Hash(String),
    /// The user's name breaks the rules of names.
    #[error("authorship claim: user: {0}")]
    User(NameError),
    /// The organisation's name breaks them.
    #[error("authorship claim: org: {0}")]
    Org(NameError),
    /// A server name of the origin breaks them.
    #[error("authorship claim: origin: {0}")]
    Origin(NameError),
    /// The change came through too many servers.
    #[error("authorship claim: an origin names at most {MAX_ORIGIN_HOPS} servers")]
    TooFar,
    /// The time is not an RFC 3339 time.
    #[error("authorship claim: `{0}` is not a time")]
    Time(String),
}

impl AuthorClaim {
    /// The claim this server makes about a change from its record.
    pub fn from_record(record: &AuthorshipRecord) -> Self {
        Self {
            hash: record.change_hash.to_string(),
            user: record.user.as_str().to_owned(),
            org: record.org.as_str().to_owned(),
            origin: record
                .origin
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            time: record.at.to_string(),
        }
    }

    /// Checks the claim as received from the server this one knows as `via`, and gives the
    /// record to keep: `via` goes first in the origin, so the author is never taken for a
    /// user of this server. A time in the future becomes `now`.
    pub fn to_record(
        &self,
        via: &UserName,
        now: Timestamp,
    ) -> Result<AuthorshipRecord, ClaimError> {
        let change_hash: ChangeHash = self
            .hash
            .parse()
            .map_err(|_| ClaimError::Hash(shorten(&self.hash)))?;
        let user = UserName::new(self.user.as_str()).map_err(ClaimError::User)?;
        let org = OrgName::new(self.org.as_str()).map_err(ClaimError::Org)?;
        if self.origin.len() >= MAX_ORIGIN_HOPS {
            return Err(ClaimError::TooFar);
        }
        let mut origin = Vec::with_capacity(self.origin.len() + 1);
        origin.push(via.clone());
        for hop in &self.origin {
            origin.push(UserName::new(hop.as_str()).map_err(ClaimError::Origin)?);
        }
        let at: Timestamp = self
            .time
            .parse()
            .map_err(|_| ClaimError::Time(shorten(&self.time)))?;
        Ok(AuthorshipRecord {
            change_hash,
            user,
            org,
            at: at.min(now),
            origin,
        })
    }
}

/// The records to keep of claims received from `via`, per document and change. Every claim
/// is checked; one bad claim refuses them all (a peer that sends one is broken).
pub fn validate(
    documents: &[DocumentAuthors],
    via: &UserName,
    now: Timestamp,
) -> Result<HashMap<DocumentId, HashMap<ChangeHash, AuthorshipRecord>>, ClaimError> {
    let count: usize = documents.iter().map(|d| d.changes.len()).sum();
    if count > MAX_CLAIMS {
        return Err(ClaimError::TooMany(count));
    }
    let mut out: HashMap<DocumentId, HashMap<ChangeHash, AuthorshipRecord>> = HashMap::new();
    for document in documents {
        let id: DocumentId = document
            .id
            .parse()
            .map_err(|_| ClaimError::Document(shorten(&document.id)))?;
        let records = out.entry(id).or_default();
        for claim in &document.changes {
            let record = claim.to_record(via, now)?;
            records.entry(record.change_hash).or_insert(record);
        }
    }
    Ok(out)
}

/// What a batch-sync request body may carry besides [`passerelle_core::batch::SyncRequest`]'s
/// fields (read again from the same body, only for a `peer` account).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RequestAuthors {
    #[serde(default)]
    pub(crate) authors: Vec<DocumentAuthors>,
}

/// A batch-sync request with authors, as a link sends it: the fields of
/// [`passerelle_core::batch::SyncRequest`] plus `authors`.
#[derive(Debug, Serialize)]
pub struct SyncRequestWithAuthors<'a> {
    /// As [`passerelle_core::batch::SyncRequest::replica`].
    pub replica: &'a str,
    /// As [`passerelle_core::batch::SyncRequest::documents`].
    pub documents: &'a [DocumentDelta],
    /// Who made the changes of `documents`.
    #[serde(skip_serializing_if = "<[DocumentAuthors]>::is_empty")]
    pub authors: &'a [DocumentAuthors],
}

/// The body of `POST /v1/authorship`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorshipQuery {
    /// The documents and changes asked about.
    pub documents: Vec<QueryDocument>,
}

/// One document of an [`AuthorshipQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryDocument {
    /// The document id.
    pub id: String,
    /// Change hashes, 64 hex digits each.
    pub hashes: Vec<String>,
}

/// The answer of `POST /v1/authorship`: per document asked, in order, the records that
/// exist (none for a document the caller may not read, as for one that does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorshipAnswer {
    /// One entry per document asked.
    pub documents: Vec<DocumentAuthors>,
}

/// At most 80 characters of untrusted text, for an error message.
fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> AuthorClaim {
        AuthorClaim {
            hash: "ab".repeat(32),
            user: "karim".into(),
            org: "lille".into(),
            origin: Vec::new(),
            time: "2026-11-29T10:00:00Z".into(),
        }
    }

    fn via() -> UserName {
        UserName::new("lille").unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_claim_becomes_a_record_naming_the_server_it_came_from() {
        let record = claim().to_record(&via(), now()).unwrap();
        assert_eq!(record.user.as_str(), "karim");
        assert_eq!(record.org.as_str(), "lille");
        assert_eq!(record.origin, vec![via()]);
        assert_eq!(record.author_label(), "karim (lille)");
        assert_eq!(record.at, "2026-11-29T10:00:00Z".parse().unwrap());
        // Stated again by this server, the claim keeps the origin: relayed, not re-attributed.
        let relayed = AuthorClaim::from_record(&record)
            .to_record(&UserName::new("oujda").unwrap(), now())
            .unwrap();
        assert_eq!(relayed.user.as_str(), "karim");
        assert_eq!(relayed.author_label(), "karim (lille, via oujda)");
    }

    #[test]
    fn a_claim_naming_a_local_user_still_names_the_peer() {
        // A peer cannot make a change look like one of this server's users' own.
        let mut claim = claim();
        claim.user = "amina".into();
        let record = claim.to_record(&via(), now()).unwrap();
        assert_eq!(record.origin.len(), 1);
        assert_eq!(record.author_label(), "amina (lille)");
    }

    #[test]
    fn malformed_claims_are_refused() {
        let bad = |change: &dyn Fn(&mut AuthorClaim)| {
            let mut claim = claim();
            change(&mut claim);
            claim.to_record(&via(), now()).unwrap_err()
        };
        assert!(matches!(
            bad(&|c| c.hash = "zz".into()),
            ClaimError::Hash(_)
        ));
        assert!(matches!(
            bad(&|c| c.user = String::new()),
            ClaimError::User(_)
        ));
        assert!(matches!(
            bad(&|c| c.user = "k".repeat(65)),
            ClaimError::User(NameError::TooLong(65))
        ));
        assert!(matches!(
            bad(&|c| c.user = "kar\u{202e}im".into()),
            ClaimError::User(_)
        ));
        assert!(matches!(
            bad(&|c| c.org = " lille".into()),
            ClaimError::Org(_)
        ));
        assert!(matches!(
            bad(&|c| c.origin = vec!["a\nb".into()]),
            ClaimError::Origin(_)
        ));
        assert!(matches!(
            bad(&|c| c.origin = vec!["x".into(); MAX_ORIGIN_HOPS]),
            ClaimError::TooFar
        ));
        assert!(matches!(
            bad(&|c| c.time = "hier".into()),
            ClaimError::Time(_)
        ));
        // The longest origin that still leaves room for the sender passes.
        let mut far = claim();
        far.origin = vec!["x".into(); MAX_ORIGIN_HOPS - 1];
        assert_eq!(
            far.to_record(&via(), now()).unwrap().origin.len(),
            MAX_ORIGIN_HOPS
        );
        // Error messages quote at most 80 characters of what was sent.
        let ClaimError::Hash(quoted) = bad(&|c| c.hash = "z".repeat(10_000)) else {
            unreachable!()
        };
        assert_eq!(quoted.len(), 80);
    }

    #[test]
    fn a_time_in_the_future_is_now() {
        let mut claim = claim();
        claim.time = "2099-01-01T00:00:00Z".into();
        assert_eq!(claim.to_record(&via(), now()).unwrap().at, now());
    }

    #[test]
    fn requests_are_bounded_and_checked_whole() {
        let id = DocumentId::random().to_string();
        let one = DocumentAuthors {
            id: id.clone(),
            changes: vec![claim()],
        };
        let records = validate(std::slice::from_ref(&one), &via(), now()).unwrap();
        assert_eq!(records[&id.parse().unwrap()].len(), 1);
        let too_many = DocumentAuthors {
            id: id.clone(),
            changes: vec![claim(); MAX_CLAIMS + 1],
        };
        assert_eq!(
            validate(&[too_many], &via(), now()).unwrap_err(),
            ClaimError::TooMany(MAX_CLAIMS + 1)
        );
        let mut broken = claim();
        broken.user = String::new();
        let mixed = DocumentAuthors {
            id,
            changes: vec![claim(), broken],
        };
        assert!(validate(&[mixed], &via(), now()).is_err());
        let bad_id = DocumentAuthors {
            id: "nope".into(),
            changes: vec![claim()],
        };
        assert!(matches!(
            validate(&[bad_id], &via(), now()),
            Err(ClaimError::Document(_))
        ));
    }

    #[test]
    fn the_request_extension_reads_back_and_older_bodies_have_none() {
        use passerelle_core::batch::{self, SyncRequest};
        let documents = vec![DocumentDelta {
            id: DocumentId::random().to_string(),
            heads: Vec::new(),
            changes: vec![1, 2, 3],
        }];
        let authors = vec![DocumentAuthors {
            id: documents[0].id.clone(),
            changes: vec![claim()],
        }];
        let body = batch::encode(&SyncRequestWithAuthors {
            replica: "fed-x",
            documents: &documents,
            authors: &authors,
        });
        // A server that knows nothing of authors reads the same request.
        let plain: SyncRequest = batch::decode(&body).unwrap();
        assert_eq!(plain.documents, documents);
        let extra: RequestAuthors = batch::decode(&body).unwrap();
        assert_eq!(extra.authors, authors);
        let without = batch::encode(&SyncRequest {
            replica: "x".into(),
            documents,
        });
        assert!(
            batch::decode::<RequestAuthors>(&without)
                .unwrap()
                .authors
                .is_empty()
        );
    }
}

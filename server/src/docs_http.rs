//! Per-document endpoints beside sync: who wrote what (`history`) and who may see what
//! (`access`).
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /v1/docs/{id}/history` | readers of the document | [`HistoryResponse`]: per change, the user who first delivered it, their organisation and when, oldest first |
//! | `GET /v1/docs/{id}/access` | readers of the document | [`AccessResponse`]: the owner organisation and the rules |
//! | `PUT /v1/docs/{id}/access` | admins of the owner organisation | sets one rule from a [`ShareRequest`]; answers the new [`AccessResponse`] |
//! | `DELETE /v1/docs/{id}` | admins of the owner organisation, and its editors who may write it | erases the document for good; answers an [`ErasureResponse`] |
//! | `POST /v1/authorship` | anyone; answers only about documents they may read | the authorship records of given changes of given documents (an [`AuthorshipQuery`], at most 10,000 hashes): what a federation link asks of a peer about the changes it received |
//!
//! Erasure (the right to be forgotten: a person's record is a document of its own) removes,
//! in one atomic and flushed batch, the document's chunks, its access rules and its
//! authorship records, and writes a tombstone (id, time, who; nothing of the content), which
//! refuses the id for ever on both sync paths (`unavailable`), so a replica that still holds
//! the old changes cannot bring it back. The hub then drops the document and its peers' sync
//! states from the engine and waits for the storage tasks in flight, the keys are swept once
//! more (a chunk written meanwhile), and the changes feed publishes the erasure (`deleted`)
//! to those who could read the document, whose clients then delete their copies. Who may
//! erase: those who govern the document (its owner's admins) and its owner's editors while
//! they may write it; a reader who may not gets 403 (they know it exists), anyone else the
//! 404 of a missing document.
//!
//! Every route takes the bearer token like the others. A caller who may not read the
//! document gets exactly the answer a document that does not exist gets (404,
//! `{"error": "document not found"}`): these routes must not tell anyone which documents
//! exist. A reader who may not share gets 403 with the reason; a malformed id, body or name
//! gets 400 naming what is wrong.
//!
//! ACL changes go through [`AuthStore::set_rule`] and [`AuthStore::remove_rule`], the same
//! store the sync endpoints ask on every request, so a rule applies to the very next sync
//! message (and any cache the store keeps stays coherent). A grant is also published on the
//! changes feed, so that the new readers' clients fetch the document at their next poll.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use passerelle_core::DocumentId;
use serde::{Deserialize, Serialize};

use crate::auth::{
    Access, AuthError, AuthStore, DocumentAcl, Operation, OrgName, Principal, Refusal, Role, Rule,
    Subject, Tombstone, UserName, access_for, allowed,
};
use crate::error::AppError;
use crate::federation::claims::{
    AuthorClaim, AuthorshipAnswer, AuthorshipQuery, DocumentAuthors, MAX_QUERY_DOCUMENTS,
    MAX_QUERY_HASHES,
};
use crate::http::{AppState, Authenticated};

/// The answer to a caller who may not read a document, and to one asking about a document
/// that does not exist: the same words, so that they cannot be told apart.
const NOT_FOUND: &str = "document not found";

/// The routes of this module, merged into [`crate::app`].
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/docs/{id}/history", get(history))
        .route("/v1/docs/{id}/access", get(get_access).put(put_access))
        .route("/v1/docs/{id}", delete(erase))
        .route("/v1/authorship", post(authorship))
}

/// The answer of `DELETE /v1/docs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErasureResponse {
    /// The document id, now refused for ever.
    pub(crate) document: String,
    /// When it was erased (RFC 3339, UTC).
    pub(crate) erased_at: String,
    /// Who erased it.
    pub(crate) erased_by: String,
    /// How many stored keys of the document were deleted (chunks, metadata, marker).
    pub(crate) deleted_keys: usize,
}

/// `DELETE /v1/docs/{id}`: see the module's documentation.
async fn erase(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ErasureResponse>, AppError> {
    let doc = parse_id(&id)?;
    let auth = Arc::clone(&state.auth);
    let docs = Arc::clone(&state.sync.docs);
    let decided = crate::spawn_blocking(move || {
        let Some(acl) = auth.acl(&doc)? else {
            return Ok(Err(AppError::NotFound(NOT_FOUND.to_owned())));
        };
        if access_for(&principal, Some(&acl)) < Access::Read {
            return Ok(Err(AppError::NotFound(NOT_FOUND.to_owned())));
        }
        if !may_erase(&principal, &acl) {
            return Ok(Err(AppError::Forbidden(format!(
                "only an admin or an editor of `{}`, the organisation that owns this \
                 document, may erase it",
                acl.owner_org.as_str()
            ))));
        }
        let tombstone = Tombstone {
            erased_at: jiff::Timestamp::now(),
            erased_by: principal.user.clone(),
            acl: Some(acl.clone()),
        };
        let deleted = auth.erase_document(&doc, &docs, &tombstone)?;
        Ok::<_, AuthError>(Ok((acl, tombstone, deleted)))
    })
    .await??;
    let (acl, tombstone, deleted) = decided?;
    // Nothing new reaches the engine for this id now (no ACL, and a tombstone): drop what it
    // holds, wait for the writes in flight, then sweep whatever they stored.
    state.sync.hub.forget(doc).await;
    let auth = Arc::clone(&state.auth);
    let docs = Arc::clone(&state.sync.docs);
    let sweep = tombstone.clone();
    let swept = crate::spawn_blocking(move || auth.erase_document(&doc, &docs, &sweep)).await??;
    state.sync.feed.publish_erased(doc, acl);
    tracing::info!(document = %doc, by = %tombstone.erased_by.as_str(), "document erased");
    Ok(Json(ErasureResponse {
        document: doc.to_string(),
        erased_at: tombstone.erased_at.to_string(),
        erased_by: tombstone.erased_by.as_str().to_owned(),
        deleted_keys: deleted + swept,
    }))
}

/// Whether `principal` may erase a document with these rules: an admin of its owner
/// organisation, or an editor of it who may write it (a rule can freeze it to read).
fn may_erase(principal: &Principal, acl: &DocumentAcl) -> bool {
    principal.org == acl.owner_org
        && match principal.role {
            Role::Admin => true,
            Role::Editor => access_for(principal, Some(acl)) >= Access::Write,
            Role::Viewer | Role::Peer => false,
        }
}

/// One change of a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HistoryEntry {
    /// The change hash, 64 hex digits.
    pub(crate) hash: String,
    /// The authenticated user who first delivered the change to this server.
    pub(crate) user: String,
    /// That user's organisation at the time.
    pub(crate) org: String,
    /// When the server received it (RFC 3339, UTC).
    pub(crate) time: String,
    /// For a change made on another server and carried here by federation: the servers it
    /// came through, nearest first (`user` and `org` are the author's there). Absent for a
    /// user of this server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) origin: Vec<String>,
}

/// The answer of `GET /v1/docs/{id}/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HistoryResponse {
    /// The document id.
    pub(crate) document: String,
    /// Its changes, oldest first (ties by hash).
    pub(crate) changes: Vec<HistoryEntry>,
}

/// One rule of [`AccessResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RuleEntry {
    /// `org:NAME` or `user:NAME`.
    pub(crate) subject: String,
    /// `read`, `write`, or `none` (a denial).
    pub(crate) access: Access,
}

/// The answer of `GET` and `PUT /v1/docs/{id}/access`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessResponse {
    /// The document id.
    pub(crate) document: String,
    /// The organisation that owns the document: its admins share it, its members have
    /// access by default.
    pub(crate) owner_org: String,
    /// Who created the document.
    pub(crate) created_by: String,
    /// The rules beyond the owner's default.
    pub(crate) rules: Vec<RuleEntry>,
    /// The caller's own access.
    pub(crate) your_access: Access,
    /// Whether the caller may change the rules.
    pub(crate) you_can_share: bool,
}

/// The body of `PUT /v1/docs/{id}/access`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareRequest {
    /// `org:NAME` or `user:NAME`.
    pub(crate) subject: String,
    /// `read`, `write` or `none`. `none` takes away what the subject's rule gave; when the
    /// subject would still have access without a rule (the owner organisation, or a user
    /// whose organisation can see the document), a denial is recorded instead, so that
    /// `none` always leaves the subject without access (the owner's admins excepted: they
    /// govern the document).
    pub(crate) access: Access,
}

/// `GET /v1/docs/{id}/history`.
async fn history(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<HistoryResponse>, AppError> {
    let doc = parse_id(&id)?;
    let auth = Arc::clone(&state.auth);
    // Storage reads: blocking work, off the async threads.
    let records = crate::spawn_blocking(move || {
        if !readable(&auth, &doc, &principal)? {
            return Ok(None);
        }
        auth.history(&doc).map(Some)
    })
    .await??;
    let Some(records) = records else {
        return Err(AppError::NotFound(NOT_FOUND.to_owned()));
    };
    Ok(Json(HistoryResponse {
        document: doc.to_string(),
        changes: records
            .into_iter()
            .map(|record| HistoryEntry {
                hash: record.change_hash.to_string(),
                user: record.user.as_str().to_owned(),
                org: record.org.as_str().to_owned(),
                time: record.at.to_string(),
                origin: record
                    .origin
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            })
            .collect(),
    }))
}

/// `POST /v1/authorship`: the records of the changes asked, of the documents the caller may
/// read (a document it may not read, or that does not exist, gets none).
async fn authorship(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    body: Bytes,
) -> Result<Json<AuthorshipAnswer>, AppError> {
    let query: AuthorshipQuery = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("invalid authorship query: {e}")))?;
    if query.documents.len() > MAX_QUERY_DOCUMENTS {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_QUERY_DOCUMENTS} documents per query"
        )));
    }
    let hashes: usize = query.documents.iter().map(|d| d.hashes.len()).sum();
    if hashes > MAX_QUERY_HASHES {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_QUERY_HASHES} change hashes per query; this one has {hashes}"
        )));
    }
    let mut asked = Vec::with_capacity(query.documents.len());
    for document in query.documents {
        let id = parse_id(&document.id)?;
        let hashes = document
            .hashes
            .iter()
            .map(|hash| {
                hash.parse::<crate::auth::ChangeHash>().map_err(|_| {
                    AppError::BadRequest(format!(
                        "`{}` is not a change hash",
                        hash.chars().take(80).collect::<String>()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        asked.push((id, hashes));
    }
    let auth = Arc::clone(&state.auth);
    let documents = state
        .sync
        .blocking(move || -> Result<Vec<DocumentAuthors>, AuthError> {
            let mut out = Vec::with_capacity(asked.len());
            for (id, hashes) in asked {
                let changes = if readable(&auth, &id, &principal)? {
                    auth.authorship_of(&id, hashes)?
                        .iter()
                        .map(AuthorClaim::from_record)
                        .collect()
                } else {
                    Vec::new()
                };
                out.push(DocumentAuthors {
                    id: id.to_string(),
                    changes,
                });
            }
            Ok(out)
        })
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    Ok(Json(AuthorshipAnswer { documents }))
}

/// `GET /v1/docs/{id}/access`.
async fn get_access(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccessResponse>, AppError> {
    let doc = parse_id(&id)?;
    let auth = Arc::clone(&state.auth);
    let acl = crate::spawn_blocking(move || auth.acl(&doc)).await??;
    match acl {
        Some(acl) if access_for(&principal, Some(&acl)) >= Access::Read => {
            Ok(Json(access_response(doc, &acl, &principal)))
        }
        _ => Err(AppError::NotFound(NOT_FOUND.to_owned())),
    }
}

/// `PUT /v1/docs/{id}/access`.
async fn put_access(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AccessResponse>, AppError> {
    let doc = parse_id(&id)?;
    // Parsed here rather than by axum's `Json`, whose rejections are plain text: every error
    // of this API is `{"error": …}`.
    let request: ShareRequest = serde_json::from_slice(&body).map_err(|e| {
        AppError::BadRequest(format!(
            "the body must be {{\"subject\": \"org:NAME\" or \"user:NAME\", \"access\": \
             \"read\", \"write\" or \"none\"}}: {e}"
        ))
    })?;
    let subject = parse_subject(&request.subject)?;
    let auth = Arc::clone(&state.auth);
    let actor = principal.clone();
    let acl = crate::spawn_blocking(move || share(&auth, &doc, &actor, subject, request.access))
        .await???;
    if request.access > Access::None {
        // Whoever just gained access learns of the document from the changes feed, as if
        // it had changed: a client that synced before the share would otherwise not hear of
        // it until its next edit. No heads ("unknown"): every reader compares it once.
        state.sync.feed.publish(doc, Vec::new());
    }
    Ok(Json(access_response(doc, &acl, &principal)))
}

/// The change of one rule, with the checks in the order that keeps the promise of the
/// module: first "may the caller read it" (else 404), then "may they share it" (else 403).
fn share(
    auth: &AuthStore,
    doc: &DocumentId,
    actor: &Principal,
    subject: Subject,
    access: Access,
) -> Result<Result<DocumentAcl, AppError>, AuthError> {
    let Some(acl) = auth.acl(doc)? else {
        return Ok(Err(AppError::NotFound(NOT_FOUND.to_owned())));
    };
    if access_for(actor, Some(&acl)) < Access::Read {
        return Ok(Err(AppError::NotFound(NOT_FOUND.to_owned())));
    }
    if !allowed(actor, Some(&acl), Operation::Share) {
        return Ok(Err(AppError::Forbidden(format!(
            "only an admin of `{}`, the organisation that owns this document, may change who \
             can see it; ask one of them",
            acl.owner_org.as_str()
        ))));
    }
    let outcome = match access {
        Access::Read | Access::Write => {
            if let Subject::User(name) = &subject
                && auth.user(name)?.is_none()
            {
                return Ok(Err(AppError::BadRequest(format!(
                    "there is no user named `{}`",
                    name.as_str()
                ))));
            }
            auth.set_rule(doc, actor, Rule { subject, access })?
        }
        Access::None => {
            let mut without = acl.clone();
            without.remove_rule(&subject);
            if still_has_access(auth, &without, &subject)? {
                auth.set_rule(
                    doc,
                    actor,
                    Rule {
                        subject,
                        access: Access::None,
                    },
                )?
            } else {
                auth.remove_rule(doc, actor, &subject)?
            }
        }
    };
    Ok(outcome.map_err(|refusal| match refusal {
        // The rules changed between the checks above and the write (another admin, a role
        // change): answer as if the request had come a moment later.
        Refusal::NotAllowed(Operation::Share) => {
            AppError::Forbidden("you may no longer change who can see this document".to_owned())
        }
        other => AppError::from(other),
    }))
}

/// Whether `subject` would have access to a document with this ACL without a rule of its
/// own.
fn still_has_access(
    auth: &AuthStore,
    acl: &DocumentAcl,
    subject: &Subject,
) -> Result<bool, AuthError> {
    Ok(match subject {
        Subject::Org(org) => org == &acl.owner_org,
        Subject::User(name) => auth
            .user(name)?
            .is_some_and(|user| access_for(&user.principal(), Some(acl)) > Access::None),
    })
}

fn readable(auth: &AuthStore, doc: &DocumentId, principal: &Principal) -> Result<bool, AuthError> {
    auth.is_allowed(doc, principal, Operation::Read)
}

fn access_response(doc: DocumentId, acl: &DocumentAcl, principal: &Principal) -> AccessResponse {
    AccessResponse {
        document: doc.to_string(),
        owner_org: acl.owner_org.as_str().to_owned(),
        created_by: acl.created_by.as_str().to_owned(),
        rules: acl
            .rules
            .iter()
            .map(|rule| RuleEntry {
                subject: subject_text(&rule.subject),
                access: rule.access,
            })
            .collect(),
        your_access: access_for(principal, Some(acl)),
        you_can_share: allowed(principal, Some(acl), Operation::Share),
    }
}

fn parse_id(input: &str) -> Result<DocumentId, AppError> {
    input
        .parse()
        .map_err(|e| AppError::BadRequest(format!("invalid document id: {e}")))
}

/// `org:NAME` or `user:NAME`, the name validated like any user or organisation name.
fn parse_subject(input: &str) -> Result<Subject, AppError> {
    let bad = |reason: String| AppError::BadRequest(format!("subject `{input}`: {reason}"));
    match input.split_once(':') {
        Some(("org", name)) => OrgName::new(name)
            .map(Subject::Org)
            .map_err(|e| bad(e.to_string())),
        Some(("user", name)) => UserName::new(name)
            .map(Subject::User)
            .map_err(|e| bad(e.to_string())),
        _ => Err(bad("expected `org:NAME` or `user:NAME`".to_owned())),
    }
}

fn subject_text(subject: &Subject) -> String {
    match subject {
        Subject::Org(org) => format!("org:{}", org.as_str()),
        Subject::User(user) => format!("user:{}", user.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_their_kind_and_a_valid_name() {
        assert_eq!(
            parse_subject("org:ville-de-lille").unwrap(),
            Subject::Org(OrgName::new("ville-de-lille").unwrap())
        );
        assert_eq!(
            parse_subject("user:amina").unwrap(),
            Subject::User(UserName::new("amina").unwrap())
        );
        // The name may itself hold a colon; only the first one separates.
        assert_eq!(
            subject_text(&parse_subject("org:a:b").unwrap()),
            "org:a:b".to_owned()
        );
        for bad in [
            "lille",
            "team:lille",
            "org:",
            "user: amina",
            "org:a\u{202e}b",
        ] {
            let error = parse_subject(bad).unwrap_err();
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(error.to_string().contains(bad), "{error}");
        }
    }
}

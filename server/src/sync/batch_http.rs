//! `POST /v1/sync` (batch sync, see [`passerelle_core::batch`]) and `GET /v1/changes` (the
//! changes feed), for clients on poor links.
//!
//! Both check access per document on every request, exactly as the WebSocket endpoint does:
//! a document the caller may not read is `unavailable`, the same as one that does not exist,
//! and is never listed in the feed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use passerelle_core::batch::{self, DocumentDelta, DocumentReply, ReplyStatus, SyncRequest};
use passerelle_core::{DeltaOutcome, DeltaRequest, DocumentId, PeerId};
use serde::{Deserialize, Serialize};

use crate::auth::{Access, Operation, Principal, Role, access_for, allowed};
use crate::error::AppError;
use crate::federation::claims;
use crate::http::{AppState, Authenticated};
use crate::sync::feed::{Cursor, CursorError, Since};
use crate::sync::hub::Claimed;

/// The most documents one batch may carry.
pub const MAX_BATCH_DOCUMENTS: usize = 10_000;

/// How long one document of a batch may take before the request gives up on it (the
/// client retries; retrying is safe).
const DELTA_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest long-poll a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// `POST /v1/sync`.
pub(crate) async fn batch_sync(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body?;
    let metrics = &state.sync.metrics;
    metrics
        .bytes_in
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let request: SyncRequest =
        batch::decode(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    if request.documents.len() > MAX_BATCH_DOCUMENTS {
        return Err(AppError::BadRequest(format!(
            "a batch holds at most {MAX_BATCH_DOCUMENTS} documents; this one has {}",
            request.documents.len()
        )));
    }
    let replica: PeerId = request
        .replica
        .parse()
        .map_err(|e| AppError::BadRequest(format!("field `replica`: {e}")))?;
    let mut ids = Vec::with_capacity(request.documents.len());
    for document in &request.documents {
        let id: DocumentId = document
            .id
            .parse()
            .map_err(|e| AppError::BadRequest(format!("document `{}`: {e}", document.id)))?;
        ids.push(id);
    }
    let from: PeerId = format!("{}~http~{replica}", user_tag(&principal))
        .parse()
        .map_err(|e| AppError::BadRequest(format!("field `replica`: {e}")))?;
    // Who made the changes, as a federation peer states it: read only from a `peer`
    // account, ignored from anyone else (their changes are theirs).
    let mut authors = if principal.role == Role::Peer {
        let extra: claims::RequestAuthors =
            batch::decode(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
        claims::validate(&extra.authors, &principal.user, jiff::Timestamp::now())
            .map_err(|e| AppError::BadRequest(e.to_string()))?
    } else {
        Default::default()
    };
    let replies = join_all(
        request
            .documents
            .into_iter()
            .zip(ids)
            .map(|(document, id)| {
                let claimed = authors.remove(&id).unwrap_or_default();
                one_document(&state, &principal, &from, id, document, claimed)
            }),
    )
    .await;
    let replies: Result<Vec<DocumentReply>, AppError> = replies.into_iter().collect();
    let body = batch::encode(&batch::SyncResponse {
        documents: replies?,
    });
    metrics
        .bytes_out
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    Ok(([(header::CONTENT_TYPE, "application/cbor")], body).into_response())
}

async fn one_document(
    state: &AppState,
    principal: &Principal,
    from: &PeerId,
    document_id: DocumentId,
    document: DocumentDelta,
    authors: Claimed,
) -> Result<DocumentReply, AppError> {
    let reply = |status, message: Option<String>| DocumentReply {
        id: document.id.clone(),
        status,
        heads: Vec::new(),
        changes: Vec::new(),
        missing: Vec::new(),
        message,
    };
    let (exists, rights) = access(state, principal, document_id).await?;
    let may_write = if rights >= Access::Read {
        rights >= Access::Write
    } else if !exists && !document.changes.is_empty() && allowed(principal, None, Operation::Create)
    {
        let auth = Arc::clone(&state.auth);
        let creator = principal.clone();
        let created = state
            .sync
            .blocking(move || auth.create_document(&document_id, &creator))
            .await
            .map_err(|e| AppError::internal(e.to_string()))?
            .map_err(|e| AppError::internal(e.to_string()))?;
        match created {
            Ok(_) => true,
            // Created by someone else in the meantime: decide on its rules.
            Err(_) => {
                let (_, rights) = access(state, principal, document_id).await?;
                if rights < Access::Read {
                    return Ok(reply(ReplyStatus::Unavailable, None));
                }
                rights >= Access::Write
            }
        }
    } else {
        return Ok(reply(ReplyStatus::Unavailable, None));
    };
    let delta = DeltaRequest {
        request: 0,
        from: from.clone(),
        document_id,
        heads: batch::from_wire(&document.heads),
        changes: document.changes,
        may_write,
    };
    let outcome = tokio::time::timeout(
        DELTA_TIMEOUT,
        state
            .sync
            .hub
            .delta_with_authors(delta, principal.clone(), authors),
    )
    .await;
    state.sync.hub.delta_done(from.clone()).await;
    let outcome = match outcome {
        Ok(Some(outcome)) => outcome,
        Ok(None) => return Err(AppError::internal("the sync hub is gone (shutting down)")),
        Err(_) => {
            return Ok(reply(
                ReplyStatus::Error,
                Some("timed out; retry (retrying is safe)".into()),
            ));
        }
    };
    Ok(match outcome {
        DeltaOutcome::Synced {
            heads,
            changes,
            missing,
            refused,
        } => DocumentReply {
            id: document.id,
            status: if refused {
                ReplyStatus::Refused
            } else {
                ReplyStatus::Ok
            },
            heads: batch::to_wire(&heads),
            changes,
            missing: batch::to_wire(&missing),
            message: refused.then(|| {
                "you have read-only access to this document; your changes were not accepted"
                    .to_owned()
            }),
        },
        DeltaOutcome::Unavailable => reply(ReplyStatus::Unavailable, None),
        DeltaOutcome::Failed(message) => reply(ReplyStatus::Error, Some(message)),
    })
}

/// Whether the document exists, and the principal's access to it.
async fn access(
    state: &AppState,
    principal: &Principal,
    document_id: DocumentId,
) -> Result<(bool, Access), AppError> {
    let acl = super::document_acl(&state.sync, &state.auth, document_id)
        .await
        .map_err(AppError::internal)?;
    Ok((acl.is_some(), access_for(principal, acl.as_ref())))
}

/// A short, stable tag of the user for engine peer ids.
pub(crate) fn user_tag(principal: &Principal) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(principal.user.as_str().as_bytes());
    format!("u{}", hex::encode(&digest[..8]))
}

/// The query of `GET /v1/changes`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangesQuery {
    /// The cursor of the previous answer; absent on the first call.
    since: Option<String>,
    /// Seconds to wait for a change when there is none yet (long poll), at most 60.
    wait: Option<u64>,
}

/// The answer of `GET /v1/changes`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangesResponse {
    /// Pass it as `since` next time.
    pub cursor: String,
    /// The cursor was unknown (first call, or the server restarted): `documents` lists every
    /// document the caller may read, without heads; compare them all.
    pub reset: bool,
    /// The documents that changed (with their durable heads, hex), or all of them on reset.
    pub documents: Vec<ChangedDocument>,
}

/// One entry of [`ChangesResponse`].
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangedDocument {
    /// The document id.
    pub id: String,
    /// Its heads as hex strings; empty on reset.
    pub heads: Vec<String>,
    /// `true`: the document was erased (`DELETE /v1/docs/{id}`); delete every copy of it.
    /// Absent otherwise, so clients that predate erasure read the answer as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// `GET /v1/changes?since=CURSOR&wait=SECONDS`.
pub(crate) async fn changes(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<ChangesQuery>,
) -> Result<Json<ChangesResponse>, AppError> {
    let cursor: Option<Cursor> = match query.since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse()
                .map_err(|e: CursorError| AppError::BadRequest(e.to_string()))?,
        ),
    };
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let feed = Arc::clone(&state.sync.feed);
    loop {
        let (since, now) = feed.since(cursor);
        match since {
            Since::Reset => {
                let documents = all_visible(&state, &principal).await?;
                return Ok(Json(ChangesResponse {
                    cursor: now.to_string(),
                    reset: true,
                    documents,
                }));
            }
            Since::Changes(changed) => {
                let mut documents = Vec::new();
                for (id, heads) in changed {
                    // An erased document: told to those who could read it before.
                    if let Some(acl) = feed.erased(&id) {
                        if access_for(&principal, Some(&acl)) >= Access::Read {
                            documents.push(ChangedDocument {
                                id: id.to_string(),
                                heads: Vec::new(),
                                deleted: true,
                            });
                        }
                        continue;
                    }
                    let (_, rights) = access(&state, &principal, id).await?;
                    if rights >= Access::Read {
                        documents.push(ChangedDocument {
                            id: id.to_string(),
                            heads: heads.iter().map(|h| h.to_string()).collect(),
                            deleted: false,
                        });
                    }
                }
                let waited_enough = tokio::time::Instant::now() >= deadline;
                if !documents.is_empty() || waited_enough {
                    return Ok(Json(ChangesResponse {
                        cursor: now.to_string(),
                        reset: false,
                        documents,
                    }));
                }
                let seq = now.seq;
                if tokio::time::timeout_at(deadline, feed.wait_past(seq))
                    .await
                    .is_err()
                {
                    return Ok(Json(ChangesResponse {
                        cursor: now.to_string(),
                        reset: false,
                        documents: Vec::new(),
                    }));
                }
                // Something moved: answer what moved since the caller's cursor.
            }
        }
    }
}

/// Every stored document the principal may read, and every erased one they could read.
async fn all_visible(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<ChangedDocument>, AppError> {
    let docs = Arc::clone(&state.sync.docs);
    let auth = Arc::clone(&state.auth);
    let principal = principal.clone();
    state
        .sync
        .blocking(move || {
            let mut visible = Vec::new();
            for id in docs
                .list_documents()
                .map_err(|e| AppError::internal(e.to_string()))?
            {
                let acl = auth
                    .acl(&id)
                    .map_err(|e| AppError::internal(e.to_string()))?;
                if access_for(&principal, acl.as_ref()) >= Access::Read {
                    visible.push(ChangedDocument {
                        id: id.to_string(),
                        heads: Vec::new(),
                        deleted: false,
                    });
                }
            }
            // Erased documents, for those who could read them: a replica that first syncs
            // after a restart (or after the feed dropped the entry) still deletes its copy.
            for (id, tombstone) in auth
                .tombstones()
                .map_err(|e| AppError::internal(e.to_string()))?
            {
                if tombstone
                    .acl
                    .is_some_and(|acl| access_for(&principal, Some(&acl)) >= Access::Read)
                {
                    visible.push(ChangedDocument {
                        id: id.to_string(),
                        heads: Vec::new(),
                        deleted: true,
                    });
                }
            }
            Ok(visible)
        })
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
}

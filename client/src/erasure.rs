//! Erasure and export of one document, for the actor directory's personal data (a person is a
//! document of its own, so that erasing the document erases its history too).
//!
//! - [`Replica::export_everything`]: what the replica holds on a document: its content, every
//!   change with every op (so every value it ever had, overwritten or deleted), the server's
//!   record of who delivered each change (when reachable), and the other documents whose
//!   content names it.
//! - [`HttpTransport::erase`]: `DELETE /v1/docs/{id}` on the server, which deletes the
//!   document, its rules and authorship, and keeps a tombstone that refuses the id for ever.
//! - [`Replica::erase_here`]: deletes the local copy: chunks, marker and the sync records
//!   (to check, pending changes, confirmed heads, rejection), in one atomic batch, and
//!   records the id as erased ([`Replica::is_erased`]), so that references to it from other
//!   documents show as erased.
//! - [`Replica::documents_mentioning`]: the other documents that name it (its id, a name).
//! - [`apply_erasures`]: a sync pass hands it each page of the changes feed; the entries the
//!   server flags `deleted` make this replica delete its copy before anything else of the
//!   page is recorded, and leave the page.

use std::time::{Duration, SystemTime};

use automerge::Automerge;
use passerelle_core::DocumentId;
use passerelle_store::Batch;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::sync_records::{self, CHECK, CONFIRMED, DIRTY, ERASED, REJECTED};
use crate::transport::read_body;
use crate::{ChangesPage, ClientError, HttpTransport, Replica};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A document that mentions another ([`Replica::documents_mentioning`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The mentioning document.
    pub id: DocumentId,
    /// Its `type` field, if it has one (`project`, `mission`…).
    pub doc_type: Option<String>,
    /// Where: paths into its JSON, e.g. `partners.ID`, `delegation.k3f9a0c2.person`.
    pub fields: Vec<String>,
}

/// What the server answered to an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerErasure {
    /// The document id.
    pub document: String,
    /// When (RFC 3339).
    pub erased_at: String,
    /// Who asked.
    pub erased_by: String,
    /// How many stored keys the server deleted.
    pub deleted_keys: usize,
}

impl HttpTransport {
    /// `DELETE /v1/docs/{id}`: erases the document on the server for good. A caller who may
    /// not see it gets [`ClientError::NotOnServer`] (as for a document that does not exist);
    /// one who may see it but not erase it, [`ClientError::Forbidden`].
    pub fn erase(&self, document_id: DocumentId) -> Result<ServerErasure, ClientError> {
        let response = self
            .client
            .delete(self.endpoint(&format!("v1/docs/{document_id}")))
            .bearer_auth(&self.token)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        let body = match read_body(self, response) {
            Err(ClientError::Server { status: 404, .. }) => {
                return Err(ClientError::NotOnServer(document_id));
            }
            Err(ClientError::Server {
                status: 403,
                message,
                ..
            }) => return Err(ClientError::Forbidden(message)),
            other => other?,
        };
        serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse {
            server: crate::Transport::server(self),
            reason: e.to_string(),
        })
    }
}

impl Replica {
    /// Deletes this replica's copy of the document and every sync record about it, in one
    /// atomic and durable batch. Returns how many document keys were deleted (0 when the
    /// replica did not hold it).
    pub fn erase_here(&mut self, document_id: DocumentId) -> Result<usize, ClientError> {
        let mut also = Batch::new();
        for set in [CHECK, DIRTY, CONFIRMED, REJECTED] {
            also.delete(sync_records::doc_key(set, &document_id));
        }
        also.put(
            sync_records::doc_key(ERASED, &document_id),
            sync_records::now_ms().to_string().into_bytes(),
        );
        self.erase_local(document_id, also)
    }

    /// Whether this replica erased the document, or heard from the server that it was
    /// erased: references to it then name an erased record, not one that has not arrived.
    pub fn is_erased(&self, document_id: DocumentId) -> Result<bool, ClientError> {
        sync_records::is_member(self.storage(), ERASED, &document_id)
    }

    /// The other documents of this replica whose content holds any of `needles` (a
    /// document id, a name): for each, its id, its `type` and the paths (`partners.ID`,
    /// `delegation.k3f9a0c2.person`) where a needle appears. Empty needles are skipped.
    pub fn documents_mentioning(
        &mut self,
        document_id: DocumentId,
        needles: &[&str],
    ) -> Result<Vec<Mention>, ClientError> {
        let needles: Vec<&str> = needles
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        let mut found = Vec::new();
        if needles.is_empty() {
            return Ok(found);
        }
        for other in self.stored_documents()? {
            if other == document_id {
                continue;
            }
            let Ok(content) = self.get_json(other) else {
                continue;
            };
            let mut fields = Vec::new();
            for needle in &needles {
                find_mentions(&content, needle, String::new(), &mut fields);
            }
            fields.sort();
            fields.dedup();
            if !fields.is_empty() {
                found.push(Mention {
                    id: other,
                    doc_type: content
                        .get("type")
                        .and_then(Json::as_str)
                        .map(str::to_owned),
                    fields,
                });
            }
        }
        Ok(found)
    }

    /// Everything this replica holds on the document, as JSON (see the module's
    /// documentation). `transport`: the server to ask for its history; `None`, or a failure,
    /// is said in the result (`server_history.available: false`).
    pub fn export_everything(
        &mut self,
        document_id: DocumentId,
        transport: Option<&HttpTransport>,
    ) -> Result<Json, ClientError> {
        let current = self.get_json(document_id)?;
        let bytes = self.export_automerge(document_id)?;
        let doc = Automerge::load(&bytes).map_err(|e| ClientError::NotSaved {
            document_id,
            reason: format!("the stored document does not load: {e}"),
        })?;
        let changes: Vec<Json> = doc
            .get_changes(&[])
            .into_iter()
            .map(|change| {
                let expanded = serde_json::to_value(change.decode()).unwrap_or(Json::Null);
                json!({
                    "hash": change.hash().to_string(),
                    "actor": change.actor_id().to_hex_string(),
                    "seq": change.seq(),
                    "time_ms": change.timestamp(),
                    "message": change.message(),
                    "ops": expanded.get("ops").cloned().unwrap_or(Json::Null),
                })
            })
            .collect();
        let server_history = match transport {
            None => json!({"available": false, "reason": "no server configured"}),
            Some(transport) => match transport.history(document_id) {
                Ok(records) => json!({
                    "available": true,
                    "changes": records.iter().map(|r| json!({
                        "hash": r.hash.to_string(),
                        "user": r.user,
                        "org": r.org,
                        "origin": r.origin,
                        "time": rfc3339(r.time),
                    })).collect::<Vec<_>>(),
                }),
                Err(error) => json!({"available": false, "reason": error.to_string()}),
            },
        };
        let needle = document_id.to_string();
        let mentioned_in: Vec<Json> = self
            .documents_mentioning(document_id, &[&needle])?
            .into_iter()
            .map(|m| json!({"id": m.id.to_string(), "type": m.doc_type, "fields": m.fields}))
            .collect();
        Ok(json!({
            "document": needle,
            "exported_at": rfc3339(SystemTime::now()),
            "current": current,
            "history": {
                "note": "every change this replica holds, oldest first, with every op: values \
                         overwritten or deleted since are here too. `actor` is a replica's \
                         random id; registers carry their writer as `by` and `at`, and \
                         `server_history` says which user delivered each change.",
                "heads": doc.get_heads().iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                "changes": changes,
            },
            "server_history": server_history,
            "mentioned_in": mentioned_in,
        }))
    }
}

/// Deletes the local copy of every document the page flags `deleted`, and returns the page
/// without those entries, for the rest of the pass to record. Called by a sync pass on each
/// page of the changes feed, before the page's cursor is recorded: a pass cut short after the
/// erasure reads the same page again, and erasing twice is harmless.
pub(crate) fn apply_erasures(
    replica: &mut Replica,
    mut page: ChangesPage,
) -> Result<ChangesPage, ClientError> {
    let mut kept = Vec::with_capacity(page.documents.len());
    for listed in std::mem::take(&mut page.documents) {
        if !listed.deleted {
            kept.push(listed);
            continue;
        }
        match listed.id.parse::<DocumentId>() {
            Ok(document_id) => {
                let deleted = replica.erase_here(document_id)?;
                tracing::info!(document = %document_id, deleted, "erased on the server; local copy deleted");
            }
            Err(_) => {
                tracing::warn!(id = %listed.id, "the changes feed lists an invalid document id")
            }
        }
    }
    page.documents = kept;
    Ok(page)
}

/// The paths (`a.b.0`) of the strings in `value` that contain `needle`.
fn find_mentions(value: &Json, needle: &str, at: String, out: &mut Vec<String>) {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Json::String(text) if text.contains(needle) => out.push(at),
        Json::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                find_mentions(item, needle, join(&index.to_string()), out);
            }
        }
        Json::Object(map) => {
            for (key, item) in map {
                if key.contains(needle) {
                    out.push(join(key));
                }
                find_mentions(item, needle, join(key), out);
            }
        }
        _ => {}
    }
}

fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

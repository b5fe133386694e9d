//! Stores of many documents for workload 3, written directly (a client would take minutes to
//! create 100,000 documents through any of the servers):
//!
//! - passerelle: through `DocStore` and the server's `AuthStore` (the document's ACL, owned by
//!   the benchmark user's organisation, as the server writes it when a client creates a
//!   document), with one flush per thousand documents instead of one per document;
//! - the references: the NodeFS layout, which samod's filesystem storage shares:
//!   `DIR/<first 2 characters of the id>/<rest of the id>/snapshot/<hash>` holding the saved
//!   document (protocol.md, "Storage layout").
//!
//! Every server gets the same documents, byte for byte.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ROOT, ScalarValue};
use passerelle_core::DocumentId;
use passerelle_server::auth::{AuthStore, OrgName, Role, UserName};
use passerelle_store::{DocStore, SledStorage, Storage};
use sha2::{Digest as _, Sha256};

/// One generated document: its id and its `save()`.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub(crate) id: DocumentId,
    pub(crate) bytes: Vec<u8>,
}

/// `count` small documents, like the ones workload 1's client creates.
pub(crate) fn generate(count: usize) -> anyhow::Result<Vec<Generated>> {
    (0..count)
        .map(|i| {
            let mut doc = AutoCommit::new();
            doc.put(ROOT, "title", format!("Document {i}"))?;
            doc.put(ROOT, "n", ScalarValue::Int(i as i64))?;
            let tags = doc.put_object(ROOT, "tags", automerge::ObjType::List)?;
            doc.insert(&tags, 0, "bench")?;
            doc.insert(&tags, 1, "small")?;
            doc.put(ROOT, "done", false)?;
            Ok(Generated {
                id: DocumentId::random(),
                bytes: doc.save(),
            })
        })
        .collect()
}

/// Writes `docs` into a new passerelle data directory and returns a token of the user who
/// owns them (`bench`, organisation `bench`, editor).
pub(crate) fn passerelle_store(data: &Path, docs: &[Generated]) -> anyhow::Result<String> {
    let storage: Arc<dyn Storage> =
        Arc::new(SledStorage::open(data).with_context(|| format!("opening {}", data.display()))?);
    let auth = AuthStore::new(storage.clone());
    let store = DocStore::new(storage);
    let user = auth
        .add_user(
            &"bench".parse::<UserName>()?,
            &"bench".parse::<OrgName>()?,
            Role::Editor,
        )?
        .map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
    let principal = user.user.principal();
    for (i, doc) in docs.iter().enumerate() {
        // The ACL before the document, as the server writes them.
        auth.create_document(&doc.id, &principal)?
            .map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
        store.append_deferred(&doc.id, &doc.bytes)?;
        if i % 1000 == 999 {
            store.flush()?;
        }
    }
    store.flush()?;
    Ok(user.token.token.expose_secret().to_owned())
}

/// Writes `docs` in the NodeFS layout under `dir` (read by the JS reference and samod).
pub(crate) fn reference_store(dir: &Path, docs: &[Generated]) -> anyhow::Result<()> {
    for doc in docs {
        let id = doc.id.to_string();
        let (head, rest) = id.split_at(2);
        let folder = dir.join(head).join(rest).join("snapshot");
        fs::create_dir_all(&folder)?;
        let name = hex::encode(Sha256::digest(&doc.bytes));
        fs::write(folder.join(name), &doc.bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ReadDoc as _;

    #[test]
    fn a_passerelle_store_holds_every_document_with_its_acl() {
        let dir = tempfile::tempdir().unwrap();
        let docs = generate(1_050).unwrap();
        let token = passerelle_store(dir.path(), &docs).unwrap();
        assert!(token.starts_with("psl_"), "{token}");

        let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).unwrap());
        let store = DocStore::new(storage.clone());
        let auth = AuthStore::new(storage);
        assert_eq!(store.count_documents().unwrap(), docs.len());
        let principal = auth
            .check_token(&token)
            .unwrap()
            .expect("the token is valid");
        for doc in [&docs[0], &docs[1_049]] {
            let loaded =
                automerge::Automerge::load(&store.load(&doc.id).unwrap().unwrap()).unwrap();
            assert!(loaded.get(ROOT, "title").unwrap().is_some());
            assert!(
                auth.is_allowed(
                    &doc.id,
                    &principal,
                    passerelle_server::auth::Operation::Write
                )
                .unwrap()
            );
        }
    }

    #[test]
    fn a_reference_store_has_the_nodefs_layout() {
        let dir = tempfile::tempdir().unwrap();
        let docs = generate(3).unwrap();
        reference_store(dir.path(), &docs).unwrap();
        for doc in &docs {
            let id = doc.id.to_string();
            let folder = dir.path().join(&id[..2]).join(&id[2..]).join("snapshot");
            let files: Vec<_> = fs::read_dir(&folder).unwrap().collect();
            assert_eq!(files.len(), 1);
            let bytes = fs::read(files[0].as_ref().unwrap().path()).unwrap();
            assert_eq!(bytes, doc.bytes);
        }
    }
}

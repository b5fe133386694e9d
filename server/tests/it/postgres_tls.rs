//! The real `passerelle-server` binary on PostgreSQL over TLS: started with `--store
//! 'postgres://…?sslmode=require&sslrootcert=CA'` it serves, and every connection it holds
//! to the database (the storage's and the cluster's) is encrypted (`pg_stat_ssl`); an admin
//! command whose URL gives no CA is refused, naming the host. Uses the test CA of
//! `scripts/postgres-for-tests` (`passerelle_store::testing::test_ca`); skipped without
//! PostgreSQL or it, failed under CI.

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc};
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, DocumentDelta, SyncRequest, SyncResponse};
use passerelle_store::testing::{TestDatabase, test_ca};

use crate::common::{self, ServeProcess, changes};

/// The server's connections to the database: (all of them, the encrypted ones, those of
/// the storage, named `passerelle`).
fn backends(db: &TestDatabase) -> (i64, i64, i64) {
    let count = |condition: &str| {
        db.select_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() {condition}"
        ))
        .unwrap()
    };
    (
        count(""),
        count("AND s.ssl"),
        count("AND a.application_name = 'passerelle'"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_over_tls_serves_with_every_connection_encrypted() {
    let test = "a_server_on_postgres_over_tls_serves";
    let Some(db) = TestDatabase::create(test) else {
        return;
    };
    let Some(ca) = test_ca(test) else {
        return;
    };
    let url = db.url_with(&format!("sslmode=require&sslrootcert={}", ca.display()));
    let dir = tempfile::tempdir().unwrap();

    // Without the CA, `require` verifies and refuses: the error names the host, not the
    // password.
    let output = common::run(
        &["user", "list", "--store", &db.url_with("sslmode=require")],
        &dir.path().join("admin"),
    );
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("127.0.0.1:") || stderr.contains("localhost:"),
        "{stderr}"
    );
    assert!(stderr.contains("sslrootcert="), "{stderr}");
    assert!(!stderr.contains("passerelle-tests@"), "{stderr}");

    let output = common::run(
        &[
            "user",
            "add",
            "amina",
            "--org",
            "ville-de-lille",
            "--role",
            "editor",
            "--store",
            &url,
        ],
        &dir.path().join("admin"),
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    let token = common::stdout(&output)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();

    let server = ServeProcess::start_with(&dir.path().join("data"), &["--store", &url]);
    let base = format!("http://{}", server.address);

    // A document written through the server is acknowledged and listed by its feed.
    let document_id = DocumentId::random();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "visits", 1).unwrap();
    tx.commit();
    let request = SyncRequest {
        replica: "tls-client".into(),
        documents: vec![DocumentDelta {
            id: document_id.to_string(),
            heads: batch::to_wire(&doc.get_heads()),
            changes: doc.save(),
        }],
    };
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/sync"))
        .bearer_auth(&token)
        .header("content-type", "application/cbor")
        .body(batch::encode(&request))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "log:\n{}", server.log());
    let response: SyncResponse = batch::decode(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(response.documents.len(), 1);
    let listed = changes(&base, &token, None, 0).await;
    assert!(
        listed
            .documents
            .iter()
            .any(|d| d.id == document_id.to_string()),
        "{listed:?}"
    );
    let stored = db.storage();
    let docs = passerelle_store::DocStore::new(std::sync::Arc::new(stored));
    let saved = Automerge::load(&docs.load(&document_id).unwrap().expect("stored")).unwrap();
    assert_eq!(
        saved
            .get(automerge::ROOT, "visits")
            .unwrap()
            .map(|(v, _)| v.to_string()),
        Some("1".to_owned())
    );
    drop(docs);

    // The storage's connections and the cluster's (not named `passerelle`) are all there,
    // and all encrypted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (all, encrypted, storage) = backends(&db);
        if storage >= 1 && all > storage {
            assert_eq!(
                encrypted, all,
                "every connection of the server is encrypted"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections: {all} ({storage} of the storage); log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop();
}

//! `GET /v1/docs/{id}/history` and `GET`/`PUT /v1/docs/{id}/access`, end to end: the real
//! `passerelle-server` binary on 127.0.0.1 over its sled store, users made with its own
//! `user add` command, documents written over `POST /v1/sync`.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable as _;
use automerge::{Automerge, ReadDoc as _};
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, DocumentDelta, ReplyStatus, SyncRequest, SyncResponse};
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The binary, serving a temporary data directory until dropped.
struct Server {
    base: String,
    child: Child,
    dir: common::TestData,
    http: Client,
}

impl Server {
    fn start() -> Self {
        let dir = common::TestData::new(module_path!());
        let (child, address) = Self::spawn(dir.path());
        Self {
            base: format!("http://{address}"),
            child,
            dir,
            http: Client::new(),
        }
    }

    /// Kills the process (no graceful shutdown) and starts a new one on the same data.
    fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.restart();
    }

    /// Stops the process with SIGTERM (a graceful shutdown), then starts a new one.
    fn stop_and_restart(&mut self) {
        self.stop_then(|_| {});
    }

    /// Stops the process with SIGTERM, runs `between` on the data directory of the stopped
    /// server, then starts a new one.
    fn stop_then(&mut self, between: impl FnOnce(&Path)) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
        between(self.dir.path());
        self.restart();
    }

    fn restart(&mut self) {
        let _ = std::fs::remove_file(self.dir.path().join("server.json"));
        let (child, address) = Self::spawn(self.dir.path());
        self.child = child;
        self.base = format!("http://{address}");
    }

    fn spawn(data: &Path) -> (Child, String) {
        let child = Command::new(common::BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(
                common::store_url(data)
                    .map(|url| ["--store".to_owned(), url])
                    .into_iter()
                    .flatten(),
            )
            .env_remove("PASSERELLE_STORE")
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        (child, wait_for_address(data))
    }

    /// Creates a user with the server's own command (through the running server); returns
    /// their token.
    fn user(&self, name: &str, org: &str, role: &str) -> String {
        let output = common::run(
            &["user", "add", name, "--org", org, "--role", role],
            self.dir.path(),
        );
        assert!(output.status.success(), "{}", common::stderr(&output));
        common::stdout(&output)
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    }

    fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .unwrap();
        status_and_json(response)
    }

    fn put(&self, token: &str, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap();
        status_and_json(response)
    }

    fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .unwrap();
        status_and_json(response)
    }

    fn share(&self, token: &str, doc: DocumentId, subject: &str, access: &str) -> (u16, Value) {
        let body = json!({"subject": subject, "access": access}).to_string();
        self.put(token, &format!("/v1/docs/{doc}/access"), &body)
    }

    /// One `POST /v1/sync` of `doc` (its heads, and all of it when it has changes); applies
    /// the answer to `doc` and returns the document's reply status.
    fn sync(&self, token: &str, id: DocumentId, doc: &mut Automerge) -> ReplyStatus {
        let heads = doc.get_heads();
        let request = SyncRequest {
            replica: "peer-docs-http-test".into(),
            documents: vec![DocumentDelta {
                id: id.to_string(),
                heads: batch::to_wire(&heads),
                changes: if heads.is_empty() {
                    Vec::new()
                } else {
                    doc.save()
                },
            }],
        };
        let response = self
            .http
            .post(format!("{}/v1/sync", self.base))
            .bearer_auth(token)
            .header("content-type", "application/cbor")
            .body(batch::encode(&request))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let response: SyncResponse = batch::decode(&response.bytes().unwrap()).unwrap();
        let reply = &response.documents[0];
        if !reply.changes.is_empty() {
            doc.load_incremental(&reply.changes).unwrap();
        }
        reply.status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address the server publishes in `DATA/server.json` once it listens.
fn wait_for_address(data: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(bytes) = std::fs::read(data.join("server.json"))
            && let Ok(file) = serde_json::from_slice::<Value>(&bytes)
            && let Some(address) = file["address"].as_str()
        {
            return address.to_owned();
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status_and_json(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

fn change(doc: &mut Automerge, key: &str, value: &str) {
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, key, value).unwrap();
    tx.commit();
}

#[test]
fn history_names_the_user_who_delivered_each_change() {
    let server = Server::start();
    let samira = server.user("samira", "oujda", "admin");
    let karim = server.user("karim", "oujda", "editor");
    let id = DocumentId::random();

    let mut laptop = Automerge::new();
    change(&mut laptop, "title", "Mission à Lille");
    let first = laptop.get_heads()[0];
    assert_eq!(server.sync(&samira, id, &mut laptop), ReplyStatus::Ok);

    let mut desk = Automerge::new();
    assert_eq!(server.sync(&karim, id, &mut desk), ReplyStatus::Ok);
    change(&mut desk, "lieu", "Oujda");
    // Server times have millisecond resolution: make "later" unambiguous.
    std::thread::sleep(Duration::from_millis(5));
    let second = desk.get_heads()[0];
    assert_eq!(server.sync(&karim, id, &mut desk), ReplyStatus::Ok);
    // Samira receives Karim's change: relaying it later does not make her its author.
    assert_eq!(server.sync(&samira, id, &mut laptop), ReplyStatus::Ok);
    assert_eq!(server.sync(&samira, id, &mut laptop), ReplyStatus::Ok);

    let (status, body) = server.get(&karim, &format!("/v1/docs/{id}/history"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["document"], id.to_string());
    let changes = body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{body}");
    assert_eq!(changes[0]["hash"], first.to_string());
    assert_eq!(changes[0]["user"], "samira");
    assert_eq!(changes[0]["org"], "oujda");
    assert_eq!(changes[1]["hash"], second.to_string());
    assert_eq!(changes[1]["user"], "karim");
    // Times are the server's, RFC 3339, oldest first.
    let times: Vec<jiff::Timestamp> = changes
        .iter()
        .map(|c| c["time"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times[0] <= times[1], "{times:?}");
    let age = jiff::Timestamp::now().duration_since(times[0]);
    assert!(age.as_secs() < 600, "{times:?}");
}

#[test]
fn a_caller_who_may_not_read_gets_the_answer_of_a_missing_document() {
    let server = Server::start();
    let owner = server.user("samira", "oujda", "admin");
    let outsider = server.user("claire", "lille", "admin");
    let id = DocumentId::random();
    let mut doc = Automerge::new();
    change(&mut doc, "title", "Plan d'action énergie");
    assert_eq!(server.sync(&owner, id, &mut doc), ReplyStatus::Ok);
    let missing = DocumentId::random();

    for (what, path) in [("history", "history"), ("access", "access")] {
        let denied = server.get(&outsider, &format!("/v1/docs/{id}/{path}"));
        let absent = server.get(&outsider, &format!("/v1/docs/{missing}/{path}"));
        assert_eq!(denied.0, 404, "{what}: {denied:?}");
        assert_eq!(denied, absent, "{what}");
        // The owner, for comparison, sees it.
        assert_eq!(server.get(&owner, &format!("/v1/docs/{id}/{path}")).0, 200);
    }
    let denied = server.share(&outsider, id, "org:lille", "write");
    let absent = server.share(&outsider, missing, "org:lille", "write");
    assert_eq!(denied.0, 404);
    assert_eq!(denied, absent);
    assert_eq!(denied.1, json!({"error": "document not found"}));
    // And nothing changed: the outsider still cannot sync it.
    let mut theirs = Automerge::new();
    assert_eq!(
        server.sync(&outsider, id, &mut theirs),
        ReplyStatus::Unavailable
    );
}

#[test]
fn readers_who_may_not_share_get_403_and_bad_requests_400() {
    let server = Server::start();
    let owner = server.user("samira", "oujda", "admin");
    let viewer = server.user("victor", "oujda", "viewer");
    let editor = server.user("karim", "oujda", "editor");
    let id = DocumentId::random();
    let mut doc = Automerge::new();
    change(&mut doc, "title", "Régie de quartier");
    assert_eq!(server.sync(&owner, id, &mut doc), ReplyStatus::Ok);

    for token in [&viewer, &editor] {
        let (status, body) = server.get(token, &format!("/v1/docs/{id}/access"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["owner_org"], "oujda");
        assert_eq!(body["you_can_share"], false);
        let (status, body) = server.share(token, id, "org:lille", "read");
        assert_eq!(status, 403, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("only an admin of `oujda`"), "{message}");
    }
    let (_, body) = server.get(&owner, &format!("/v1/docs/{id}/access"));
    assert_eq!(body["rules"], json!([]));
    assert_eq!(body["you_can_share"], true);
    assert_eq!(body["your_access"], "write");

    let path = format!("/v1/docs/{id}/access");
    let cases: [(&str, &str, &str); 7] = [
        (
            "/v1/docs/not-a-doc/access",
            r#"{"subject":"org:lille","access":"read"}"#,
            "invalid document id",
        ),
        (&path, "{", "the body must be"),
        (
            &path,
            r#"{"subject":"org:lille","access":"admin"}"#,
            "the body must be",
        ),
        (
            &path,
            r#"{"subject":"org:lille","access":"read","x":1}"#,
            "the body must be",
        ),
        (
            &path,
            r#"{"subject":"lille","access":"read"}"#,
            "expected `org:NAME` or `user:NAME`",
        ),
        (
            &path,
            r#"{"subject":"org: lille","access":"read"}"#,
            "cannot start or end with a space",
        ),
        (
            &path,
            r#"{"subject":"user:nobody","access":"read"}"#,
            "there is no user named `nobody`",
        ),
    ];
    for (path, body, needle) in cases {
        let (status, answer) = server.put(&owner, path, body);
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let (status, answer) = server.get(&owner, "/v1/docs/xyz/history");
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("invalid document id")
    );
    // A bad token is a 401, as everywhere.
    let (status, answer) = server.get("psl_nonsense", &format!("/v1/docs/{id}/history"));
    assert_eq!(status, 401);
    assert!(answer["error"].as_str().unwrap().contains("token"));
}

#[test]
fn an_owner_admin_shares_with_another_organisation_and_none_revokes() {
    let server = Server::start();
    let owner = server.user("samira", "oujda", "admin");
    let claire = server.user("claire", "lille", "editor");
    let id = DocumentId::random();
    let mut laptop = Automerge::new();
    change(&mut laptop, "title", "Mission Oujda → Lille");
    assert_eq!(server.sync(&owner, id, &mut laptop), ReplyStatus::Ok);

    let mut desk = Automerge::new();
    assert_eq!(
        server.sync(&claire, id, &mut desk),
        ReplyStatus::Unavailable
    );
    let (_, feed) = server.get(&claire, "/v1/changes");
    assert_eq!(feed["documents"], json!([]));
    let cursor = feed["cursor"].as_str().unwrap().to_owned();

    // Read: Claire receives the document; her changes are refused.
    let (status, body) = server.share(&owner, id, "org:lille", "read");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rules"],
        json!([{"subject": "org:lille", "access": "read"}])
    );
    // Her client hears of it from the changes feed, though the document did not change.
    // (A long poll: with several instances on PostgreSQL the entry comes back from the
    // shared feed a moment later.)
    let (_, feed) = server.get(&claire, &format!("/v1/changes?since={cursor}&wait=5"));
    assert_eq!(feed["reset"], false);
    assert_eq!(feed["documents"][0]["id"], id.to_string(), "{feed}");
    assert_eq!(server.sync(&claire, id, &mut desk), ReplyStatus::Ok);
    assert_eq!(desk.get_heads(), laptop.get_heads());
    change(&mut desk, "lille", "vu");
    assert_eq!(server.sync(&claire, id, &mut desk), ReplyStatus::Refused);

    // Write: the same change is now accepted, and reaches the owner.
    let (status, body) = server.share(&owner, id, "org:lille", "write");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rules"],
        json!([{"subject": "org:lille", "access": "write"}])
    );
    let (_, seen) = server.get(&claire, &format!("/v1/docs/{id}/access"));
    assert_eq!(seen["your_access"], "write");
    assert_eq!(server.sync(&claire, id, &mut desk), ReplyStatus::Ok);
    assert_eq!(server.sync(&owner, id, &mut laptop), ReplyStatus::Ok);
    assert_eq!(
        laptop
            .get(automerge::ROOT, "lille")
            .unwrap()
            .unwrap()
            .0
            .as_str(),
        Some("vu")
    );
    let (_, history) = server.get(&claire, &format!("/v1/docs/{id}/history"));
    let users: Vec<&str> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["samira", "claire"]);

    // None: the rule is gone, and with it every access.
    let (status, body) = server.share(&owner, id, "org:lille", "none");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rules"], json!([]));
    let mut fresh = Automerge::new();
    assert_eq!(
        server.sync(&claire, id, &mut fresh),
        ReplyStatus::Unavailable
    );
    assert_eq!(
        server.get(&claire, &format!("/v1/docs/{id}/history")).0,
        404
    );
}

#[test]
fn none_for_someone_with_access_by_default_records_a_denial() {
    let server = Server::start();
    let owner = server.user("samira", "oujda", "admin");
    let karim = server.user("karim", "oujda", "editor");
    let id = DocumentId::random();
    let mut doc = Automerge::new();
    change(&mut doc, "title", "Journal de terrain");
    assert_eq!(server.sync(&owner, id, &mut doc), ReplyStatus::Ok);
    let mut his = Automerge::new();
    assert_eq!(server.sync(&karim, id, &mut his), ReplyStatus::Ok);

    // Karim is in the owner organisation: removing a rule would leave him his access.
    let (status, body) = server.share(&owner, id, "user:karim", "none");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rules"],
        json!([{"subject": "user:karim", "access": "none"}])
    );
    let mut again = Automerge::new();
    assert_eq!(
        server.sync(&karim, id, &mut again),
        ReplyStatus::Unavailable
    );

    // Giving him read access replaces the denial.
    let (_, body) = server.share(&owner, id, "user:karim", "read");
    assert_eq!(
        body["rules"],
        json!([{"subject": "user:karim", "access": "read"}])
    );
    assert_eq!(server.sync(&karim, id, &mut again), ReplyStatus::Ok);
    // The owner's admins keep their access whatever the rules say.
    let (_, body) = server.share(&owner, id, "org:oujda", "none");
    assert_eq!(body["your_access"], "write");
}

/// An erasure reaches those who could read the document also when they first ask after a
/// restart (the feed in memory is gone, its cursor resets): the reset lists the document as
/// deleted for them, and for nobody else.
#[test]
fn an_erasure_is_told_to_its_readers_after_a_restart() {
    let mut server = Server::start();
    let owner = server.user("samira", "oujda", "admin");
    let partner = server.user("claire", "lille", "viewer");
    let outsider = server.user("omar", "berkane", "admin");
    let (erased, kept) = (DocumentId::random(), DocumentId::random());
    for (id, title) in [(erased, "Karim Benali"), (kept, "Plan d'action")] {
        let mut doc = Automerge::new();
        change(&mut doc, "title", title);
        assert_eq!(server.sync(&owner, id, &mut doc), ReplyStatus::Ok);
        assert_eq!(server.share(&owner, id, "org:lille", "read").0, 200);
    }
    // Before the erasure, the partner's first call lists both, neither deleted.
    let (_, before) = server.get(&partner, "/v1/changes");
    assert_eq!(before["reset"], true);
    assert!(
        before["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d.get("deleted").is_none())
    );
    let (status, body) = server.delete(&owner, &format!("/v1/docs/{erased}"));
    assert_eq!(status, 200, "{body}");
    server.kill_and_restart();

    let listed = |token: &str| -> Vec<(String, bool)> {
        let (status, body) = server.get(token, "/v1/changes");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["reset"], true, "{body}");
        let mut listed: Vec<(String, bool)> = body["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["id"].as_str().unwrap().to_owned(),
                    d["deleted"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        listed.sort();
        listed
    };
    let mut expected = vec![(erased.to_string(), true), (kept.to_string(), false)];
    expected.sort();
    assert_eq!(listed(&owner), expected);
    assert_eq!(listed(&partner), expected);
    // Someone who could never read it learns nothing of it.
    assert!(listed(&outsider).is_empty());
    // And the id stays refused.
    let mut again = Automerge::new();
    change(&mut again, "title", "Karim Benali");
    assert_eq!(
        server.sync(&owner, erased, &mut again),
        ReplyStatus::Unavailable
    );
}

/// A graceful restart keeps the changes feed: a client's cursor from before it still works
/// (no full comparison), and lists what changed since. A crash does not: the next answer is a
/// reset, as a feed that may lack its last entries must not be trusted.
#[test]
fn the_changes_feed_survives_a_graceful_restart_and_resets_after_a_crash() {
    let mut server = Server::start();
    let owner = server.user("samira", "oujda", "admin");
    let (a, b) = (DocumentId::random(), DocumentId::random());
    let (_, start) = server.get(&owner, "/v1/changes");
    let mut doc_a = Automerge::new();
    change(&mut doc_a, "title", "Mission à Lille");
    assert_eq!(server.sync(&owner, a, &mut doc_a), ReplyStatus::Ok);
    // Until the feed lists A (on PostgreSQL its entry comes back from the shared feed).
    let start = start["cursor"].as_str().unwrap().to_owned();
    server.get(&owner, &format!("/v1/changes?since={start}&wait=5"));
    let (_, first) = server.get(&owner, "/v1/changes");
    assert_eq!(first["reset"], true);
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    // B is created after the cursor; then a graceful restart.
    let mut doc_b = Automerge::new();
    change(&mut doc_b, "title", "Journal");
    assert_eq!(server.sync(&owner, b, &mut doc_b), ReplyStatus::Ok);
    server.stop_and_restart();
    let (status, after) = server.get(&owner, &format!("/v1/changes?since={cursor}"));
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["reset"], false, "{after}");
    let listed: Vec<&str> = after["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![b.to_string()]);
    assert_eq!(
        after["documents"][0]["heads"][0],
        doc_b.get_heads()[0].to_string()
    );
    // A change after the restart moves the same feed on.
    let resumed = after["cursor"].as_str().unwrap().to_owned();
    change(&mut doc_a, "lieu", "Oujda");
    assert_eq!(server.sync(&owner, a, &mut doc_a), ReplyStatus::Ok);
    let (_, moved) = server.get(&owner, &format!("/v1/changes?since={resumed}&wait=5"));
    assert_eq!(moved["reset"], false, "{moved}");
    assert_eq!(moved["documents"][0]["id"], a.to_string());

    // A crash: the saved feed was consumed at start, so the next start draws a new epoch.
    let latest = moved["cursor"].as_str().unwrap().to_owned();
    server.kill_and_restart();
    let (_, crashed) = server.get(&owner, &format!("/v1/changes?since={latest}"));
    assert_eq!(crashed["reset"], true, "{crashed}");
    assert_eq!(crashed["documents"].as_array().unwrap().len(), 2);

    // An admin command on the stopped server's store may change who sees what without the
    // feed hearing of it: the saved feed is discarded, and the next answer is a reset.
    let (_, now) = server.get(&owner, "/v1/changes");
    let before_admin = now["cursor"].as_str().unwrap().to_owned();
    server.stop_then(|data| {
        let output = common::run(
            &[
                "user", "add", "claire", "--org", "lille", "--role", "viewer",
            ],
            data,
        );
        assert!(output.status.success(), "{}", common::stderr(&output));
    });
    let (_, after_admin) = server.get(&owner, &format!("/v1/changes?since={before_admin}"));
    if common::on_postgres() {
        // On PostgreSQL the feed lives in the database, shared by every instance, and admin
        // commands run there beside running servers, which read users, tokens and rules
        // at each request: a graceful restart keeps the feed and its cursors.
        assert_eq!(after_admin["reset"], false, "{after_admin}");
    } else {
        assert_eq!(after_admin["reset"], true, "{after_admin}");
    }
}

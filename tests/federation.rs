//! Issue 10: two servers (Oujda, Lille) replicate each other, with clients of the real CLI
//! on each, and the link between the servers through the [`Proxy`].
//!
//! Oujda dials Lille (`passerelle-server peer add`) with a token Lille issued to its user
//! `oujda-link` (organisation `oujda` there, role `peer`: it may say who made the changes it
//! delivers), and offers what its local user `lille-link` (organisation `oujda` here) may
//! read. So: Lille documents shared with `oujda` come to
//! Oujda; Oujda's `oujda` documents go to Lille; a Lille document not shared with `oujda`,
//! and an Oujda document of another organisation, never cross.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ROOT};
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, DocumentDelta};
use passerelle_server::federation::claims::{AuthorClaim, DocumentAuthors, SyncRequestWithAuthors};
use passerelle_tests::{CliReplica, Fault, LinkSettings, Proxy, Role, TestServer};
use serde_json::{Value, json};

/// How long replication may take before a test gives up (passes are immediate on a clean
/// link; the long poll answers as soon as something changes).
const DEADLINE: Duration = Duration::from_secs(60);

struct Cities {
    oujda: TestServer,
    lille: TestServer,
    /// Oujda → Lille, the international link.
    link: Proxy,
    /// `youssef` (oujda) on the Oujda server.
    youssef: CliReplica,
    /// `amina` (lille, admin) on the Lille server.
    amina: CliReplica,
    /// `hamid` (oujda) on the Lille server: sees there what Oujda sent.
    hamid: CliReplica,
    dir: tempfile::TempDir,
}

impl Cities {
    fn start() -> Cities {
        let oujda = TestServer::start();
        let lille = TestServer::start();
        let dir = tempfile::tempdir().unwrap();
        let replica = |name: &str, server: &TestServer, token: &str| {
            let replica = CliReplica::new(dir.path().join(name));
            replica.init(&server.url, token);
            replica
        };
        let amina_token = lille.add_user("amina", "lille", Role::Admin);
        let hamid_token = lille.add_user("hamid", "oujda", Role::Editor);
        let link_token = lille.add_user("oujda-link", "oujda", Role::Peer);
        let youssef_token = oujda.add_user("youssef", "oujda", Role::Editor);
        oujda.add_user("lille-link", "oujda", Role::Editor);
        let link = Proxy::start(lille.address, LinkSettings::clean(), 10);
        let out = oujda.admin(&[
            "peer",
            "add",
            &link.url(),
            "--token",
            &link_token,
            "--name",
            "lille",
            "--offer",
            "lille-link",
        ]);
        assert!(out.status.success(), "{out:?}");
        let youssef = replica("youssef", &oujda, &youssef_token);
        let amina = replica("amina", &lille, &amina_token);
        let hamid = replica("hamid", &lille, &hamid_token);
        Cities {
            oujda,
            lille,
            link,
            youssef,
            amina,
            hamid,
            dir,
        }
    }

    /// A new document made by `replica`, synced to its server; its id.
    fn new_document(&self, replica: &CliReplica, content: Value) -> String {
        let file = self.dir.path().join("new.json");
        std::fs::write(&file, content.to_string()).unwrap();
        let out = replica.run_ok(&["new", "--json", file.to_str().unwrap()]);
        replica.run_ok(&["sync"]);
        out.lines().last().unwrap().trim().to_owned()
    }
}

/// Syncs `replica` and shows `doc`, until `done` accepts it (or the deadline passes).
fn eventually(replica: &CliReplica, doc: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        replica.run_ok(&["sync"]);
        let out = replica.run(&["show", doc, "--json"]);
        if out.status.success() {
            let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
            if done(&shown) {
                return shown;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: not there after {DEADLINE:?} in {}",
            replica.home.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `replica` has `doc` after a sync.
fn has(replica: &CliReplica, doc: &str) -> bool {
    replica.run_ok(&["sync"]);
    replica.run(&["show", doc, "--json"]).status.success()
}

/// `passerelle_documents_stored` of a server's `/metrics`.
fn stored(server: &TestServer) -> u64 {
    let text = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("passerelle_documents_stored "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the metric is there")
}

/// The Oujda server's own report on its link to Lille (`DATA/peers-status.json`), once the
/// running process (`pid`) has written it.
fn link_status(server: &TestServer) -> Option<Value> {
    let text = std::fs::read_to_string(server.data_dir.join("peers-status.json")).ok()?;
    let status: Value = serde_json::from_str(&text).ok()?;
    if status["pid"].as_u64()? != u64::from(server.pid()?) {
        return None;
    }
    Some(status["peers"]["lille"].clone())
}

/// Waits until the Oujda server has finished a pass with Lille after `after` (an RFC 3339
/// time as the status writes it, or `None`) and has nothing behind.
fn wait_for_pass(server: &TestServer, after: Option<&str>) -> String {
    let start = Instant::now();
    loop {
        if let Some(status) = link_status(server)
            && let Some(last) = status["last_sync"].as_str()
            && after.is_none_or(|after| last > after)
            && status["behind"] == 0
            && status["connected"] == true
        {
            return last.to_owned();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no pass with the peer within {DEADLINE:?}: {:?}\n{}",
            link_status(server),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_cities_replicate_through_a_partition_and_share_only_what_they_offer() {
    let cities = Cities::start();
    let Cities {
        oujda,
        lille,
        link,
        youssef,
        amina,
        hamid,
        ..
    } = &cities;

    // Lille: one document shared with oujda, one not. Oujda: one oujda document, one of
    // another organisation.
    let shared = cities.new_document(amina, json!({"title": "Mission Lille → Oujda"}));
    amina.run_ok(&["share", &shared, "--org", "oujda", "--access", "write"]);
    let lille_only = cities.new_document(amina, json!({"title": "Budget interne Lille"}));
    let from_oujda = cities.new_document(youssef, json!({"title": "Journal Oujda"}));
    let rh_token = oujda.add_user("rh", "oujda-rh", Role::Editor);
    let rh = CliReplica::new(cities.dir.path().join("rh"));
    rh.init(&oujda.url, &rh_token);
    let oujda_only = cities.new_document(&rh, json!({"title": "Dossiers du personnel"}));

    // Both directions, to the clients of the other city.
    eventually(youssef, &shared, "Lille's shared document in Oujda", |d| {
        d["title"] == "Mission Lille → Oujda"
    });
    eventually(hamid, &from_oujda, "Oujda's document in Lille", |d| {
        d["title"] == "Journal Oujda"
    });
    youssef.run_ok(&["set", &shared, "oujda", "\"avant la coupure\""]);
    youssef.run_ok(&["sync"]);
    eventually(amina, &shared, "an Oujda edit in Lille", |d| {
        d["oujda"] == "avant la coupure"
    });
    // The running server rewrites the status file once a second: wait for it to say so.
    let start = Instant::now();
    let status = loop {
        let out = oujda.admin(&["peer", "status"]);
        let status = String::from_utf8_lossy(&out.stdout).into_owned();
        if status.contains("lille\t") && status.contains("\tconnected\t") {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "{status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!status.contains("last sync never"), "{status}");
    let list = String::from_utf8_lossy(&oujda.admin(&["peer", "list"]).stdout).into_owned();
    assert!(list.contains("offer lille-link"), "{list}");
    assert!(!list.contains("psl_"), "the token is never printed: {list}");

    // The partition: every connection through the link stalls and new ones are reset, while
    // people edit on both sides (with their own server, which works on).
    link.set_settings(LinkSettings::clean().cut(Fault::always(0..=0)));
    link.stall(Duration::from_secs(15));
    let cut_at = Instant::now();
    youssef.run_ok(&["set", &shared, "oujda", "\"pendant la coupure\""]);
    youssef.run_ok(&["set", &from_oujda, "lieu", "\"Oujda\""]);
    youssef.run_ok(&["sync"]);
    amina.run_ok(&["set", &shared, "lille", "\"pendant la coupure\""]);
    amina.run_ok(&["sync"]);
    hamid.run_ok(&["set", &from_oujda, "delegation", "\"Hamid\""]);
    hamid.run_ok(&["sync"]);
    std::thread::sleep(Duration::from_secs(2));
    amina.run_ok(&["sync"]);
    let during = amina.show_json(&shared);
    assert_eq!(
        during["oujda"], "avant la coupure",
        "the partition held: {during}"
    );
    assert!(
        cut_at.elapsed() < Duration::from_secs(15),
        "the partition was too short to tell"
    );
    // Heal (the stall ends on its own).
    link.set_settings(LinkSettings::clean());

    for doc in [&shared, &from_oujda] {
        let there = if *doc == shared { amina } else { hamid };
        let want = |d: &Value| {
            if *doc == shared {
                d["oujda"] == "pendant la coupure" && d["lille"] == "pendant la coupure"
            } else {
                d["lieu"] == "Oujda" && d["delegation"] == "Hamid"
            }
        };
        let here = eventually(youssef, doc, "convergence in Oujda", want);
        let across = eventually(there, doc, "convergence in Lille", want);
        assert_eq!(here, across, "every replica of {doc} converges");
    }
    // The replicas are the same document, byte for byte of content.
    assert_eq!(youssef.show_json(&shared), amina.show_json(&shared));

    // What was not offered or shared never crossed.
    assert!(!has(youssef, &lille_only));
    assert!(!has(hamid, &oujda_only));
    assert!(has(amina, &lille_only) && has(&rh, &oujda_only));
    assert_eq!(stored(lille), 3, "shared, lille_only and from_oujda");
    assert_eq!(stored(oujda), 3, "shared, from_oujda and oujda_only");

    // Authorship crossed with the changes: each side names who made the other side's
    // changes, with the server they work on (never the link accounts, and never as one of
    // its own users).
    let lille_side = |user: &str| (user.to_owned(), vec!["lille".to_owned()]);
    let oujda_side = |user: &str| (user.to_owned(), vec!["oujda-link".to_owned()]);
    let here = |user: &str| (user.to_owned(), Vec::new());
    assert_eq!(
        authors(youssef, &shared),
        [lille_side("amina"), here("youssef")].into(),
        "Oujda's history of Lille's document"
    );
    assert_eq!(
        authors(amina, &shared),
        [here("amina"), oujda_side("youssef")].into(),
        "Lille's history of the same document"
    );
    assert_eq!(
        authors(hamid, &from_oujda),
        [oujda_side("youssef"), here("hamid")].into(),
        "Lille's history of Oujda's document"
    );
    assert_eq!(
        authors(youssef, &from_oujda),
        [here("youssef"), lille_side("hamid")].into(),
        "Oujda's history of its own document"
    );
    // As people read it.
    let history = youssef.run_ok(&["history", &shared]);
    assert!(history.contains("amina (lille)"), "{history}");
    assert!(history.contains("from the peer server lille"), "{history}");
    assert!(!history.contains("lille-link"), "{history}");
}

/// Who made each change of `doc`, as the history (`passerelle history --json`) of
/// `replica`'s server tells it: (user, the servers it came through).
fn authors(replica: &CliReplica, doc: &str) -> BTreeSet<(String, Vec<String>)> {
    let history: Value =
        serde_json::from_str(&replica.run_ok(&["history", doc, "--json"])).expect("history --json");
    history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            let origin = change["origin"]
                .as_array()
                .map(|hops| {
                    hops.iter()
                        .map(|hop| hop.as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (change["user"].as_str().unwrap().to_owned(), origin)
        })
        .collect()
}

/// A batch-sync request creating a new document with one change, claiming that `user` (of
/// organisation `lille`) made it; the document's id and the answer's status.
fn post_with_claim(
    server: &TestServer,
    token: &str,
    user: &str,
) -> (DocumentId, reqwest::StatusCode) {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "title", format!("said to be {user}'s"))
        .unwrap();
    let id = DocumentId::random();
    let documents = [DocumentDelta {
        id: id.to_string(),
        heads: batch::to_wire(&doc.get_heads()),
        changes: doc.save(),
    }];
    let authors = [DocumentAuthors {
        id: id.to_string(),
        changes: doc
            .get_heads()
            .iter()
            .map(|hash| AuthorClaim {
                hash: hash.to_string(),
                user: user.to_owned(),
                org: "lille".to_owned(),
                origin: Vec::new(),
                time: "2026-11-29T10:00:00Z".to_owned(),
            })
            .collect(),
    }];
    let body = batch::encode(&SyncRequestWithAuthors {
        replica: "claims-test",
        documents: &documents,
        authors: &authors,
    });
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sync", server.url))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(body)
        .send()
        .unwrap();
    (id, response.status())
}

/// The (user, origin) of every change of `id` in the server's history, as `token` reads it;
/// `None` when the server has no such document.
fn server_history(
    server: &TestServer,
    token: &str,
    id: DocumentId,
) -> Option<Vec<(String, Value)>> {
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/v1/docs/{id}/history", server.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    let history: Value = response.json().unwrap();
    Some(
        history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["user"].as_str().unwrap().to_owned(), c["origin"].clone()))
            .collect(),
    )
}

#[test]
fn only_a_peer_account_may_say_who_made_the_changes_it_delivers() {
    let server = TestServer::start();
    let amina = server.add_user("amina", "lille", Role::Admin);
    let mallory = server.add_user("mallory", "lille", Role::Editor);
    let rabat = server.add_user("rabat", "lille", Role::Peer);

    // An editor's claims are ignored: the change is theirs.
    let (id, status) = post_with_claim(&server, &mallory, "amina");
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(
        server_history(&server, &amina, id).unwrap(),
        vec![("mallory".to_owned(), Value::Null)]
    );

    // A peer account's claims are taken, as a user of that peer: never as the local amina.
    let (id, status) = post_with_claim(&server, &rabat, "amina");
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(
        server_history(&server, &amina, id).unwrap(),
        vec![("amina".to_owned(), json!(["rabat"]))]
    );

    // A malformed claim (an empty name) refuses the whole request: nothing is stored.
    let (id, status) = post_with_claim(&server, &rabat, "");
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(server_history(&server, &amina, id), None);
}

#[test]
fn a_server_killed_mid_replication_resumes_without_sending_everything_again() {
    use rand::Rng as _;
    let mut cities = Cities::start();
    const DOCUMENTS: usize = 24;
    // A slow international link (12 KB/s): replication takes seconds.
    cities
        .link
        .set_settings(LinkSettings::clean().bits_per_second(96_000));
    let mut docs = Vec::new();
    for d in 0..DOCUMENTS {
        // 2 KB of incompressible notes per document, so a whole resend shows in the bytes.
        let notes: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(2_000)
            .map(char::from)
            .collect();
        let file = cities.dir.path().join(format!("doc{d}.json"));
        std::fs::write(
            &file,
            json!({"title": format!("journal {d}"), "notes": notes}).to_string(),
        )
        .unwrap();
        let out = cities
            .youssef
            .run_ok(&["new", "--json", file.to_str().unwrap()]);
        docs.push(out.lines().last().unwrap().trim().to_owned());
    }
    cities.youssef.run_ok(&["sync"]);
    // Killed while the documents are on their way to Lille.
    let start = Instant::now();
    while cities.link.stats().bytes_up < 8_000 {
        assert!(start.elapsed() < DEADLINE, "nothing left for Lille");
        std::thread::sleep(Duration::from_millis(20));
    }
    cities.oujda.kill();
    let at_kill = stored(&cities.lille);
    assert!(
        at_kill < DOCUMENTS as u64,
        "killed mid-replication ({at_kill} across)"
    );
    cities.oujda.restart_on_same_address();
    let start = Instant::now();
    while stored(&cities.lille) < DOCUMENTS as u64 {
        assert!(
            start.elapsed() < DEADLINE,
            "the restarted server did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for_pass(&cities.oujda, None);
    for doc in &docs {
        assert!(has(&cities.hamid, doc), "{doc} reached Lille");
    }
    let initial = cities.link.stats().bytes();

    // Killed again once everything is across: the next start resumes from the stored
    // cursors and peer heads, so nothing is sent again (a restart from zero would post
    // every document).
    cities.oujda.kill();
    let before = cities.link.stats();
    cities.oujda.restart_on_same_address();
    wait_for_pass(&cities.oujda, None);
    // An edit after the restart still crosses.
    cities
        .youssef
        .run_ok(&["set", &docs[0], "suite", "\"après le redémarrage\""]);
    cities.youssef.run_ok(&["sync"]);
    eventually(&cities.hamid, &docs[0], "an edit after the restart", |d| {
        d["suite"] == "après le redémarrage"
    });
    let after = cities.link.stats().since(&before).bytes();
    eprintln!(
        "bytes over the link: {initial} for {DOCUMENTS} documents (killed once with {at_kill} \
         across), {after} after a restart and one edit"
    );
    assert!(
        initial > 48_000 && after * 4 < initial,
        "a restart resumes: {after} bytes after it, {initial} for the documents"
    );
}

//! `backup` and `restore` end to end, with the real binary on real sled directories: a stopped
//! store restores key for key; a running server sends its backup through the admin endpoint,
//! also while clients write to it.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use automerge::transaction::Transactable as _;
use automerge::{Automerge, ChangeHash};
use common::{BINARY, run, stderr, stdout};
use passerelle_core::DocumentId;
use passerelle_core::batch::{self, DocumentDelta, ReplyStatus, SyncRequest, SyncResponse};
use passerelle_server::admin::ServerFile;
use passerelle_server::auth::{
    Access, AuthStore, OrgName, Principal, Role, Rule, Subject, TokenRef, UserName,
};
use passerelle_server::backup::{self, Progress};
use passerelle_store::{Batch, DocStore, SledStorage, Storage, StorageKey};

fn succeeded(output: &Output) -> anyhow::Result<String> {
    ensure!(
        output.status.success(),
        "command failed ({}):\n{}\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    Ok(stdout(output))
}

fn user(name: &str) -> UserName {
    UserName::new(name).unwrap()
}

fn org(name: &str) -> OrgName {
    OrgName::new(name).unwrap()
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// Every key and value of the store.
fn full_scan(storage: &dyn Storage) -> BTreeMap<StorageKey, Vec<u8>> {
    storage
        .scan_prefix(&StorageKey::root())
        .unwrap()
        .into_iter()
        .collect()
}

/// What [`populate`] wrote, to check a restore against.
struct Fixture {
    /// Tokens that sign in, and as whom.
    active: Vec<(String, Principal)>,
    /// A revoked token.
    revoked: String,
    /// Documents with chunks, and their heads.
    documents: Vec<(DocumentId, Vec<ChangeHash>)>,
}

/// A store with every kind of record: users, tokens (one revoked), documents with snapshots
/// and incrementals (one compacted), metadata, access lists with a sharing rule, an access
/// list without a document, a document without an access list, authorship records, and the
/// server's storage id.
fn populate(storage: Arc<SledStorage>) -> Fixture {
    let auth = AuthStore::new(storage.clone());
    // Compact after 3 chunks, so the busy document ends as a snapshot and incrementals.
    let docs = DocStore::new(storage.clone()).with_max_chunks(3);
    let amina = auth
        .add_user(&user("amina"), &org("ville-de-lille"), Role::Admin)
        .unwrap()
        .unwrap();
    let youssef = auth
        .add_user(&user("youssef"), &org("commune-oujda"), Role::Editor)
        .unwrap()
        .unwrap();
    let second = auth.create_token(&user("youssef")).unwrap().unwrap();
    auth.revoke_token(&TokenRef::Id(youssef.token.info.id.clone()))
        .unwrap()
        .unwrap();
    let amina_p = amina.user.principal();
    let youssef_p = youssef.user.principal();

    let mut documents = Vec::new();
    // A busy document: five appends, compacted on the way.
    let busy = DocumentId::random();
    auth.create_document(&busy, &amina_p).unwrap().unwrap();
    let mut doc = Automerge::new();
    for i in 0..5 {
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, format!("field-{i}"), i64::from(i))
            .unwrap();
        tx.commit();
        docs.append(&busy, &doc.save_after(&before)).unwrap();
        let by = if i % 2 == 0 { &amina_p } else { &youssef_p };
        auth.record_changes(&busy, doc.get_heads(), by, 1_700_000_000_000 + i as u64)
            .unwrap();
    }
    documents.push((busy, sorted(doc.get_heads())));
    // A shared document with metadata.
    let shared = DocumentId::random();
    auth.create_document(&shared, &amina_p).unwrap().unwrap();
    auth.set_rule(
        &shared,
        &amina_p,
        Rule {
            subject: Subject::Org(org("commune-oujda")),
            access: Access::Write,
        },
    )
    .unwrap()
    .unwrap();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "titre", "Programme Lille–Oujda 2026")
        .unwrap();
    tx.commit();
    docs.append(&shared, &doc.save()).unwrap();
    docs.put_meta(&shared, "title", b"Programme").unwrap();
    let hashes: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    auth.record_changes(&shared, hashes, &amina_p, 1_700_000_100_000)
        .unwrap();
    documents.push((shared, sorted(doc.get_heads())));
    // A document stored without an access list.
    let bare = DocumentId::random();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "n", 1).unwrap();
    tx.commit();
    docs.append(&bare, &doc.save()).unwrap();
    documents.push((bare, sorted(doc.get_heads())));
    // An access list whose document has no content yet.
    auth.create_document(&DocumentId::random(), &youssef_p)
        .unwrap()
        .unwrap();
    // The storage id a server writes at its first start.
    let mut batch = Batch::new();
    batch.put(
        StorageKey::try_new(["server", "storage-id"]).unwrap(),
        b"4b0c5c4e-6a53-4d43-9d0b-6f3f0f0f0f0f".to_vec(),
    );
    storage.apply(batch).unwrap();

    Fixture {
        active: vec![
            (amina.token.token.expose_secret().to_owned(), amina_p),
            (second.token.expose_secret().to_owned(), youssef_p),
        ],
        revoked: youssef.token.token.expose_secret().to_owned(),
        documents,
    }
}

/// Checks the restored store: documents load with these heads, tokens sign in as before.
fn check_restored(restored: Arc<SledStorage>, fixture: &Fixture) -> anyhow::Result<()> {
    let docs = DocStore::new(restored.clone());
    for (id, heads) in &fixture.documents {
        let bytes = docs.load(id)?.context("a document is missing")?;
        let loaded = Automerge::load(&bytes)?;
        ensure!(&sorted(loaded.get_heads()) == heads, "{id} has other heads");
    }
    let auth = AuthStore::new(restored);
    for (token, principal) in &fixture.active {
        ensure!(
            auth.check_token(token)?.as_ref() == Some(principal),
            "a token no longer signs in as {}",
            principal.user
        );
    }
    ensure!(
        auth.check_token(&fixture.revoked)?.is_none(),
        "a revoked token signs in"
    );
    Ok(())
}

#[test]
fn a_stopped_store_restores_key_for_key() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "a_stopped_store_restores_key_for_key",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source");
    let fixture = populate(Arc::new(SledStorage::open(&source)?));
    // `populate` dropped the store: the command opens it itself.

    let file = dir.path().join("passerelle.pslbak");
    let out = succeeded(&run(&["backup", "--to", file.to_str().unwrap()], &source))?;
    ensure!(
        out.contains(&format!("backup written to {}", file.display())),
        "{out}"
    );
    ensure!(out.contains("documents: 3 ("), "{out}");
    ensure!(
        out.contains("3 access lists, 6 authorship records"),
        "{out}"
    );
    ensure!(out.contains("users: 2 (3 tokens)"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&file)?.permissions().mode();
        ensure!(mode & 0o777 == 0o600, "the backup's mode is {mode:o}");
    }

    let restored = dir.path().join("restored");
    let out = succeeded(&run(
        &["restore", "--from", file.to_str().unwrap()],
        &restored,
    ))?;
    ensure!(out.contains("documents: 3 (3 loaded;"), "{out}");
    ensure!(out.contains("checked"), "{out}");

    let source = SledStorage::open(&source)?;
    let restored = Arc::new(SledStorage::open(&restored)?);
    let expected = full_scan(&source);
    let actual = full_scan(restored.as_ref());
    ensure!(
        expected.len() > 20,
        "the fixture is too small: {}",
        expected.len()
    );
    ensure!(
        actual == expected,
        "the restored store differs: {} keys, expected {}; missing {:?}",
        actual.len(),
        expected.len(),
        expected
            .keys()
            .filter(|k| !actual.contains_key(*k))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    check_restored(restored, &fixture)?;

    // The same backup, written by the library, holds the same records.
    let again = dir.path().join("again.pslbak");
    let summary = backup::backup_to_file(&source, &again, Progress::Quiet)?;
    let verified = backup::verify_backup(&file)?;
    ensure!(summary.counts == verified.counts);
    ensure!(summary.counts.records == expected.len() as u64);
    Ok(())
}

// ---- through a running server ----------------------------------------------------------

/// A `serve` child, killed if the test fails before stopping it.
struct Server {
    child: Option<Child>,
    log: PathBuf,
    file: ServerFile,
}

impl Server {
    fn start(data: &Path, log: PathBuf) -> anyhow::Result<Self> {
        let mut child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env_remove("PASSERELLE_DATA")
            .env_remove("PASSERELLE_LISTEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let file = loop {
            if let Some(file) = ServerFile::read(data)? {
                break file;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the server exited early ({status}): {}",
                    fs::read_to_string(&log)?
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("no server.json after 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(Self {
            child: Some(child),
            log,
            file,
        })
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("stopped")?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        ensure!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                ensure!(status.success(), "exit status {status}: {}", self.log());
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the server did not stop within 20 s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `doc` whole to the server with `POST /v1/sync`; returns the server's heads.
fn push(
    address: std::net::SocketAddr,
    token: &str,
    id: DocumentId,
    doc: &Automerge,
) -> anyhow::Result<Vec<ChangeHash>> {
    let request = SyncRequest {
        replica: "peer-backup-test".into(),
        documents: vec![DocumentDelta {
            id: id.to_string(),
            heads: batch::to_wire(&doc.get_heads()),
            changes: doc.save(),
        }],
    };
    let response = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(format!("http://{address}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(batch::encode(&request))
        .send()?;
    ensure!(response.status() == 200, "sync: {}", response.status());
    let response: SyncResponse = batch::decode(&response.bytes()?)?;
    let reply = &response.documents[0];
    ensure!(reply.status == ReplyStatus::Ok, "sync: {reply:?}");
    Ok(sorted(batch::from_wire(&reply.heads)))
}

#[test]
fn a_running_server_sends_its_backup_and_it_restores_elsewhere() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "a_running_server_sends_its_backup_and_it_restores_elsewhere",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mut fixture = populate(Arc::new(SledStorage::open(&data)?));
    let server = Server::start(&data, dir.path().join("server.log"))?;
    let address = server.file.address;

    // A document written through the server, and a user added through it.
    let id = DocumentId::random();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "lieu", "Oujda").unwrap();
    tx.commit();
    let heads = push(address, &fixture.active[0].0, id, &doc)?;
    ensure!(heads == sorted(doc.get_heads()));
    fixture.documents.push((id, heads));
    let added = succeeded(&run(
        &[
            "user",
            "add",
            "karim",
            "--org",
            "commune-oujda",
            "--role",
            "viewer",
        ],
        &data,
    ))?;
    let karim = added.lines().last().context("no token")?.to_owned();
    fixture.active.push((
        karim,
        Principal {
            user: user("karim"),
            org: org("commune-oujda"),
            role: Role::Viewer,
        },
    ));

    // The store is the server's: the command goes through it.
    let file = dir.path().join("running.pslbak");
    let out = succeeded(&run(&["backup", "--to", file.to_str().unwrap()], &data))?;
    ensure!(
        out.contains("the running server holds the data directory; it sent the backup"),
        "{out}"
    );
    ensure!(out.contains("documents: 4 ("), "{out}");
    ensure!(out.contains("users: 3 (4 tokens)"), "{out}");
    ensure!(
        server.log().contains("admin: sent a backup"),
        "{}",
        server.log()
    );

    // A second backup to the same name is refused before the server does anything.
    let refused = run(&["backup", "--to", file.to_str().unwrap()], &data);
    ensure!(!refused.status.success());
    ensure!(
        stderr(&refused).contains("already exists"),
        "{}",
        stderr(&refused)
    );

    // Restored elsewhere while the server still runs.
    let restored = dir.path().join("restored");
    let out = succeeded(&run(
        &["restore", "--from", file.to_str().unwrap()],
        &restored,
    ))?;
    ensure!(out.contains("documents: 4 (4 loaded;"), "{out}");
    server.stop()?;

    let restored = Arc::new(SledStorage::open(&restored)?);
    check_restored(restored.clone(), &fixture)?;
    // Everything restored is what the source holds. The source may hold more authorship
    // records: the server records a change's author just after storing it.
    let source = full_scan(&SledStorage::open(&data)?);
    let copy = full_scan(restored.as_ref());
    for (key, value) in &copy {
        ensure!(
            source.get(key) == Some(value),
            "{key} differs from the source"
        );
    }
    // The source also holds the changes feed its graceful shutdown saved, which no backup
    // carries (a restored server starts a feed of its own).
    for key in source.keys().filter(|k| !copy.contains_key(*k)) {
        ensure!(
            key.components()[0] == "authorship" || key.components() == ["server", "feed"],
            "{key} was not backed up"
        );
    }
    Ok(())
}

#[test]
fn backups_taken_while_clients_write_restore_documents_that_load() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "backups_taken_while_clients_write_restore_documents_that_load",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let fixture = populate(Arc::new(SledStorage::open(&data)?));
    let server = Server::start(&data, dir.path().join("server.log"))?;
    let address = server.file.address;
    let token = fixture.active[0].0.clone();

    // A writer appends to a few documents without pause: the server compacts each of them
    // every ten or so chunks, while the backups read them.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> anyhow::Result<Vec<(DocumentId, Automerge)>> {
            let mut docs: Vec<(DocumentId, Automerge)> = (0..3)
                .map(|_| (DocumentId::random(), Automerge::new()))
                .collect();
            let mut round = 0i64;
            while !stop.load(Ordering::Relaxed) || round < 30 {
                for (id, doc) in &mut docs {
                    let mut tx = doc.transaction();
                    tx.put(automerge::ROOT, format!("k{}", round % 7), round)
                        .unwrap();
                    tx.commit();
                    push(address, &token, *id, doc)?;
                }
                round += 1;
            }
            Ok(docs)
        })
    };
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        let file = dir.path().join(format!("busy-{i}.pslbak"));
        succeeded(&run(&["backup", "--to", file.to_str().unwrap()], &data))?;
        // `restore` loads every document and fails if one does not load.
        let summary = backup::restore(
            &dir.path().join(format!("restored-{i}")),
            &file,
            Progress::Quiet,
        )?;
        ensure!(summary.documents_loaded >= 3, "{summary:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("the writer panicked")?;
    server.stop()?;

    // A backup of the stopped store holds the final state of every document.
    let file = dir.path().join("final.pslbak");
    succeeded(&run(&["backup", "--to", file.to_str().unwrap()], &data))?;
    let restored = dir.path().join("restored-final");
    backup::restore(&restored, &file, Progress::Quiet)?;
    let docs = DocStore::new(Arc::new(SledStorage::open(&restored)?));
    for (id, doc) in &written {
        let loaded = Automerge::load(&docs.load(id)?.context("missing")?)?;
        ensure!(sorted(loaded.get_heads()) == sorted(doc.get_heads()));
    }
    Ok(())
}

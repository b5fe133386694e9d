//! Backups that must not be restored (damaged, truncated, not backups, incomplete transfers)
//! and data directories that must not be restored into (not empty, in use): each is refused
//! with a message that says why, and nothing is written.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::ensure;
use automerge::Automerge;
use automerge::transaction::Transactable as _;
use common::{run, stderr};
use passerelle_core::DocumentId;
use passerelle_server::admin::{AdminSecret, ServerFile};
use passerelle_server::auth::{AuthStore, OrgName, Role, UserName};
use passerelle_server::backup::{
    self, BackupError, BackupFileError, Progress, ReadBackupError, RestoreError,
};
use passerelle_store::{DocStore, MemoryStorage, SledStorage};

/// A small, sound backup (a user and a document) in `dir`; its path and bytes.
fn small_backup(dir: &Path) -> (PathBuf, Vec<u8>) {
    let storage = Arc::new(MemoryStorage::new());
    let auth = AuthStore::new(storage.clone());
    let amina = auth
        .add_user(
            &UserName::new("amina").unwrap(),
            &OrgName::new("ville-de-lille").unwrap(),
            Role::Admin,
        )
        .unwrap()
        .unwrap();
    let id = DocumentId::random();
    auth.create_document(&id, &amina.user.principal())
        .unwrap()
        .unwrap();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "titre", "réunion").unwrap();
    tx.commit();
    DocStore::new(storage.clone())
        .append(&id, &doc.save())
        .unwrap();
    let path = dir.join("small.pslbak");
    backup::backup_to_file(storage.as_ref(), &path, Progress::Quiet).unwrap();
    let bytes = fs::read(&path).unwrap();
    (path, bytes)
}

fn problem(error: ReadBackupError) -> BackupFileError {
    match error {
        ReadBackupError::Invalid { problem, .. } => problem,
        other => panic!("expected an invalid backup, got {other}"),
    }
}

#[test]
fn every_flipped_byte_and_every_truncation_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = small_backup(dir.path());
    let damaged = dir.path().join("damaged.pslbak");
    for at in 0..bytes.len() {
        let mut copy = bytes.clone();
        copy[at] ^= 0x20;
        fs::write(&damaged, &copy).unwrap();
        let error = backup::verify_backup(&damaged).expect_err(&format!("byte {at} flipped"));
        problem(error);
    }
    for len in 0..bytes.len() {
        fs::write(&damaged, &bytes[..len]).unwrap();
        let error = backup::verify_backup(&damaged).expect_err(&format!("cut at {len}"));
        let problem = problem(error);
        assert!(
            matches!(
                problem,
                BackupFileError::NotABackup
                    | BackupFileError::Truncated { .. }
                    | BackupFileError::Damaged { .. }
            ),
            "cut at {len}: {problem}"
        );
    }
    // A byte too many is refused too.
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&damaged, &longer).unwrap();
    assert!(matches!(
        problem(backup::verify_backup(&damaged).unwrap_err()),
        BackupFileError::Damaged { .. }
    ));
}

#[test]
fn restore_refuses_a_damaged_or_truncated_backup_and_writes_nothing() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "restore_refuses_a_damaged_or_truncated_backup_and_writes_nothing",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (path, bytes) = small_backup(dir.path());

    // A flipped byte in the middle of the records: the checksum catches it.
    let flipped = dir.path().join("flipped.pslbak");
    let mut copy = bytes.clone();
    let middle = copy.len() / 2;
    copy[middle] ^= 0x01;
    fs::write(&flipped, &copy)?;
    let target = dir.path().join("target-1");
    let output = run(&["restore", "--from", flipped.to_str().unwrap()], &target);
    ensure!(!output.status.success());
    let message = stderr(&output);
    ensure!(
        message.contains("cannot be restored")
            && (message.contains("checksum does not match") || message.contains("damaged"))
            && message.contains("nothing was written"),
        "{message}"
    );
    ensure!(
        !target.exists(),
        "the refused restore created {}",
        target.display()
    );

    // A truncated copy (an interrupted transfer), into an existing empty directory.
    let truncated = dir.path().join("truncated.pslbak");
    fs::write(&truncated, &bytes[..bytes.len() - 40])?;
    let target = dir.path().join("target-2");
    fs::create_dir(&target)?;
    let output = run(&["restore", "--from", truncated.to_str().unwrap()], &target);
    ensure!(!output.status.success());
    let message = stderr(&output);
    ensure!(
        message.contains("truncated") && message.contains("nothing was written"),
        "{message}"
    );
    ensure!(
        fs::read_dir(&target)?.next().is_none(),
        "the refused restore wrote into {}",
        target.display()
    );

    // Not a backup at all, and a backup from the future.
    fs::write(&truncated, b"{\"documents\": []}")?;
    let error = backup::restore(&target, &truncated, Progress::Quiet).unwrap_err();
    ensure!(
        error.to_string().contains("not a passerelle backup"),
        "{error}"
    );
    let mut future = bytes.clone();
    future[7] = 2;
    fs::write(&truncated, &future)?;
    let error = backup::restore(&target, &truncated, Progress::Quiet).unwrap_err();
    ensure!(
        error.to_string().contains("backup format 2, newer"),
        "{error}"
    );
    ensure!(fs::read_dir(&target)?.next().is_none());

    // The sound backup restores there.
    let summary = backup::restore(&target, &path, Progress::Quiet)?;
    ensure!(summary.documents_loaded == 1 && summary.verified.counts.users == 1);
    Ok(())
}

#[test]
fn restore_refuses_a_directory_that_holds_data_or_a_running_server() -> anyhow::Result<()> {
    if common::skip_on_postgres(
        "restore_refuses_a_directory_that_holds_data_or_a_running_server",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (path, _) = small_backup(dir.path());

    // A directory with something in it.
    let full = dir.path().join("full");
    fs::create_dir(&full)?;
    fs::write(full.join("notes.txt"), "keep me")?;
    let output = run(&["restore", "--from", path.to_str().unwrap()], &full);
    ensure!(!output.status.success());
    ensure!(
        stderr(&output).contains("is not empty"),
        "{}",
        stderr(&output)
    );
    ensure!(fs::read_to_string(full.join("notes.txt"))? == "keep me");
    ensure!(fs::read_dir(&full)?.count() == 1);

    // An existing store, even with the server stopped.
    let stopped = dir.path().join("stopped");
    drop(SledStorage::open(&stopped)?);
    let error = backup::restore(&stopped, &path, Progress::Quiet).unwrap_err();
    ensure!(matches!(error, RestoreError::NotEmpty { .. }), "{error}");

    // A store a server holds and has published its address for (this test process holds
    // it, as `serve` would).
    let running = dir.path().join("running");
    let held = SledStorage::open(&running)?;
    let address = "127.0.0.1:7780".parse()?;
    ServerFile {
        address,
        admin_secret: AdminSecret::generate(),
        pid: 4242,
    }
    .write(&running)?;
    let before: Vec<_> = fs::read_dir(&running)?
        .map(|e| e.unwrap().file_name())
        .collect();
    let output = run(&["restore", "--from", path.to_str().unwrap()], &running);
    ensure!(!output.status.success());
    let message = stderr(&output);
    ensure!(
        message.contains("a server is running on")
            && message.contains("pid 4242")
            && message.contains("stop the server"),
        "{message}"
    );
    let after: Vec<_> = fs::read_dir(&running)?
        .map(|e| e.unwrap().file_name())
        .collect();
    ensure!(before == after);
    drop(held);
    Ok(())
}

/// A reader that yields some bytes, then fails as a broken connection does.
struct Broken<'a> {
    bytes: &'a [u8],
}

impl std::io::Read for Broken<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            ));
        }
        let n = buf.len().min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn an_incomplete_transfer_from_a_server_leaves_no_file() {
    if common::skip_on_postgres(
        "an_incomplete_transfer_from_a_server_leaves_no_file",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = small_backup(dir.path());

    // The server's response ends early (it failed half way): the check of the file fails.
    let path = dir.path().join("ended.pslbak");
    let file = backup::create_backup_file(&path).unwrap();
    let mut half = &bytes[..bytes.len() / 2];
    let error = backup::receive_backup(&mut half, file, &path, Progress::Quiet).unwrap_err();
    assert!(matches!(error, BackupError::Incomplete { .. }), "{error}");
    assert!(error.to_string().contains("truncated"), "{error}");
    assert!(!path.exists());

    // The connection breaks.
    let path = dir.path().join("broken.pslbak");
    let file = backup::create_backup_file(&path).unwrap();
    let mut broken = Broken {
        bytes: &bytes[..100],
    };
    let error = backup::receive_backup(&mut broken, file, &path, Progress::Quiet).unwrap_err();
    assert!(error.to_string().contains("connection reset"), "{error}");
    assert!(!path.exists());

    // The whole of it is a backup.
    let path = dir.path().join("whole.pslbak");
    let file = backup::create_backup_file(&path).unwrap();
    let summary = backup::receive_backup(&mut &bytes[..], file, &path, Progress::Quiet).unwrap();
    assert_eq!(summary.file_bytes, bytes.len() as u64);
    assert_eq!(summary.counts.documents, 1);
}

#[test]
fn a_backup_goes_only_to_a_new_file_outside_the_data_directory() {
    if common::skip_on_postgres(
        "a_backup_goes_only_to_a_new_file_outside_the_data_directory",
        "it is about backups and restores of sled data directories (PostgreSQL's: cli_admin::admin_commands_on_postgres_run_beside_a_running_server)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(SledStorage::open(&data).unwrap());
    let inside = backup::backup_target(&data, &data.join("backup.pslbak")).unwrap_err();
    assert!(
        matches!(inside, BackupError::InsideDataDirectory { .. }),
        "{inside}"
    );
    let taken = dir.path().join("taken.pslbak");
    fs::write(&taken, "an older backup").unwrap();
    let exists = backup::backup_target(&data, &taken).unwrap_err();
    assert!(
        matches!(exists, BackupError::TargetExists { .. }),
        "{exists}"
    );
    let output = run(&["backup", "--to", taken.to_str().unwrap()], &data);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("never overwrites"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_to_string(&taken).unwrap(), "an older backup");
    let relative = backup::backup_target(&data, Path::new("relative.pslbak")).unwrap();
    assert!(relative.is_absolute());
}

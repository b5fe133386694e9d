//! `passerelle-server check`: reads every stored record and loads every document, so that an
//! operator learns of damage (a torn write, a bad disk) from a command rather than from a
//! user.
//!
//! It opens the store as `serve` does (sled recovers its log the same way, so what `check`
//! sees is what a server started on the directory would serve), then:
//! 1. reads every record, as a backup would (into nothing): each value's CRC32 frame is
//!    checked; the first damaged record is named;
//! 2. loads every listed document: each chunk's SHA-256 against its key, then the chunks as
//!    one Automerge document; every document that fails is named, with why.
//!
//! Damage of either kind, or a store that does not open, is a non-zero exit. The store must
//! not be in use: a running server holds it (stop it first).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use passerelle_store::{DocStore, SledOptions, SledStorage, Storage, StorageError};

use crate::backend::StoreBackend;

use crate::admin::ServerFile;
use crate::backup::{self, Progress};

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Records read, when every one of them read back sound.
    pub records: Option<u64>,
    /// The first damaged record, when one is: what the store said.
    pub damaged_record: Option<String>,
    /// Documents listed in the store.
    pub documents: usize,
    /// Documents that loaded and verified.
    pub loaded: usize,
    /// Documents with no change stored yet (created, nothing written).
    pub empty: usize,
    /// Documents that do not load: id and why.
    pub damaged_documents: Vec<(String, String)>,
    /// The document list could not be read: why.
    pub list_failed: Option<String>,
}

impl CheckReport {
    /// Whether nothing is damaged.
    pub fn is_sound(&self) -> bool {
        self.damaged_record.is_none()
            && self.damaged_documents.is_empty()
            && self.list_failed.is_none()
    }

    /// The report for a person: one summary line, then one line per problem.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = match self.records {
            Some(records) => writeln!(out, "records: {records} read, every checksum sound"),
            None => writeln!(out, "records: DAMAGED"),
        };
        let _ = writeln!(
            out,
            "documents: {} listed, {} loaded and verified, {} with no change yet, {} damaged",
            self.documents,
            self.loaded,
            self.empty,
            self.damaged_documents.len()
        );
        if let Some(problem) = &self.damaged_record {
            let _ = writeln!(out, "damaged record: {problem}");
        }
        if let Some(problem) = &self.list_failed {
            let _ = writeln!(out, "the document list cannot be read: {problem}");
        }
        for (id, problem) in &self.damaged_documents {
            let _ = writeln!(out, "damaged document {id}: {problem}");
        }
        out
    }
}

/// Checks every record and document of `storage`. Blocking.
pub fn check_storage(storage: Arc<dyn Storage>) -> CheckReport {
    let mut report = CheckReport::default();
    match backup::write_backup(storage.as_ref(), std::io::sink(), Progress::Quiet) {
        Ok(written) => report.records = Some(written.counts.records),
        Err(error) => report.damaged_record = Some(error.to_string()),
    }
    let docs = DocStore::new(storage);
    let ids = match docs.list_documents() {
        Ok(ids) => ids,
        Err(error) => {
            report.list_failed = Some(error.to_string());
            return report;
        }
    };
    report.documents = ids.len();
    for id in ids {
        match docs.load(&id) {
            Ok(Some(bytes)) => match automerge::Automerge::load(&bytes) {
                Ok(_) => report.loaded += 1,
                Err(error) => report.damaged_documents.push((
                    id.to_string(),
                    format!("its chunks verify but do not load as an Automerge document: {error}"),
                )),
            },
            Ok(None) => report.empty += 1,
            Err(error) => report
                .damaged_documents
                .push((id.to_string(), error.to_string())),
        }
    }
    report
}

/// `passerelle-server check --data DIR`: prints the report; an error (non-zero exit) when the
/// store does not open or anything is damaged.
pub fn run_check(dir: &Path) -> anyhow::Result<()> {
    run_check_on(&StoreBackend::Sled, dir)
}

/// [`run_check`] on the chosen backend. On PostgreSQL it may run while servers use the
/// database: each document is read in one statement (a consistent snapshot), so a document
/// being written is seen before or after the write, never half way.
pub fn run_check_on(backend: &StoreBackend, dir: &Path) -> anyhow::Result<()> {
    if backend.is_postgres() {
        let shown = backend.shown(dir);
        let storage = backend
            .open(dir, SledOptions::default())
            .map_err(|error| anyhow::anyhow!("DAMAGED or unreachable: {shown}: {error}"))?;
        return report(check_storage(storage), &shown);
    }
    if !dir.exists() {
        anyhow::bail!("there is no data directory at {}", dir.display());
    }
    let storage = match SledStorage::open(dir) {
        Ok(storage) => storage,
        Err(StorageError::Locked { .. }) => {
            let holder = match ServerFile::read(dir) {
                Ok(Some(file)) => format!(" (pid {}, at {})", file.pid, file.address),
                _ => String::new(),
            };
            anyhow::bail!(
                "the data directory {} is in use by a running server{holder}; stop it first: \
                 check reads the store directly",
                dir.display()
            );
        }
        Err(error) => anyhow::bail!(
            "DAMAGED: the data directory {} does not open: {error}",
            dir.display()
        ),
    };
    report(
        check_storage(Arc::new(storage)),
        &format!("the data directory {}", dir.display()),
    )
}

/// Prints `report` on the store called `shown`; an error if anything is damaged.
fn report(report: CheckReport, shown: &str) -> anyhow::Result<()> {
    print!("{}", report.render());
    if !report.is_sound() {
        anyhow::bail!(
            "DAMAGED: {shown} holds damaged data (see above); restore the damaged documents \
             from a backup or from a client's replica"
        );
    }
    println!("{shown}: sound");
    Ok(())
}

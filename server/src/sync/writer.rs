//! [`Writer`]: the one thread that carries out the hub's storage work, with group commit.
//!
//! Every change the server acknowledges must be on disk first, and a flush (fsync) costs far
//! more than the write it makes durable. So the hub hands its storage tasks and authorship
//! records to this thread through a queue; the thread takes everything queued at once, writes
//! it all without waiting for the disk, flushes once, and only then answers the hub with the
//! results of the whole group. Under load, one flush covers many documents; alone, a task
//! costs one flush as before. One thread, rather than a blocking-pool task per write, also
//! saves the thread hand-offs that dominated the server's CPU time.
//!
//! Jobs run in the order they were queued: a load sees every append queued before it, and the
//! authorship records of changes are queued before the chunks that store them, so a change is
//! never acknowledged durable without the record of who delivered it.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use automerge::ChangeHash;
use passerelle_core::{DocumentId, StorageResult, StorageTask};
use passerelle_store::DocStore;
use tokio::sync::mpsc;

use crate::auth::{AuthStore, AuthorshipRecord, Principal};
use crate::sync::hub::Command;
use crate::sync::metrics::Metrics;

/// At most this many jobs share one flush, so that the first of a long queue is not held
/// back for long.
const MAX_GROUP: usize = 512;

/// Work for the writer thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// One of the engine's storage tasks; its result goes back to the hub.
    Task(StorageTask),
    /// Record who delivered these changes (see [`AuthStore::record_changes`]).
    Authorship {
        document_id: DocumentId,
        hashes: Vec<ChangeHash>,
        principal: Principal,
        at_unix_ms: u64,
    },
    /// Record these authors, stated by a federation peer (see
    /// [`AuthStore::record_claimed_deferred`]).
    Claimed {
        document_id: DocumentId,
        records: Vec<AuthorshipRecord>,
    },
}

/// The handle of the writer thread; the thread ends when the handle is dropped, after the
/// jobs already queued. Or, with [`HubConfig::inline_storage`](super::HubConfig), the same
/// work done on the hub's task: jobs queue here until the hub calls [`Writer::run_inline`].
#[derive(Debug)]
pub(crate) struct Writer(Mode);

#[derive(Debug)]
enum Mode {
    Thread(std_mpsc::Sender<Job>),
    Inline {
        docs: Arc<DocStore>,
        auth: Arc<AuthStore>,
        metrics: Arc<Metrics>,
        queued: Vec<Job>,
    },
}

impl Writer {
    /// Starts the thread. Results go to the hub as [`Command::Storage`], one per group.
    ///
    /// Panics if the OS cannot start a thread, as [`std::thread::spawn`] does (at start-up,
    /// where nothing can be served without it).
    pub(crate) fn start(
        docs: Arc<DocStore>,
        auth: Arc<AuthStore>,
        metrics: Arc<Metrics>,
        hub: mpsc::Sender<Command>,
    ) -> Self {
        let (jobs, queue) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("passerelle-storage".into())
            // A thread of its own, driving no async task: PostgreSQL calls may run on it.
            .spawn(move || {
                passerelle_store::blocking_section(|| run(queue, &docs, &auth, &metrics, &hub));
            })
            .expect("could not start the storage thread");
        Self(Mode::Thread(jobs))
    }

    /// A writer without a thread: jobs wait for [`Writer::run_inline`].
    pub(crate) fn inline(docs: Arc<DocStore>, auth: Arc<AuthStore>, metrics: Arc<Metrics>) -> Self {
        Self(Mode::Inline {
            docs,
            auth,
            metrics,
            queued: Vec::new(),
        })
    }

    /// Whether this writer runs on the hub's task.
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self.0, Mode::Inline { .. })
    }

    /// Queues a job; `false` if the thread is gone (it only stops when its handle drops, or
    /// if it panicked).
    pub(crate) fn submit(&mut self, job: Job) -> bool {
        match &mut self.0 {
            Mode::Thread(jobs) => jobs.send(job).is_ok(),
            Mode::Inline { queued, .. } => {
                queued.push(job);
                true
            }
        }
    }

    /// Inline mode: runs everything queued as one group, exactly as the thread would (write,
    /// one flush, compaction after), and returns its results for the hub; `None` when nothing
    /// is queued (always, for a thread).
    pub(crate) fn run_inline(&mut self) -> Option<Vec<StorageResult>> {
        let Mode::Inline {
            docs,
            auth,
            metrics,
            queued,
        } = &mut self.0
        else {
            return None;
        };
        if queued.is_empty() {
            return None;
        }
        let group: Vec<Job> = queued.drain(..queued.len().min(MAX_GROUP)).collect();
        let started = Instant::now();
        let (results, appended) = write_group(group, docs, auth);
        metrics.record_storage(started.elapsed());
        for document_id in appended {
            docs.maintain(&document_id);
        }
        Some(results)
    }
}

fn run(
    queue: std_mpsc::Receiver<Job>,
    docs: &DocStore,
    auth: &AuthStore,
    metrics: &Metrics,
    hub: &mpsc::Sender<Command>,
) {
    while let Ok(first) = queue.recv() {
        // Everything queued meanwhile joins the group: one flush answers for all of it.
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (results, appended) = write_group(group, docs, auth);
        metrics.record_storage(started.elapsed());
        if !results.is_empty() {
            // The hub may be gone at shutdown; the writes themselves are done.
            let _ = hub.blocking_send(Command::Storage(results));
        }
        // Compaction after answering: it must not delay acknowledgements.
        for document_id in appended {
            docs.maintain(&document_id);
        }
    }
}

/// Runs a group of jobs with one flush at the end. Returns the tasks' results (all failed if
/// the flush failed: nothing of the group may be taken as durable) and the documents that
/// got a chunk.
fn write_group(
    group: Vec<Job>,
    docs: &DocStore,
    auth: &AuthStore,
) -> (Vec<StorageResult>, Vec<DocumentId>) {
    let mut results = Vec::with_capacity(group.len());
    let mut appended: Vec<DocumentId> = Vec::new();
    let mut wrote = false;
    for job in group {
        match job {
            // A load writes nothing: the store runs it as it would alone.
            Job::Task(load @ StorageTask::Load { .. }) => results.push(docs.run(load)),
            Job::Task(StorageTask::Append {
                task,
                document_id,
                chunk,
            }) => results.push(match docs.append_deferred(&document_id, &chunk) {
                Ok(()) => {
                    wrote = true;
                    if !appended.contains(&document_id) {
                        appended.push(document_id);
                    }
                    StorageResult::Appended { task, document_id }
                }
                Err(error) => StorageResult::Failed {
                    task,
                    document_id,
                    reason: error.to_string(),
                },
            }),
            Job::Authorship {
                document_id,
                hashes,
                principal,
                at_unix_ms,
            } => match auth.record_changes_deferred(&document_id, hashes, &principal, at_unix_ms) {
                Ok(written) => wrote |= written > 0,
                Err(error) => {
                    tracing::error!(%document_id, "could not record authorship: {error}")
                }
            },
            Job::Claimed {
                document_id,
                records,
            } => match auth.record_claimed_deferred(&document_id, records) {
                Ok(written) => wrote |= written > 0,
                Err(error) => {
                    tracing::error!(%document_id, "could not record authorship: {error}")
                }
            },
        }
    }
    if wrote && let Err(error) = docs.flush() {
        tracing::error!("storage flush failed: {error}");
        let reason = format!("storage flush failed: {error}");
        for result in &mut results {
            let (task, document_id) = match result {
                StorageResult::Loaded {
                    task, document_id, ..
                }
                | StorageResult::Appended { task, document_id }
                | StorageResult::Failed {
                    task, document_id, ..
                } => (*task, *document_id),
            };
            *result = StorageResult::Failed {
                task,
                document_id,
                reason: reason.clone(),
            };
        }
        appended.clear();
    }
    (results, appended)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use passerelle_core::TaskId;
    use passerelle_store::{Batch, MemoryStorage, Storage, StorageError, StorageKey};

    use super::*;
    use crate::auth::{OrgName, Role, UserName};

    /// Memory storage whose flush fails on demand.
    #[derive(Default)]
    struct FlakyDisk {
        inner: MemoryStorage,
        fail_flush: AtomicBool,
        flushes: std::sync::atomic::AtomicUsize,
    }

    impl Storage for FlakyDisk {
        fn get(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
            self.inner.get(key)
        }
        fn scan_prefix(
            &self,
            prefix: &StorageKey,
        ) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
            self.inner.scan_prefix(prefix)
        }
        fn keys_with_prefix(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
            self.inner.keys_with_prefix(prefix)
        }
        fn apply_deferred(&self, batch: Batch) -> Result<(), StorageError> {
            self.inner.apply_deferred(batch)
        }
        fn flush(&self) -> Result<(), StorageError> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            if self.fail_flush.load(Ordering::SeqCst) {
                return Err(StorageError::Io("disk on fire".into()));
            }
            Ok(())
        }
    }

    fn principal() -> Principal {
        Principal {
            user: UserName::new("samira").unwrap(),
            org: OrgName::new("oujda").unwrap(),
            role: Role::Editor,
        }
    }

    fn chunk() -> Vec<u8> {
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", 1).unwrap();
        doc.save()
    }

    fn group(docs: &[DocumentId]) -> Vec<Job> {
        let mut jobs = Vec::new();
        for (n, doc) in docs.iter().enumerate() {
            jobs.push(Job::Authorship {
                document_id: *doc,
                hashes: vec![ChangeHash([n as u8; 32])],
                principal: principal(),
                at_unix_ms: 1,
            });
            jobs.push(Job::Task(StorageTask::Append {
                task: TaskId(n as u64),
                document_id: *doc,
                chunk: chunk(),
            }));
            jobs.push(Job::Task(StorageTask::Load {
                task: TaskId(100 + n as u64),
                document_id: *doc,
            }));
        }
        jobs
    }

    #[test]
    fn a_group_shares_one_flush_and_loads_see_earlier_appends() {
        let disk = Arc::new(FlakyDisk::default());
        let docs = DocStore::new(disk.clone());
        let auth = AuthStore::new(disk.clone());
        let ids = [
            DocumentId::random(),
            DocumentId::random(),
            DocumentId::random(),
        ];
        let (results, appended) = write_group(group(&ids), &docs, &auth);
        assert_eq!(
            disk.flushes.load(Ordering::SeqCst),
            1,
            "one flush per group"
        );
        assert_eq!(results.len(), 6, "authorship jobs have no result");
        assert_eq!(appended.len(), 3);
        for result in &results {
            match result {
                StorageResult::Appended { .. } => {}
                StorageResult::Loaded { data, .. } => assert!(data.is_some()),
                StorageResult::Failed { reason, .. } => panic!("failed: {reason}"),
            }
        }
        for id in &ids {
            assert_eq!(auth.history(id).unwrap().len(), 1);
        }
    }

    #[test]
    fn a_failed_flush_fails_every_task_of_the_group() {
        let disk = Arc::new(FlakyDisk::default());
        disk.fail_flush.store(true, Ordering::SeqCst);
        let docs = DocStore::new(disk.clone());
        let auth = AuthStore::new(disk.clone());
        let ids = [DocumentId::random(), DocumentId::random()];
        let (results, appended) = write_group(group(&ids), &docs, &auth);
        assert!(
            appended.is_empty(),
            "nothing to compact: nothing is durable"
        );
        assert_eq!(results.len(), 4);
        for result in results {
            match result {
                StorageResult::Failed { reason, .. } => assert!(reason.contains("disk on fire")),
                other => panic!("a result of a failed group passed as durable: {other:?}"),
            }
        }
    }

    #[test]
    fn a_group_of_loads_only_does_not_flush() {
        let disk = Arc::new(FlakyDisk::default());
        let docs = DocStore::new(disk.clone());
        let auth = AuthStore::new(disk.clone());
        let jobs = vec![Job::Task(StorageTask::Load {
            task: TaskId(1),
            document_id: DocumentId::random(),
        })];
        let (results, _) = write_group(jobs, &docs, &auth);
        assert!(matches!(
            results[..],
            [StorageResult::Loaded { data: None, .. }]
        ));
        assert_eq!(disk.flushes.load(Ordering::SeqCst), 0);
    }
}

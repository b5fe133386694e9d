//! `passerelle ui [--listen 127.0.0.1:7781]`: the web pages of [`passerelle_web`] over the
//! local replica, on loopback only, while the [`SyncLoop`] keeps the replica in sync in the
//! background (when a server is configured). Everything works offline: the pages read and
//! write the replica, and the loop carries edits out when the server answers again.
//!
//! sled lets one opener at a time hold the replica, and the loop opens it for each pass, so
//! each request opens it, does its work and closes it; requests wait (bounded) while a pass
//! holds it. A pass that finds the replica held by a request is retried by the loop; that is
//! not an outage, so it does not turn the page's state to offline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use automerge::{AutoCommit, ChangeHash};
use passerelle_client::{
    ClientError, HttpTransport, LoopConfig, LoopEvent, Replica, ReplicaEvent, StopSignal, SyncLoop,
};
use passerelle_core::DocumentId;
use passerelle_web::{
    Applied, Authored, Backend, BackendError, LiveEvent, Published, SyncView, WebOptions,
    organisation_name,
};
use tokio::sync::{broadcast, watch};

/// How long a request waits for the replica while a sync pass holds it.
const REPLICA_WAIT: Duration = Duration::from_secs(20);

/// Runs `passerelle ui`.
pub(crate) fn run(home: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        bail!(
            "--listen {listen}: the local interface listens on a loopback address only \
             (127.0.0.1 or ::1); the pages of the server are the ones to share"
        );
    }
    if !home.join("store").is_dir() {
        bail!(
            "there is no replica at {}; run `passerelle init --server URL --token TOKEN` first, \
             or pass --home DIR",
            home.display()
        );
    }
    let server = Replica::open(home)?.server()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (closing, _) = watch::channel(false);
    let closing = Arc::new(closing);
    let pages = Arc::new(LocalPages::new(
        home,
        crate::programme::user_name(home),
        Arc::clone(&closing),
    ));
    pages.refresh_unsynced();

    let stop = StopSignal::new();
    let loop_thread = match server {
        Some(config) => {
            let transport = HttpTransport::new(&config)?;
            let mut sync_loop = SyncLoop::new(home, transport, LoopConfig::default());
            let loop_stop = sync_loop.stop_signal();
            let pages = Arc::clone(&pages);
            let stop = stop.clone();
            // Stops the loop when the UI stops.
            std::thread::spawn(move || {
                while !stop.sleep(Duration::from_secs(3600)) {}
                loop_stop.stop();
            });
            Some(
                std::thread::Builder::new()
                    .name("sync-loop".to_owned())
                    .spawn(move || {
                        if let Err(error) = sync_loop.run(&mut |event| pages.heard(event)) {
                            eprintln!("sync stopped: {error}");
                            pages.set_online(Some(false));
                        }
                    })?,
            )
        }
        None => {
            pages.set_online(Some(false));
            None
        }
    };

    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        // The address, last line on stdout, for people and for scripts (`--listen
        // 127.0.0.1:0` picks a free port).
        println!("passerelle ui: http://{address}/");
        let router =
            passerelle_web::router(Arc::new(UiBackend(Arc::clone(&pages))), WebOptions::local());
        let closing = Arc::clone(&closing);
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = tokio::signal::ctrl_c().await;
                eprintln!("stopping…");
                closing.send_replace(true);
            })
            .await?;
        anyhow::Ok(())
    });
    stop.stop();
    if let Some(thread) = loop_thread {
        let _ = thread.join();
    }
    served
}

/// The local UI's [`Backend`].
#[derive(Debug)]
struct LocalPages {
    home: PathBuf,
    user: String,
    /// One request at a time in the replica (sled allows one opener).
    replica_lock: Mutex<()>,
    view: Mutex<SyncView>,
    events: broadcast::Sender<LiveEvent>,
    closing: Arc<watch::Sender<bool>>,
}

impl LocalPages {
    fn new(home: &Path, user: String, closing: Arc<watch::Sender<bool>>) -> Self {
        Self {
            home: home.to_owned(),
            user,
            replica_lock: Mutex::new(()),
            view: Mutex::new(SyncView::default()),
            events: broadcast::channel(1_024).0,
            closing,
        }
    }

    /// Opens the replica (waiting while a sync pass holds it), runs `work`, closes it.
    /// Blocking.
    fn with_replica<R>(
        &self,
        work: impl FnOnce(&mut Replica) -> Result<R, ClientError>,
    ) -> Result<R, BackendError> {
        let _guard = self.replica_lock.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let mut replica = loop {
            match Replica::open(&self.home) {
                Ok(replica) => break replica,
                Err(ClientError::ReplicaBusy { .. }) if started.elapsed() < REPLICA_WAIT => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(error) => return Err(BackendError::new(error)),
            }
        };
        work(&mut replica).map_err(BackendError::new)
    }

    fn update_view(&self, change: impl FnOnce(&mut SyncView)) {
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        let before = view.clone();
        change(&mut view);
        if *view != before {
            let _ = self.events.send(LiveEvent::SyncState);
        }
    }

    fn set_online(&self, online: Option<bool>) {
        self.update_view(|view| view.online = online);
    }

    /// Counts the local changes the server has not confirmed (refused ones aside). Blocking.
    fn refresh_unsynced(&self) {
        let counted = self.with_replica(|replica| {
            Ok(replica
                .sync_statuses()?
                .iter()
                .map(|status| {
                    let refused = status.rejection.as_ref().map_or(0, |r| r.changes.len());
                    status.pending_changes.saturating_sub(refused)
                })
                .sum::<usize>())
        });
        match counted {
            Ok(count) => self.update_view(|view| view.unsynced_changes = count),
            Err(error) => tracing::warn!("ui: cannot count unsynced changes: {error}"),
        }
    }

    /// The sync loop's observer (on the loop's thread, between passes).
    fn heard(&self, event: LoopEvent<'_>) {
        match event {
            LoopEvent::Online => self.set_online(Some(true)),
            LoopEvent::Synced(_) => {
                self.set_online(Some(true));
                self.refresh_unsynced();
            }
            // The replica held by a page's request is not an outage.
            LoopEvent::Offline {
                error: ClientError::ReplicaBusy { .. },
                ..
            } => {}
            LoopEvent::Offline { .. } => self.set_online(Some(false)),
            LoopEvent::Replica(ReplicaEvent::RemoteChanges { document_id, .. }) => {
                let _ = self.events.send(LiveEvent::Changed(*document_id));
            }
            LoopEvent::Replica(ReplicaEvent::SyncStateChanged {
                last_sync: Some(at),
                ..
            }) => {
                let at = shown_time(*at);
                self.update_view(|view| view.last_sync = Some(at));
            }
            _ => {}
        }
    }
}

/// A time as the pages show it: local date and time to the minute.
fn shown_time(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The local UI's [`Backend`]: a handle on [`LocalPages`].
#[derive(Debug, Clone)]
struct UiBackend(Arc<LocalPages>);

impl UiBackend {
    /// [`LocalPages::with_replica`] off the async threads.
    async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Replica) -> Result<R, ClientError> + Send + 'static,
    ) -> Result<R, BackendError> {
        let pages = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || pages.with_replica(work))
            .await
            .map_err(BackendError::new)?
    }
}

impl Backend for UiBackend {
    type Reader = String;

    async fn sign_in(&self, _token: &str) -> Result<Option<String>, BackendError> {
        Ok(Some(self.0.user.clone()))
    }

    fn local_reader(&self) -> Option<String> {
        Some(self.0.user.clone())
    }

    fn reader_name(&self, reader: &String) -> String {
        reader.clone()
    }

    async fn documents(
        &self,
        _reader: &String,
        limit: usize,
    ) -> Result<Vec<(DocumentId, AutoCommit)>, BackendError> {
        self.blocking(move |replica| {
            let mut docs = Vec::new();
            for summary in replica.list()? {
                if docs.len() >= limit {
                    break;
                }
                if summary.problem.is_some() {
                    continue;
                }
                let bytes = replica.export_automerge(summary.id)?;
                let doc = AutoCommit::load(&bytes)
                    .map_err(|e| ClientError::InvalidAutomerge(e.to_string()))?;
                docs.push((summary.id, doc));
            }
            Ok(docs)
        })
        .await
    }

    async fn document(
        &self,
        _reader: &String,
        id: DocumentId,
    ) -> Result<Option<AutoCommit>, BackendError> {
        self.blocking(move |replica| match replica.export_automerge(id) {
            Ok(bytes) => AutoCommit::load(&bytes)
                .map(Some)
                .map_err(|e| ClientError::InvalidAutomerge(e.to_string())),
            Err(ClientError::UnknownDocument(_)) => Ok(None),
            Err(error) => Err(error),
        })
        .await
    }

    async fn may_read(&self, _reader: &String, _id: DocumentId) -> Result<bool, BackendError> {
        Ok(true)
    }

    async fn erased(&self, _reader: &String, id: DocumentId) -> Result<bool, BackendError> {
        self.blocking(move |replica| replica.is_erased(id)).await
    }

    async fn apply(
        &self,
        _reader: &String,
        id: DocumentId,
        mut doc: AutoCommit,
        _base: Vec<ChangeHash>,
    ) -> Result<Applied, BackendError> {
        let bytes = doc.save();
        self.blocking(move |replica| replica.import_automerge(id, &bytes))
            .await?;
        let _ = self.0.events.send(LiveEvent::Changed(id));
        let pages = Arc::clone(&self.0);
        let _ = tokio::task::spawn_blocking(move || pages.refresh_unsynced()).await;
        Ok(Applied::Saved)
    }

    async fn published(&self, limit: usize) -> Result<Vec<Published>, BackendError> {
        self.blocking(move |replica| {
            let load = |replica: &mut Replica, id: DocumentId| {
                let bytes = replica.export_automerge(id)?;
                AutoCommit::load(&bytes).map_err(|e| ClientError::InvalidAutomerge(e.to_string()))
            };
            let mut out = Vec::new();
            for summary in replica.list()? {
                if out.len() >= limit {
                    break;
                }
                if summary.problem.is_some()
                    || !matches!(summary.doc_type.as_deref(), Some("project" | "mission"))
                {
                    continue;
                }
                let mut doc = load(replica, summary.id)?;
                if let Some(published) = Published::from_doc(summary.id, &mut doc) {
                    out.push(published);
                }
            }
            let named: std::collections::BTreeSet<DocumentId> = out
                .iter()
                .flat_map(|p: &Published| p.partner_ids().iter().copied())
                .collect();
            let mut names = std::collections::HashMap::new();
            for id in named {
                match load(replica, id) {
                    Ok(mut doc) => {
                        if let Some(name) = organisation_name(&mut doc) {
                            names.insert(id, name);
                        }
                    }
                    Err(ClientError::UnknownDocument(_)) => {}
                    Err(error) => return Err(error),
                }
            }
            for published in &mut out {
                published.resolve(&names);
            }
            Ok(out)
        })
        .await
    }

    /// Here, only the local changes the server has not confirmed yet are known to be the
    /// local user's; the others are shown without a name (the server's pages name them).
    async fn authors(
        &self,
        _reader: &String,
        ids: Vec<DocumentId>,
    ) -> Result<
        std::collections::HashMap<DocumentId, std::collections::HashMap<ChangeHash, Authored>>,
        BackendError,
    > {
        let user = self.0.user.clone();
        self.blocking(move |replica| {
            let mut out = std::collections::HashMap::new();
            for id in ids {
                let status = match replica.sync_status(id) {
                    Ok(status) => status,
                    Err(ClientError::UnknownDocument(_)) => continue,
                    Err(error) => return Err(error),
                };
                let bytes = replica.export_automerge(id)?;
                let mut doc = AutoCommit::load(&bytes)
                    .map_err(|e| ClientError::InvalidAutomerge(e.to_string()))?;
                let confirmed: Vec<ChangeHash> = status
                    .confirmed_heads
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|h| doc.get_change_by_hash(h).is_some())
                    .collect();
                let mine = doc
                    .get_changes_meta(&confirmed)
                    .iter()
                    .map(|meta| {
                        (
                            meta.hash,
                            Authored {
                                who: user.clone(),
                                at: None,
                            },
                        )
                    })
                    .collect();
                out.insert(id, mine);
            }
            Ok(out)
        })
        .await
    }

    fn sync_view(&self) -> SyncView {
        self.0
            .view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.events.subscribe()
    }

    fn closing(&self) -> watch::Receiver<bool> {
        self.0.closing.subscribe()
    }
}

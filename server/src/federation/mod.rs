//! Federation: this server dials other passerelle servers (its *peers*) and replicates with
//! them the documents both sides allow.
//!
//! - [`config`]: `DATA/peers.json` (what `passerelle-server peer add|list|remove` edit) and
//!   `DATA/peers-status.json` (what the running server reports, for `peer status`).
//! - `link`: one task per peer, a batch-sync client of the peer whose local side is this
//!   server's hub (see its documentation for a pass, resume and why there are no loops).
//! - [`start`]: the manager, started by `serve`: it reads `peers.json` every
//!   [`RELOAD_INTERVAL`], starts, restarts (changed configuration) and stops links, forgets a
//!   removed peer's stored state, and writes the status file when it changes.
//!
//! What crosses: towards the peer, the documents the peer's `offer` user may read here; from
//! the peer, the documents its token's user may read there. The peer's changes are written
//! here as the `offer` user (their write access decides, their organisation owns documents
//! that first arrive from the peer); the authorship records name their authors there, as
//! users of the peer (see [`claims`]).

pub mod claims;
pub mod config;
mod link;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passerelle_store::{Batch, StorageKey};

use crate::http::AppState;
use config::{PeerConfig, PeersFile, StatusFile};

/// How often the running server reads `peers.json` again (and writes the status file).
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

struct Running {
    config: PeerConfig,
    task: tokio::task::JoinHandle<()>,
}

/// Starts the peer manager on the current runtime for the server of `data_dir`; it ends
/// when the server closes.
pub fn start(data_dir: PathBuf, state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(manage(data_dir, state))
}

async fn manage(data_dir: PathBuf, state: AppState) {
    let status = Arc::new(Mutex::new(StatusFile {
        pid: std::process::id(),
        peers: Default::default(),
    }));
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut closing = state.sync.closing.subscribe();
    let mut last_error: Option<String> = None;
    let mut written: Option<StatusFile> = None;
    loop {
        match PeersFile::read(&data_dir) {
            Ok(file) => {
                last_error = None;
                reconcile(&state, &status, &mut running, file).await;
            }
            Err(error) => {
                let error = error.to_string();
                if last_error.as_ref() != Some(&error) {
                    tracing::error!("peers: {error}; the links keep their last configuration");
                    last_error = Some(error);
                }
            }
        }
        let now = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if written.as_ref() != Some(&now) {
            write_status(&state, &data_dir, now.clone()).await;
            written = Some(now);
        }
        tokio::select! {
            _ = tokio::time::sleep(RELOAD_INTERVAL) => {}
            _ = closing.wait_for(|closing| *closing) => break,
        }
    }
    for (_, link) in running.drain() {
        link.task.abort();
    }
    let mut last = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for peer in last.peers.values_mut() {
        peer.connected = false;
        peer.behind = 0;
        peer.error = Some("the server stopped".into());
    }
    write_status(&state, &data_dir, last).await;
}

async fn write_status(state: &AppState, data_dir: &std::path::Path, file: StatusFile) {
    let dir = data_dir.to_owned();
    match state.sync.blocking(move || file.write(&dir)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!("could not write the peers' status: {error}"),
        Err(error) => tracing::warn!("could not write the peers' status: {error}"),
    }
}

async fn reconcile(
    state: &AppState,
    status: &Arc<Mutex<StatusFile>>,
    running: &mut HashMap<String, Running>,
    file: PeersFile,
) {
    let wanted: HashMap<String, PeerConfig> = file
        .peers
        .into_iter()
        .map(|peer| (peer.name.clone(), peer))
        .collect();
    let stale: Vec<String> = running
        .iter()
        .filter(|(name, link)| wanted.get(*name) != Some(&link.config) || link.task.is_finished())
        .map(|(name, _)| name.clone())
        .collect();
    for name in stale {
        let Some(link) = running.remove(&name) else {
            continue;
        };
        link.task.abort();
        let _ = link.task.await;
        if !wanted.contains_key(&name) {
            tracing::info!(peer = %name, "peer removed");
            status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .peers
                .remove(&name);
            forget(state, &name).await;
        } else if wanted.get(&name) != Some(&link.config) && wanted[&name].url != link.config.url {
            // Another server under the same name: what we knew of the old one is wrong.
            forget(state, &name).await;
        }
    }
    for (name, config) in wanted {
        if running.contains_key(&name) {
            continue;
        }
        status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .peers
            .entry(name.clone())
            .or_default();
        match link::Link::new(config.clone(), state.clone(), Arc::clone(status)) {
            Ok(link) => {
                tracing::info!(peer = %name, url = %config.url, "dialling peer");
                let task = tokio::spawn(link.run(state.sync.closing.subscribe()));
                running.insert(name, Running { config, task });
            }
            Err(error) => {
                tracing::error!(peer = %name, "cannot dial: {error:#}");
                // Not retried until its configuration changes: a finished task with the
                // same configuration would restart every second.
                let task = tokio::spawn(std::future::pending::<()>());
                status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .peers
                    .entry(name.clone())
                    .or_default()
                    .error = Some(format!("{error:#}"));
                running.insert(name, Running { config, task });
            }
        }
    }
}

/// Deletes what the store keeps of a peer (cursors, heads).
async fn forget(state: &AppState, name: &str) {
    let storage = Arc::clone(&state.storage);
    let name = name.to_owned();
    let result = state
        .sync
        .blocking(move || -> anyhow::Result<()> {
            let prefix = StorageKey::try_new(["peer", name.as_str()])?;
            let mut batch = Batch::new();
            for key in storage.keys_with_prefix(&prefix)? {
                batch.delete(key);
            }
            if !batch.ops.is_empty() {
                storage.apply(batch)?;
            }
            Ok(())
        })
        .await;
    if let Ok(Err(error)) | Err(error) = result.map_err(anyhow::Error::from) {
        tracing::warn!("could not forget a removed peer's state: {error:#}");
    }
}

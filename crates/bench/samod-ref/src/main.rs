//! The samod reference server of passerelle's benchmarks (docs/BENCHMARKS.md).
//!
//! What a Rust engineer would write instead of passerelle-server: samod (the Rust
//! automerge-repo) with its tokio filesystem storage (the nodefs layout) behind an axum
//! WebSocket route. Like the JS sync server it does not announce documents to clients, it
//! only answers what they ask for. No authentication: the `?token=` the benchmark client
//! sends is ignored.
//!
//! ```text
//! samod-ref --listen 127.0.0.1:PORT --data DIR
//! ```
//! Serves on `ws://ADDR/ws` (and `/`) until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use samod::storage::TokioFilesystemStorage;
use samod::{AcceptorHandle, Repo, ShareConfig};

fn usage() -> ! {
    eprintln!("usage: samod-ref --listen ADDR --data DIR");
    std::process::exit(64)
}

#[tokio::main]
async fn main() {
    let mut listen = None;
    let mut data = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            "--data" => data = args.next().map(PathBuf::from),
            _ => usage(),
        }
    }
    let (Some(listen), Some(data)) = (listen, data) else {
        usage()
    };
    std::fs::create_dir_all(&data).expect("the data directory can be created");

    let repo = Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(&data))
        .with_share_policy(ShareConfig::read_write().with_announce(false))
        .load()
        .await;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("could not listen on {listen}: {e}"));
    let address = listener.local_addr().expect("a local address");
    let url = format!("ws://{address}/ws").parse().expect("a valid URL");
    let acceptor = repo.make_acceptor(url).expect("the repo runs");

    let upgrade = move |ws: WebSocketUpgrade| {
        let acceptor: AcceptorHandle = acceptor.clone();
        async move {
            ws.on_upgrade(move |socket| async move {
                // A stopped repo only happens at shutdown; the connection just closes.
                let _ = acceptor.accept_axum(socket, None);
            })
        }
    };
    let app = Router::new()
        .route("/ws", get(upgrade.clone()))
        .route("/", get(upgrade));
    eprintln!(
        "samod-ref listening on {address}, data in {}",
        data.display()
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .expect("the server runs");
    repo.stop().await;
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

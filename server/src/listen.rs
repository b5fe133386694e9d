//! Accepting connections: each is served by hyper's HTTP/1 with a deadline on request headers,
//! and closed gracefully at shutdown.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header-read timeout never fires: a peer
//! that opens a connection and sends a request line a byte at a time (or nothing at all)
//! holds a task, a socket and its buffers for as long as it likes (slow-loris). Here every
//! request's headers must arrive within [`header_timeout`](crate::ServerConfig::header_timeout)
//! of the connection opening or going idle, or the connection is closed. Bodies have their
//! own deadline ([`crate::body_deadline`]); WebSockets, once upgraded, are the sync layer's.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in
/// progress finish (every connection is asked to close once its current request is
/// answered) and returns once every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    // `true` once shutting down; every connection task holds a receiver, so `closed()`
    // tells when the last one has finished.
    let (closing, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(serve_connection(
                    stream,
                    peer,
                    router.clone(),
                    header_timeout,
                    closing_rx.clone(),
                ));
            }
            // Out of file descriptors and the like: the connections already open go on;
            // wait a little rather than spin on an error that persists.
            Err(error) => {
                tracing::warn!("could not accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    drop(closing_rx);
    closing.send_replace(true);
    closing.closed().await;
}

/// One connection: HTTP/1 with upgrades (WebSockets), the peer's address in every request's
/// extensions (as `ConnectInfo`, which the admin routes read).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move { router.oneshot(request.map(Body::new)).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let mut connection = pin!(
        builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = closing.wait_for(|closing| *closing) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Peers that hang up mid-request or send garbage are routine; timeouts too.
        tracing::debug!(%peer, "connection ended: {error}");
    }
}

//! A deadline on reading a request body, against uploads that trickle in to hold a connection
//! and its buffers (slow-loris). As Apache's `mod_reqtimeout` does (`body=…,MinRate=…`), a
//! body must arrive within [`BodyDeadline::initial`], extended by one second for every
//! [`BodyDeadline::min_bytes_per_sec`] bytes received: a large upload on a slow but honest
//! link keeps going, one that sends a byte now and then does not. Past the deadline, reading
//! the body fails with [`BodyTooSlow`], which handlers answer with 408
//! ([`crate::error::AppError::TooSlow`]), and the connection is closed.

use std::time::Duration;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt as _;
use tokio::time::Instant;

/// How long a request body may take (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    /// Time for the whole body, or for its first bytes.
    pub initial: Duration,
    /// Each this many bytes received extend the deadline by a second.
    pub min_bytes_per_sec: u64,
}

impl Default for BodyDeadline {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(30),
            min_bytes_per_sec: 1024,
        }
    }
}

/// The start of [`BodyTooSlow`]'s message.
const TOO_SLOW: &str = "the request body arrived too slowly";

/// The error a body read fails with past its deadline.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: it must come within {0:?}, plus a second per {1} bytes"
)]
pub struct BodyTooSlow(Duration, u64);

/// The middleware: gives the request's body its deadline, counted from now. Bodiless requests
/// (GET, WebSocket upgrades, long-polls) pass untouched.
pub(crate) async fn limit_body_time(
    State(deadline): State<BodyDeadline>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    next.run(Request::from_parts(parts, with_deadline(body, deadline)))
        .await
}

fn with_deadline(body: Body, limits: BodyDeadline) -> Body {
    let seconds_per_byte = 1.0 / limits.min_bytes_per_sec.max(1) as f64;
    let start = (
        body.into_data_stream(),
        Instant::now() + limits.initial,
        false,
    );
    let stream =
        futures_util::stream::unfold(start, move |(mut data, deadline, failed)| async move {
            if failed {
                return None;
            }
            match tokio::time::timeout_at(deadline, data.next()).await {
                Ok(Some(Ok(bytes))) => {
                    let deadline =
                        deadline + Duration::from_secs_f64(seconds_per_byte * bytes.len() as f64);
                    Some((Ok(bytes), (data, deadline, false)))
                }
                Ok(Some(Err(error))) => Some((Err(error.into()), (data, deadline, true))),
                Ok(None) => None,
                Err(_elapsed) => {
                    let error: Box<dyn std::error::Error + Send + Sync> =
                        Box::new(BodyTooSlow(limits.initial, limits.min_bytes_per_sec));
                    Some((Err(error), (data, deadline, true)))
                }
            }
        })
        // Readers may poll again after the end (tower-http's gzip decoder does); an unfold
        // stream panics then, a fused one keeps answering "no more".
        .fuse();
    Body::from_stream(stream)
}

/// Whether `error` (a body-read failure, through axum's wrappers) is a missed deadline.
pub(crate) fn is_too_slow(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyTooSlow>() {
            return true;
        }
        current = error.source();
    }
    // A wrapper on the way may have kept only the message.
    error.to_string().contains(TOO_SLOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::HttpBody;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// tower-http's gzip decoder polls a body again after its end; that panicked (issue 3's
    /// deadline layer broke every gzip upload).
    #[tokio::test]
    async fn a_body_polled_again_after_its_end_says_end_again() {
        let mut body = with_deadline(Body::from("fini"), BodyDeadline::default());
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut data = Vec::new();
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    data.extend_from_slice(frame.data_ref().expect("a data frame"));
                }
                Poll::Ready(Some(Err(error))) => panic!("{error}"),
                Poll::Ready(None) => break,
                Poll::Pending => tokio::task::yield_now().await,
            }
        }
        assert_eq!(data, b"fini");
        for _ in 0..3 {
            assert!(matches!(
                Pin::new(&mut body).poll_frame(&mut cx),
                Poll::Ready(None)
            ));
        }
    }
}

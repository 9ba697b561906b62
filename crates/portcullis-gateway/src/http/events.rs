//! Long-lived SSE responses (the GET stream, a resumed stream, the legacy stream, a POST's answer to
//! a call that streams): frames from a
//! source, a keep-alive comment whenever the stream has been quiet for the configured interval (so
//! proxies and clients keep a silent stream open, and a vanished client is noticed), and the end when
//! the node begins to drain.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// The keep-alive frame: an SSE comment, which clients ignore.
pub(super) const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// Where a stream's frames come from.
pub(super) trait EventSource: Send + 'static {
    /// The next frame; `None` ends the stream. Must be cancel-safe: a keep-alive or a drain may win
    /// the race, and nothing may be lost when this future is dropped.
    fn next(&mut self) -> impl Future<Output = Option<Bytes>> + Send;
}

/// A stream fed through a channel (a POST's answer, pumped by its own task).
impl EventSource for mpsc::Receiver<Bytes> {
    async fn next(&mut self) -> Option<Bytes> {
        self.recv().await
    }
}

/// An SSE response fed by `source`; with `draining`, it ends when the node begins to drain.
pub(super) fn response<S: EventSource>(
    source: S,
    keepalive: Duration,
    draining: Option<watch::Receiver<bool>>,
) -> Response {
    let quiet = ticks(keepalive);
    let stream = futures_util::stream::unfold(
        (source, draining, quiet),
        |(mut source, mut draining, mut quiet)| async move {
            if draining.as_ref().is_some_and(|d| *d.borrow()) {
                return None;
            }
            let frame = tokio::select! {
                frame = source.next() => {
                    quiet.reset();
                    frame?
                }
                _ = quiet.tick() => Bytes::from_static(KEEPALIVE),
                () = drained(draining.as_mut()) => return None,
            };
            Some((Ok::<_, Infallible>(frame), (source, draining, quiet)))
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Resolves when the node begins to drain (never, without a receiver).
async fn drained(draining: Option<&mut watch::Receiver<bool>>) {
    match draining {
        Some(draining) => {
            let _ = draining.changed().await;
        }
        None => std::future::pending().await,
    }
}

fn ticks(every: Duration) -> Interval {
    let every = every.max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}

//! `GET /mcp`: one standalone stream for the client, fed by every member's (list changes, logs,
//! resource updates, requests). Messages pass unchanged, except that a request from a member's HTTP
//! upstream stream carries an id unique on the node; the client's answer is offered to every member
//! (see [`super::notify_members`]) and only the session that relayed the request takes it.
//!
//! Resumption works as on `/mcp/<server>` ([`crate::http::resume`]), over the aggregate's own replay
//! log: each member's messages are recorded there as they are taken from the member, so what a lost
//! connection missed, from any member, comes back in order with `Last-Event-ID`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::members::Aggregate;
use crate::http::Reject;
use crate::http::events::EventSource;
use crate::http::resume;
use crate::node::Node;
use crate::session::replay::{self, SharedLog, StreamId, StreamKind};

/// Opens the merged stream, resuming from `Last-Event-ID` when the client sent one. It ends when
/// every member's stream has ended, or the node drains. A member that was down when it opened is
/// not on it: the client reopens the stream to get it.
///
/// # Errors
/// 400 for a `Last-Event-ID` that cannot be resumed.
pub(super) async fn open(
    node: &Arc<Node>,
    aggregate: &Arc<Aggregate>,
    headers: &HeaderMap,
) -> Result<Response, Reject> {
    let log: SharedLog = Arc::clone(aggregate) as SharedLog;
    let live = || async { Ok(Merged::open(node, aggregate).await) };
    resume::open_over(node, log, &aggregate.id, headers, live).await
}

/// The merged standalone stream: frames already recorded in the aggregate's replay log.
struct Merged {
    frames: mpsc::Receiver<Bytes>,
    primer: Option<Bytes>,
    _open: Arc<OpenStream>,
}

/// One merged stream in the replay log, held by the stream and each member's feeder. When the last
/// lets go (the client left and every feeder put what it still held in the log, or every member's
/// stream ended), the log notes the stream ended, so a resumption knows nothing more will come.
struct OpenStream {
    aggregate: Arc<Aggregate>,
    stream: StreamId,
    window: Duration,
}

impl OpenStream {
    fn record(&self, message: &Value) -> Bytes {
        self.aggregate
            .replay
            .record(self.stream, message, false, self.window)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.aggregate.replay.close(self.stream, self.window);
        replay::prune_later(&self.aggregate, self.window);
    }
}

impl Merged {
    /// Takes over every member's standalone stream (an earlier one stops getting messages).
    async fn open(node: &Node, aggregate: &Arc<Aggregate>) -> Self {
        let window = node.settings.sse_replay_window;
        let stream = aggregate.replay.open_stream(StreamKind::Standalone);
        let open = Arc::new(OpenStream {
            aggregate: Arc::clone(aggregate),
            stream,
            window,
        });
        // Priming events arrived with resumption in 2025-11-25; older clients may not expect them.
        let primes = super::serve::negotiated(aggregate.params()) >= crate::protocol::LATEST_SESSION_ERA;
        let primer = primes.then(|| aggregate.replay.prime(stream, window));
        let (frames, source) = mpsc::channel::<Bytes>(32);
        for member in &aggregate.members {
            let Ok(session) = aggregate.session(node, member).await else {
                continue;
            };
            let Ok(messages) = session.listen().await else {
                continue;
            };
            tokio::spawn(feed(messages, frames.clone(), Arc::clone(&open)));
        }
        Self {
            frames: source,
            primer,
            _open: open,
        }
    }
}

/// Moves one member's messages onto the merged stream, each recorded first. When the client has
/// left, what the member had already queued is recorded for a resumption to find; what it sends
/// later waits in the member's session for the next stream.
async fn feed(mut messages: mpsc::Receiver<Value>, frames: mpsc::Sender<Bytes>, open: Arc<OpenStream>) {
    while let Some(message) = messages.recv().await {
        if frames.send(open.record(&message)).await.is_err() {
            break;
        }
    }
    messages.close();
    while let Ok(message) = messages.try_recv() {
        open.record(&message);
    }
}

impl EventSource for Merged {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(primer) = self.primer.take() {
            return Some(primer);
        }
        self.frames.recv().await
    }
}

//! The session-era GET stream with resumption: every event carries an id and is kept for a short
//! window ([`crate::session::replay`]); a client that comes back with `Last-Event-ID` first gets what
//! the named stream sent after that event, then, for the standalone stream, new messages as usual,
//! and for a POST's response stream, the rest of that stream up to its response.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Reject;
use super::events::{self, EventSource};
use crate::node::Node;
use crate::session::replay::{EventId, ReplayLog, SharedLog, StreamKind};
use crate::session::{SessionHandle, SessionInfo};

/// `Last-Event-ID`.
pub(super) const LAST_EVENT_ID: &str = "last-event-id";

/// How long a resumed standalone stream waits for the stream it replaces to hand over what it still
/// held (the old connection may not have been noticed as gone yet).
const HANDOVER: Duration = Duration::from_secs(2);

/// Opens `session`'s GET stream, resuming from `Last-Event-ID` when the client sent one.
///
/// # Errors
/// 400 for an id that is not ours, or names a response stream whose events are no longer kept.
pub(super) async fn open(
    node: &Node,
    session: &SessionHandle,
    headers: &HeaderMap,
) -> Result<Response, Reject> {
    let window = node.settings.sse_replay_window;
    let info = Arc::clone(session.info());
    let live = || async {
        Live::open(session, window)
            .await
            .map_err(|()| Reject::status(StatusCode::NOT_FOUND, "unknown session: initialize again"))
    };
    open_over(node, info.clone(), &info.id, headers, live).await
}

/// Opens a GET stream whose events are kept in `log` (`label` names its session in logs): fresh from
/// `live`, or resuming from `Last-Event-ID`. A standalone stream is resumed by taking the stream over
/// with `live` first (so the old one stops getting messages), replaying it, then going on live.
///
/// # Errors
/// 400 for an id that is not ours, or names a response stream whose events are no longer kept;
/// whatever `live` fails with.
pub(super) async fn open_over<L, F, Fut>(
    node: &Node,
    log: SharedLog,
    label: &Arc<str>,
    headers: &HeaderMap,
    live: F,
) -> Result<Response, Reject>
where
    L: EventSource,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<L, Reject>>,
{
    let window = node.settings.sse_replay_window;
    let resume = headers.get(LAST_EVENT_ID).map(|v| {
        v.to_str().ok().and_then(EventId::parse).ok_or_else(|| {
            Reject::status(
                StatusCode::BAD_REQUEST,
                "Last-Event-ID is not an event id this gateway sent",
            )
        })
    });
    let replays = (*log).as_ref();
    let earlier = |after| Following {
        log: Arc::clone(&log),
        label: Arc::clone(label),
        after,
        window,
    };
    let source = match resume.transpose()? {
        None => Resumed::live(live().await?),
        Some(after) => match after.stream.kind {
            StreamKind::Response => {
                let replayed = replays
                    .replay(after, window)
                    .map_err(|e| Reject::status(StatusCode::BAD_REQUEST, format!("cannot resume: {e}")))?;
                tracing::debug!(session = %label, after = %after, "response stream resumed");
                Resumed::following(earlier(after), replayed.frames, replayed.finished, None)
            }
            StreamKind::Standalone => {
                // Take the stream over first, so the old one stops getting messages, then replay it.
                let live = live().await?;
                match replays.replay(after, window) {
                    Ok(replayed) => {
                        tracing::debug!(session = %label, after = %after, "standalone stream resumed");
                        Resumed::following(earlier(after), replayed.frames, replayed.finished, Some(live))
                    }
                    Err(e) => {
                        // Nothing to replay from: the stream goes on fresh (what was parked still comes).
                        tracing::debug!(session = %label, error = %e, "standalone stream not resumable");
                        Resumed::live(live)
                    }
                }
            }
        },
    };
    Ok(events::response(
        source,
        node.settings.sse_keepalive,
        Some(node.draining.subscribe()),
    ))
}

/// The standalone stream itself: the session's unsolicited messages, each recorded as it goes out.
/// When the connection ends, what was still queued is recorded too (for a resumption to find) and
/// the stream is marked closed.
pub(super) struct Live {
    messages: mpsc::Receiver<Value>,
    info: Arc<SessionInfo>,
    stream: crate::session::replay::StreamId,
    window: Duration,
    primer: Option<Bytes>,
}

impl Live {
    async fn open(session: &SessionHandle, window: Duration) -> Result<Self, ()> {
        let messages = session.listen().await.map_err(|_| ())?;
        let info = Arc::clone(session.info());
        let stream = info.replay.open_stream(StreamKind::Standalone);
        // Priming events arrived with resumption in 2025-11-25; older clients may not expect them.
        let primes = info
            .protocol_version
            .get()
            .is_some_and(|v| v.as_str() >= crate::protocol::LATEST_SESSION_ERA);
        let primer = primes.then(|| info.replay.prime(stream, window));
        Ok(Self {
            messages,
            info,
            stream,
            window,
            primer,
        })
    }
}

impl EventSource for Live {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(primer) = self.primer.take() {
            return Some(primer);
        }
        let message = self.messages.recv().await?;
        Some(self.info.replay.record(self.stream, &message, false, self.window))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.messages.close();
        while let Ok(message) = self.messages.try_recv() {
            self.info.replay.record(self.stream, &message, false, self.window);
        }
        self.info.replay.close(self.stream, self.window);
        crate::session::replay::prune_later(&self.info, self.window);
    }
}

/// The earlier stream a resumption follows.
struct Following {
    log: SharedLog,
    label: Arc<str>,
    after: EventId,
    window: Duration,
}

/// A stream that first replays (and follows) an earlier stream from the replay log, then goes live.
pub(super) struct Resumed<L> {
    followed: Option<(SharedLog, Arc<str>)>,
    cursor: Option<EventId>,
    pending: VecDeque<Bytes>,
    finished: bool,
    window: Duration,
    /// When to stop waiting for a replaced standalone stream to close.
    handover_until: Option<tokio::time::Instant>,
    then: Option<L>,
}

impl<L: EventSource> Resumed<L> {
    fn live(live: L) -> Self {
        Self {
            followed: None,
            cursor: None,
            pending: VecDeque::new(),
            finished: true,
            window: Duration::ZERO,
            handover_until: None,
            then: Some(live),
        }
    }

    fn following(earlier: Following, frames: Vec<(EventId, Bytes)>, finished: bool, then: Option<L>) -> Self {
        let mut resumed = Self {
            followed: Some((earlier.log, earlier.label)),
            cursor: Some(earlier.after),
            pending: VecDeque::new(),
            finished,
            window: earlier.window,
            handover_until: then.is_some().then(|| tokio::time::Instant::now() + HANDOVER),
            then,
        };
        resumed.take(frames);
        resumed
    }

    fn take(&mut self, frames: Vec<(EventId, Bytes)>) {
        for (id, frame) in frames {
            self.cursor = Some(id);
            self.pending.push_back(frame);
        }
    }

    /// Waits for more of the followed stream; false once there is nothing more to wait for.
    async fn follow(&mut self) -> bool {
        let (Some((log, label)), Some(cursor)) = (self.followed.clone(), self.cursor) else {
            return false;
        };
        let replays: &ReplayLog = (*log).as_ref();
        let appended = replays.appended();
        tokio::pin!(appended);
        appended.as_mut().enable();
        match replays.replay(cursor, self.window) {
            Ok(replayed) => {
                self.finished = replayed.finished;
                let got = !replayed.frames.is_empty();
                self.take(replayed.frames);
                if got || self.finished {
                    return true;
                }
            }
            Err(e) => {
                tracing::debug!(session = %label, error = %e, "resumed stream fell out of the replay window");
                self.finished = true;
                return true;
            }
        }
        match self.handover_until {
            Some(until) => {
                if tokio::time::timeout_at(until, appended).await.is_err() {
                    // The old connection still has not been noticed as gone: go on without it.
                    self.finished = true;
                }
            }
            None => appended.await,
        }
        true
    }
}

impl<L: EventSource> EventSource for Resumed<L> {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.finished {
                return match &mut self.then {
                    Some(live) => live.next().await,
                    None => None,
                };
            }
            if !self.follow().await {
                self.finished = true;
            }
        }
    }
}

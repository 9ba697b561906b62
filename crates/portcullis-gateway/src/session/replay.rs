//! What a session's SSE streams sent, kept briefly so a session-era client that lost its connection
//! can come back with `Last-Event-ID` and get what it missed, exactly once and in order.
//!
//! Every event gets an id `<kind><stream>-<seq>`: `g` for the standalone (GET) stream, `r` for a
//! POST's response stream; `seq` grows across the whole session. Events are kept in seq order and
//! forgotten from the oldest, so when the event a client names is still kept, everything after it is
//! too; when it is not, the gap is reported rather than papered over.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Events kept per session at most, whatever their age.
const MAX_EVENTS: usize = 256;
/// Bytes kept per session at most: a larger answer is delivered but cannot be replayed (the
/// resumption is then refused, not silently short).
const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Which kind of stream an event belonged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// The standalone GET stream: server messages that belong to no request.
    Standalone,
    /// One POST's response stream: ends with the response.
    Response,
}

/// One stream of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamId {
    /// Its kind.
    pub kind: StreamKind,
    n: u64,
}

/// An event's id, as sent in `id:` and read back from `Last-Event-ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventId {
    /// The stream the event went out on.
    pub stream: StreamId,
    seq: u64,
}

impl EventId {
    /// Reads a `Last-Event-ID` value; `None` when it is not one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = match text.as_bytes().first()? {
            b'g' => (StreamKind::Standalone, &text[1..]),
            b'r' => (StreamKind::Response, &text[1..]),
            _ => return None,
        };
        let (n, seq) = rest.split_once('-')?;
        Some(Self {
            stream: StreamId {
                kind,
                n: n.parse().ok()?,
            },
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.stream.kind {
            StreamKind::Standalone => 'g',
            StreamKind::Response => 'r',
        };
        write!(f, "{kind}{}-{}", self.stream.n, self.seq)
    }
}

/// Why a stream cannot be resumed from an event.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The event is older than the replay window, or was never sent in this session.
    #[error("event {0} is no longer kept (or never was): what followed it cannot be replayed")]
    Gone(EventId),
}

/// What a resumed stream gets now.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The events after the named one, in order, with the seq of each.
    pub frames: Vec<(EventId, Bytes)>,
    /// Whether the stream has ended (its response was sent, or it was closed).
    pub finished: bool,
}

struct Entry {
    id: EventId,
    at: Instant,
    /// Empty for the marker that closes a standalone stream.
    frame: Bytes,
    last: bool,
}

#[derive(Default)]
struct Inner {
    next_stream: u64,
    next_seq: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// One session's recent events.
#[derive(Default)]
pub struct ReplayLog {
    inner: Mutex<Inner>,
    appended: Notify,
    /// A task will forget expired events (see [`prune_later`]).
    prune_scheduled: AtomicBool,
}

impl fmt::Debug for ReplayLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayLog")
            .field("events", &self.lock().entries.len())
            .finish()
    }
}

impl ReplayLog {
    /// A new stream's id.
    pub fn open_stream(&self, kind: StreamKind) -> StreamId {
        let mut inner = self.lock();
        inner.next_stream += 1;
        StreamId {
            kind,
            n: inner.next_stream,
        }
    }

    /// Frames `message` as an SSE `message` event with a fresh id, keeps it for `window`, and returns
    /// the frame. `last` marks a response stream's final event.
    pub fn record(&self, stream: StreamId, message: &Value, last: bool, window: Duration) -> Bytes {
        let data = serde_json::to_string(message).unwrap_or_default();
        let mut inner = self.lock();
        let id = EventId {
            stream,
            seq: inner.next_seq,
        };
        inner.next_seq += 1;
        let frame = Bytes::from(format!("id: {id}\nevent: message\ndata: {data}\n\n"));
        inner.push(id, frame.clone(), last, window);
        drop(inner);
        self.appended.notify_waiters();
        frame
    }

    /// A priming event for `stream`: an id and no data, so a client can resume even before the
    /// first message (2025-11-25). It is kept like any event, and replays as nothing.
    pub fn prime(&self, stream: StreamId, window: Duration) -> Bytes {
        let mut inner = self.lock();
        let id = EventId {
            stream,
            seq: inner.next_seq,
        };
        inner.next_seq += 1;
        inner.push(id, Bytes::new(), false, window);
        Bytes::from(format!("id: {id}\ndata:\n\n"))
    }

    /// Notes that a standalone stream ended, so a resumption knows nothing more will come on it.
    pub fn close(&self, stream: StreamId, window: Duration) {
        let mut inner = self.lock();
        let id = EventId {
            stream,
            seq: inner.next_seq,
        };
        inner.next_seq += 1;
        inner.push(id, Bytes::new(), true, window);
        drop(inner);
        self.appended.notify_waiters();
    }

    /// The events of `after`'s stream that followed it.
    ///
    /// # Errors
    /// [`ReplayError::Gone`] when `after` is not kept: then what followed it may be lost.
    pub fn replay(&self, after: EventId, window: Duration) -> Result<Replayed, ReplayError> {
        let mut inner = self.lock();
        inner.prune(Instant::now(), window);
        if !inner.entries.iter().any(|e| e.id == after) {
            return Err(ReplayError::Gone(after));
        }
        let mut out = Replayed::default();
        for entry in inner
            .entries
            .iter()
            .filter(|e| e.id.stream == after.stream && e.id.seq > after.seq)
        {
            if !entry.frame.is_empty() {
                out.frames.push((entry.id, entry.frame.clone()));
            }
            out.finished |= entry.last;
        }
        out.finished |= inner.entries.iter().any(|e| e.id == after && e.last);
        Ok(out)
    }

    /// Resolves when an event is appended after this call began (register before checking).
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// Forgets what is past the window; returns how many events are left.
    pub fn prune(&self, window: Duration) -> usize {
        let mut inner = self.lock();
        inner.prune(Instant::now(), window);
        inner.entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What owns a replay log (a session's info, an aggregate session), shared with its streams.
pub type SharedLog = Arc<dyn AsRef<ReplayLog> + Send + Sync>;

/// Called when a stream ends: once its events are past the window they are forgotten, so an idle
/// session keeps nothing (one task per session at most, not one per stream). `holder` is what owns
/// the log (the session's info), kept alive until then.
pub fn prune_later<H>(holder: &Arc<H>, window: Duration)
where
    H: AsRef<ReplayLog> + Send + Sync + ?Sized + 'static,
{
    let log: &ReplayLog = (**holder).as_ref();
    if log.prune_scheduled.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        log.prune_scheduled.store(false, Ordering::Release);
        return;
    };
    let holder = Arc::clone(holder);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(window + Duration::from_millis(10)).await;
            let log: &ReplayLog = (*holder).as_ref();
            if log.prune(window) == 0 {
                log.prune_scheduled.store(false, Ordering::Release);
                return;
            }
        }
    });
}

impl AsRef<ReplayLog> for ReplayLog {
    fn as_ref(&self) -> &ReplayLog {
        self
    }
}

impl AsRef<ReplayLog> for super::SessionInfo {
    fn as_ref(&self) -> &ReplayLog {
        &self.replay
    }
}

impl Inner {
    fn push(&mut self, id: EventId, frame: Bytes, last: bool, window: Duration) {
        let now = Instant::now();
        self.bytes += frame.len();
        self.entries.push_back(Entry {
            id,
            at: now,
            frame,
            last,
        });
        self.prune(now, window);
    }

    /// Forgets from the oldest: past the window, or beyond the count and byte bounds.
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(oldest) = self.entries.front() {
            let expired = now.saturating_duration_since(oldest.at) > window;
            if !expired && self.entries.len() <= MAX_EVENTS && self.bytes <= MAX_BYTES {
                break;
            }
            self.bytes -= oldest.frame.len();
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const WINDOW: Duration = Duration::from_secs(30);

    fn id_of(frame: &Bytes) -> EventId {
        let text = std::str::from_utf8(frame).unwrap();
        let id = text.lines().next().unwrap().strip_prefix("id: ").unwrap();
        EventId::parse(id).unwrap()
    }

    #[test]
    fn ids_round_trip_and_foreign_ids_are_refused() {
        let log = ReplayLog::default();
        let stream = log.open_stream(StreamKind::Response);
        let id = id_of(&log.record(stream, &json!({"a": 1}), false, WINDOW));
        assert_eq!(EventId::parse(&id.to_string()), Some(id));
        for bad in ["", "x1-2", "g1", "g-1", "r1-x", "42"] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_stream_replays_only_its_own_later_events_then_says_it_ended() {
        let log = ReplayLog::default();
        let post = log.open_stream(StreamKind::Response);
        let get = log.open_stream(StreamKind::Standalone);
        let first = id_of(&log.record(post, &json!(1), false, WINDOW));
        log.record(get, &json!("other stream"), false, WINDOW);
        log.record(post, &json!(2), false, WINDOW);
        let so_far = log.replay(first, WINDOW).unwrap();
        assert_eq!(so_far.frames.len(), 1);
        assert!(!so_far.finished);
        log.record(post, &json!(3), true, WINDOW);
        let all = log.replay(first, WINDOW).unwrap();
        let seqs: Vec<u64> = all.frames.iter().map(|(id, _)| id.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert!(all.finished);
        assert!(log.replay(all.frames[1].0, WINDOW).unwrap().finished);
    }

    #[tokio::test]
    async fn an_idle_log_forgets_everything_once_the_window_has_passed() {
        let window = Duration::from_millis(50);
        let log = Arc::new(ReplayLog::default());
        let stream = log.open_stream(StreamKind::Response);
        let id = id_of(&log.record(stream, &json!(1), true, window));
        prune_later(&log, window);
        prune_later(&log, window);
        assert!(log.replay(id, window).is_ok(), "kept within the window");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(log.lock().entries.len(), 0);
        assert!(
            !log.prune_scheduled.load(Ordering::Acquire),
            "the pruner finished"
        );
    }

    #[test]
    fn forgotten_events_are_a_gap_not_an_empty_replay() {
        let log = ReplayLog::default();
        let stream = log.open_stream(StreamKind::Standalone);
        let first = id_of(&log.record(stream, &json!(0), false, WINDOW));
        for i in 0..MAX_EVENTS {
            log.record(stream, &json!(i), false, WINDOW);
        }
        assert!(matches!(log.replay(first, WINDOW), Err(ReplayError::Gone(_))));
        let never = EventId::parse("g1-999999").unwrap();
        assert!(log.replay(never, WINDOW).is_err());
        let primed = log.prime(stream, WINDOW);
        assert!(primed.starts_with(b"id: g1-"));
        std::thread::sleep(Duration::from_millis(2));
        let window = Duration::from_millis(1);
        assert!(log.replay(id_of(&primed), window).is_err(), "past the window");
    }
}

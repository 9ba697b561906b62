//! The upstream's standalone stream: a GET on which a Streamable HTTP server sends what belongs to
//! no request (a sampling request it relates to no call, list changes). A session opens it while its
//! client listens, or, for a 2026-07-28 client, for its calls (see `session::upstream_stream`). A
//! request posted while the stream is first being opened waits for it, briefly, so a
//! server that asks its client something during that request finds the stream there (a 1.x Python
//! server drops a message for a stream that is not open yet).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use tokio::sync::watch;

use super::{Exchange, ExchangeError, HttpSender};
use crate::protocol::{SESSION_HEADER, STATELESS};

/// `Last-Event-ID`.
const LAST_EVENT_ID: &str = "last-event-id";

/// How long the upstream may take to answer the GET's head.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a stream being opened before it is posted anyway.
const SETTLE_PATIENCE: Duration = Duration::from_secs(2);

/// Where the standalone stream stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Nobody follows it.
    #[default]
    Idle,
    /// Wanted, but the upstream has not been initialized yet.
    Waiting,
    /// The first GET is on its way: requests wait for it.
    Connecting,
    /// Open, or being reopened.
    Followed,
    /// The upstream answered 405 (or speaks 2026-07-28): it has none, for the session's life.
    Absent,
}

/// The stream's phase, shared by the session's senders.
#[derive(Debug, Default)]
pub(super) struct StreamGate(watch::Sender<Phase>);

impl StreamGate {
    /// The upstream answered `initialize`: a stream waiting for that is opened now. Set here rather
    /// than when the opening task wakes, so the client's next request already waits for it.
    pub(super) fn initialized(&self, version: &str) {
        self.0.send_if_modified(|phase| {
            if *phase != Phase::Waiting {
                return false;
            }
            *phase = if version == STATELESS {
                Phase::Absent
            } else {
                Phase::Connecting
            };
            true
        });
    }
}

/// Why the upstream gave no standalone stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamRefused {
    /// 405: the server offers none (allowed by the spec; nothing to retry).
    #[error("upstream offers no standalone stream")]
    Unsupported,
    /// The upstream forgot the session.
    #[error("upstream session expired")]
    Expired,
    /// Unreachable, an HTTP error, or not an event stream; worth retrying later.
    #[error("{0}")]
    Failed(String),
}

impl HttpSender {
    /// The session will open its standalone stream: from now on requests wait for it (once the
    /// upstream is initialized). Called before the client's stream is answered, so the client's
    /// next request already waits. `false` when the upstream has none.
    pub fn want_stream(&self) -> bool {
        if *self.0.stream.0.borrow() == Phase::Absent {
            return false;
        }
        let phase = match &self.lock().version {
            None => Phase::Waiting,
            Some(version) if version.as_bytes() == STATELESS.as_bytes() => Phase::Absent,
            Some(_) => Phase::Connecting,
        };
        self.0.stream.0.send_replace(phase);
        phase != Phase::Absent
    }

    /// Whether nobody follows the standalone stream though the upstream may have one.
    pub fn stream_unfollowed(&self) -> bool {
        *self.0.stream.0.borrow() == Phase::Idle
    }

    /// Waits until the upstream has been initialized (at once when it already was). Returns whether
    /// it has a standalone stream to open.
    pub async fn await_initialized(&self) -> bool {
        let mut phase = self.0.stream.0.subscribe();
        let _ = phase.wait_for(|p| *p != Phase::Waiting).await;
        self.lock()
            .version
            .as_ref()
            .is_some_and(|v| v.as_bytes() != STATELESS.as_bytes())
    }

    /// GETs the standalone stream, resuming after `last_event_id` when given. Requests wait for the
    /// first opening only (see [`Self::want_stream`]): an upstream slow to answer GETs must not slow
    /// every request while the stream is reopened again and again.
    ///
    /// # Errors
    /// Why the upstream gave none (see [`StreamRefused`]).
    pub async fn open_stream(&self, last_event_id: Option<&str>) -> Result<Exchange, StreamRefused> {
        let opened = self.get(last_event_id).await;
        let phase = match &opened {
            Err(StreamRefused::Unsupported) => Phase::Absent,
            _ => Phase::Followed,
        };
        self.0.stream.0.send_replace(phase);
        opened
    }

    /// Nobody follows the stream any more (unless the upstream has none anyway).
    pub fn stream_unwanted(&self) {
        self.0.stream.0.send_if_modified(|phase| {
            if *phase == Phase::Absent || *phase == Phase::Idle {
                return false;
            }
            *phase = Phase::Idle;
            true
        });
    }

    /// Waits (at most a short while) until a standalone stream being opened is open.
    pub async fn stream_ready(&self) {
        // Not while `Waiting`: the request may be the very `initialize` the stream waits for.
        if *self.0.stream.0.borrow() != Phase::Connecting {
            return;
        }
        let mut phase = self.0.stream.0.subscribe();
        let _ = tokio::time::timeout(SETTLE_PATIENCE, phase.wait_for(|p| *p != Phase::Connecting)).await;
    }

    async fn get(&self, last_event_id: Option<&str>) -> Result<Exchange, StreamRefused> {
        let mut request = self
            .request(Method::GET, Full::new(Bytes::new()))
            .map_err(|e| StreamRefused::Failed(e.to_string()))?;
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        headers.remove(CONTENT_TYPE);
        if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            headers.insert(LAST_EVENT_ID, id);
        }
        let named_session = headers.contains_key(SESSION_HEADER);
        let response = tokio::time::timeout(OPEN_TIMEOUT, self.0.client.0.request(request))
            .await
            .map_err(|_| {
                StreamRefused::Failed("upstream did not answer the stream's GET in time".to_owned())
            })?
            .map_err(|e| StreamRefused::Failed(format!("upstream unreachable: {e}")))?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamRefused::Unsupported);
        }
        if status == StatusCode::NOT_FOUND && named_session {
            return Err(StreamRefused::Expired);
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !status.is_success() || !is_sse {
            return Err(StreamRefused::Failed(format!(
                "upstream answered the stream's GET with HTTP {status}{}",
                if is_sse { "" } else { " and no event stream" }
            )));
        }
        Exchange::answered(response, named_session).map_err(|e| match e {
            ExchangeError::Expired => StreamRefused::Expired,
            ExchangeError::Failed(reason) => StreamRefused::Failed(reason),
        })
    }
}

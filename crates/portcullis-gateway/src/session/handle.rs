//! The typed front of a session actor: bounded (a semaphore caps queued requests), every call timed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, MessagingErr};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

use super::SessionError;
use super::actor::SessionMsg;
use crate::counters::MemoryCounters;

/// How many messages one request's reply stream may buffer (progress, logs, then the response).
const REPLY_BUFFER: usize = 32;

/// What a session is, independent of its actor.
#[derive(Debug)]
pub struct SessionInfo {
    /// The session id (`Mcp-Session-Id`, or an internal key for stateless clients).
    pub id: Arc<str>,
    /// The grant that opened it (`anonymous` for anonymous access).
    pub grant: Arc<str>,
    /// The upstream server.
    pub server: Arc<str>,
    /// The protocol version the client negotiated, once known.
    pub protocol_version: OnceLock<String>,
    /// For stateless sessions: the upstream's `initialize` result, to answer `server/discover`.
    pub upstream_init: OnceLock<Value>,
    /// Per-session counters.
    pub counters: Arc<MemoryCounters>,
    /// When it was opened (for operators: its age).
    pub opened_at: std::time::Instant,
    /// Requests forwarded so far (for operators).
    pub calls: AtomicU64,
}

/// A cheap, cloneable handle on a session actor.
#[derive(Clone)]
pub struct SessionHandle {
    info: Arc<SessionInfo>,
    actor: ActorRef<SessionMsg>,
    permits: Arc<Semaphore>,
    last_used_ms: Arc<AtomicU64>,
    epoch: tokio::time::Instant,
}

impl SessionHandle {
    pub(super) fn new(
        info: Arc<SessionInfo>,
        actor: ActorRef<SessionMsg>,
        queue: usize,
        epoch: tokio::time::Instant,
    ) -> Self {
        let handle = Self {
            info,
            actor,
            permits: Arc::new(Semaphore::new(queue)),
            last_used_ms: Arc::new(AtomicU64::new(0)),
            epoch,
        };
        handle.touch();
        handle
    }

    /// The session's identity and counters.
    pub fn info(&self) -> &Arc<SessionInfo> {
        &self.info
    }

    /// Forwards a request. Returns the gateway-assigned upstream id and the stream of messages for it:
    /// anything the upstream sends about this request, ending with its response.
    ///
    /// # Errors
    /// When the session is busy, ended, slow to acknowledge, or the upstream refused the message.
    pub async fn request(
        &self,
        message: Value,
        ack_timeout: Duration,
    ) -> Result<(u64, mpsc::Receiver<Value>), SessionError> {
        self.touch();
        self.info.calls.fetch_add(1, Ordering::Relaxed);
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| SessionError::Busy)?;
        let (reply, replies) = mpsc::channel(REPLY_BUFFER);
        let sent = self
            .actor
            .call(
                |ack| SessionMsg::Request {
                    message,
                    reply,
                    ack,
                    permit,
                },
                Some(ack_timeout),
            )
            .await;
        match sent {
            Ok(CallResult::Success(Ok(upstream_id))) => Ok((upstream_id, replies)),
            Ok(CallResult::Success(Err(e))) => Err(e.into()),
            Ok(CallResult::Timeout) => Err(SessionError::Timeout),
            Ok(CallResult::SenderError) | Err(_) => Err(SessionError::Ended),
        }
    }

    /// Forwards a notification or a response to an upstream request.
    ///
    /// # Errors
    /// When the session is busy or ended.
    pub fn notify(&self, message: Value) -> Result<(), SessionError> {
        self.touch();
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| SessionError::Busy)?;
        self.actor
            .cast(SessionMsg::Notify { message, permit })
            .map_err(|_: MessagingErr<_>| SessionError::Ended)
    }

    /// Opens the client's standalone stream (replacing an earlier one): server messages that belong to
    /// no request arrive on it.
    ///
    /// # Errors
    /// When the session has ended.
    pub fn listen(&self) -> Result<mpsc::Receiver<Value>, SessionError> {
        self.touch();
        let (stream, messages) = mpsc::channel(REPLY_BUFFER);
        self.actor
            .cast(SessionMsg::Listen { stream })
            .map_err(|_: MessagingErr<_>| SessionError::Ended)?;
        Ok(messages)
    }

    /// Gives up on a request: the upstream is told, and its reply stream closes.
    pub fn cancel(&self, upstream_id: u64, reason: &'static str) {
        let _ = self.actor.cast(SessionMsg::Cancel { upstream_id, reason });
    }

    /// Ends the session; its upstream process stops.
    pub fn stop(&self, reason: &str) {
        self.actor.stop(Some(reason.to_owned()));
    }

    /// How long since the session was last used.
    pub fn idle_for(&self) -> Duration {
        let now = self.elapsed_ms();
        Duration::from_millis(now.saturating_sub(self.last_used_ms.load(Ordering::Relaxed)))
    }

    /// Whether requests are queued or in flight.
    pub fn is_busy(&self, queue: usize) -> bool {
        self.permits.available_permits() < queue
    }

    fn touch(&self) {
        self.last_used_ms.store(self.elapsed_ms(), Ordering::Relaxed);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn actor_id(&self) -> ractor::ActorId {
        self.actor.get_id()
    }
}

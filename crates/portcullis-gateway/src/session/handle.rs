//! The typed front of a session: bounded (a semaphore caps queued requests), every call timed.
//!
//! Requests to an HTTP upstream go straight from the request's task to the upstream through the
//! session's [`HttpSender`] (see [`super::direct`]): no hop through the actor's mailbox. The actor keeps
//! what must be serialised per session (a stdio upstream, the client's standalone stream, messages
//! parked for it). It may be asleep: a quiet session's actor stops and the handle (identity, grant,
//! counters, upstream session) stays in the registry as a compact record; whatever needs the actor
//! again spawns a new one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorId, ActorRef, MessagingErr};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

use super::SessionError;
use super::actor::SessionMsg;
use super::direct::{DirectCall, InFlight, ReplyStream};
use super::registry::Sessions;
use crate::counters::MemoryCounters;
use crate::jsonrpc;
use crate::state::UpstreamSpec;
use crate::upstream::HttpSender;

/// How many messages one request's reply stream may buffer (progress, logs, then the response).
const REPLY_BUFFER: usize = 32;

/// How long the actor may take to acknowledge a new standalone stream.
const LISTEN_ACK: Duration = Duration::from_secs(5);

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
    /// For an upstream that speaks only 2026-07-28: the `_meta` envelope its requests carry.
    pub upstream_envelope: OnceLock<serde_json::Map<String, Value>>,
    /// Per-session counters.
    pub counters: Arc<MemoryCounters>,
    /// Recent SSE events, for clients that resume with `Last-Event-ID`.
    pub replay: super::replay::ReplayLog,
    /// When it was opened (for operators: its age).
    pub opened_at: std::time::Instant,
    /// Requests forwarded so far (for operators).
    pub calls: AtomicU64,
    /// The gateway's questions to the client on a 2026-07-28 upstream's behalf, awaiting answers.
    pub client_answers: super::answers::ClientAnswers,
    /// Requests the upstream sent on its standalone stream, relayed to the client under node-unique ids.
    pub server_requests: super::server_requests::ServerRequests,
}

impl SessionInfo {
    /// Whether the gateway initialized the upstream on behalf of 2026-07-28 clients: they have no
    /// stream of their own, and are asked only within their calls, as input requests.
    pub fn serves_stateless_client(&self) -> bool {
        self.upstream_init.get().is_some()
    }
}

/// Everything a session keeps, awake or asleep.
struct Core {
    info: Arc<SessionInfo>,
    upstream: UpstreamSpec,
    /// For HTTP upstreams: posts from the request's own task; holds the upstream session.
    direct: Option<HttpSender>,
    /// `None` while the session sleeps.
    actor: Mutex<Option<ActorRef<SessionMsg>>>,
    /// Requests posted directly and not yet answered (for the client's cancellations).
    in_flight: InFlight,
    /// Ids for requests sent directly (an HTTP session never sends through its actor).
    next_id: AtomicU64,
    permits: Semaphore,
    queue: usize,
    last_used_ms: AtomicU64,
    epoch: tokio::time::Instant,
    closed: AtomicBool,
    sessions: Weak<Sessions>,
}

/// A cheap, cloneable handle on a session.
#[derive(Clone)]
pub struct SessionHandle(Arc<Core>);

/// What a new handle is made of (see [`SessionHandle::new`]).
pub(super) struct HandleParts {
    pub(super) info: Arc<SessionInfo>,
    pub(super) upstream: UpstreamSpec,
    pub(super) direct: Option<HttpSender>,
    pub(super) queue: usize,
    pub(super) epoch: tokio::time::Instant,
    pub(super) sessions: Weak<Sessions>,
}

impl SessionHandle {
    /// A session with no actor yet.
    pub(super) fn new(parts: HandleParts) -> Self {
        let handle = Self(Arc::new(Core {
            info: parts.info,
            upstream: parts.upstream,
            direct: parts.direct,
            actor: Mutex::new(None),
            in_flight: InFlight::default(),
            next_id: AtomicU64::new(1),
            permits: Semaphore::new(parts.queue),
            queue: parts.queue,
            last_used_ms: AtomicU64::new(0),
            epoch: parts.epoch,
            closed: AtomicBool::new(false),
            sessions: parts.sessions,
        }));
        handle.touch();
        handle
    }

    /// The session's identity and counters.
    pub fn info(&self) -> &Arc<SessionInfo> {
        &self.0.info
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
    ) -> Result<(u64, ReplyStream), SessionError> {
        self.touch();
        self.0.info.calls.fetch_add(1, Ordering::Relaxed);
        let permit = self.permit()?;
        let message = self.dress(message);
        if let Some(sender) = &self.0.direct {
            self.follow_for_calls().await;
            let upstream_id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
            let call = DirectCall::new(self.clone(), sender.clone(), message, upstream_id, permit);
            return Ok((upstream_id, ReplyStream::Direct(Box::new(call))));
        }
        let actor = self.awake_actor().await?;
        let (reply, replies) = mpsc::channel(REPLY_BUFFER);
        let sent = actor
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
            Ok(CallResult::Success(Ok(upstream_id))) => Ok((upstream_id, ReplyStream::Actor(replies))),
            Ok(CallResult::Success(Err(e))) => Err(e.into()),
            Ok(CallResult::Timeout) => Err(SessionError::Timeout),
            Ok(CallResult::SenderError) | Err(_) => Err(SessionError::Ended),
        }
    }

    /// Forwards a notification or a response to an upstream request.
    ///
    /// # Errors
    /// When the session is busy or ended.
    pub async fn notify(&self, message: Value) -> Result<(), SessionError> {
        self.touch();
        if self.is_moot(&message) {
            return Ok(());
        }
        let Some(message) = self.0.info.client_answers.claim(message) else {
            return Ok(());
        };
        let Some(message) = self.0.info.server_requests.claim(message) else {
            return Ok(());
        };
        let permit = self.permit()?;
        if let Some(sender) = &self.0.direct {
            let message = if jsonrpc::method(&message) == Some(super::cancel::CANCELLED) {
                self.0.in_flight.cancel(message)
            } else {
                Some(message)
            };
            if let Some(message) = message {
                sender.post_detached(&message);
            }
            return Ok(());
        }
        self.awake_actor()
            .await?
            .cast(SessionMsg::Notify { message, permit })
            .map_err(|_: MessagingErr<_>| SessionError::Ended)
    }

    /// Opens the client's standalone stream (replacing an earlier one): server messages that belong to
    /// no request arrive on it.
    ///
    /// # Errors
    /// When the session has ended.
    pub async fn listen(&self) -> Result<mpsc::Receiver<Value>, SessionError> {
        self.touch();
        let (stream, messages) = mpsc::channel(REPLY_BUFFER);
        // A call, not a cast: once it returns, a request the client sends next waits for the
        // upstream's standalone stream being opened (see `upstream_stream`).
        let listened = self
            .awake_actor()
            .await?
            .call(|ack| SessionMsg::Listen { stream, ack }, Some(LISTEN_ACK))
            .await;
        match listened {
            Ok(CallResult::Success(())) => Ok(messages),
            Ok(CallResult::Timeout) => Err(SessionError::Timeout),
            Ok(CallResult::SenderError) | Err(_) => Err(SessionError::Ended),
        }
    }

    /// The requests posted directly and not yet answered.
    pub(super) fn in_flight(&self) -> &InFlight {
        &self.0.in_flight
    }

    /// Gives up on a request: the upstream is told, and its reply stream closes.
    pub fn cancel(&self, upstream_id: u64, reason: &'static str) {
        if let Some(sender) = &self.0.direct {
            sender.post_detached(&super::direct::cancelled(upstream_id, reason));
        } else if let Some(actor) = self.actor_now() {
            let _ = actor.cast(SessionMsg::Cancel { upstream_id, reason });
        }
    }

    /// Ends the session; its upstream process stops, or its upstream HTTP session is deleted.
    pub fn stop(&self, reason: &str) {
        self.0.closed.store(true, Ordering::Release);
        match (self.actor_now(), &self.0.direct) {
            (Some(actor), _) => actor.stop(Some(reason.to_owned())),
            (None, Some(sender)) => sender.end_session(),
            (None, None) => {}
        }
    }

    /// Ends the session and waits, at most `patience`, until its actor has stopped and so dropped its
    /// upstream (a child process is killed by its pid then). Returns whether it stopped in time.
    pub async fn stop_and_wait(&self, reason: &str, patience: Duration) -> bool {
        self.0.closed.store(true, Ordering::Release);
        let Some(actor) = self.actor_now() else {
            self.stop(reason);
            return true;
        };
        // Any other error means the actor was already gone.
        !matches!(
            actor.stop_and_wait(Some(reason.to_owned()), Some(patience)).await,
            Err(ractor::RactorErr::Timeout)
        )
    }

    /// How long since the session was last used.
    pub fn idle_for(&self) -> Duration {
        let now = self.elapsed_ms();
        Duration::from_millis(now.saturating_sub(self.0.last_used_ms.load(Ordering::Relaxed)))
    }

    /// Whether requests are queued or in flight.
    pub fn is_busy(&self) -> bool {
        self.0.permits.available_permits() < self.0.queue
    }

    /// Whether the session's actor is stopped until something needs it.
    pub fn is_asleep(&self) -> bool {
        self.actor_now().is_none()
    }

    /// Whether the session may sleep at all: only an HTTP upstream's session outlives its actor (a
    /// stdio upstream is a process the actor owns).
    pub(super) fn can_sleep(&self) -> bool {
        self.0.direct.is_some()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    pub(super) fn upstream(&self) -> &UpstreamSpec {
        &self.0.upstream
    }

    pub(super) fn direct(&self) -> Option<&HttpSender> {
        self.0.direct.as_ref()
    }

    pub(super) fn actor_now(&self) -> Option<ActorRef<SessionMsg>> {
        self.0
            .actor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set_actor(&self, actor: ActorRef<SessionMsg>) {
        *self.0.actor.lock().unwrap_or_else(PoisonError::into_inner) = Some(actor);
    }

    /// Detaches `actor` (going to sleep); false when another actor has taken over meanwhile.
    pub(super) fn release_actor(&self, actor: ActorId) -> bool {
        let mut slot = self.0.actor.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().map(|a| a.get_id()) == Some(actor) {
            *slot = None;
            return true;
        }
        false
    }

    /// The session's actor, woken (spawned again) when asleep.
    ///
    /// # Errors
    /// When the session has ended or its actor cannot start.
    pub(super) async fn awake_actor(&self) -> Result<ActorRef<SessionMsg>, SessionError> {
        if let Some(actor) = self.actor_now() {
            return Ok(actor);
        }
        let sessions = self.0.sessions.upgrade().ok_or(SessionError::Ended)?;
        sessions.wake(self).await
    }

    pub(super) fn actor_id(&self) -> Option<ActorId> {
        self.actor_now().map(|a| a.get_id())
    }

    pub(super) fn sessions(&self) -> Option<Arc<Sessions>> {
        self.0.sessions.upgrade()
    }

    fn permit(&self) -> Result<Permit, SessionError> {
        self.0
            .permits
            .try_acquire()
            .map_err(|_| SessionError::Busy)?
            .forget();
        Ok(Permit(self.clone()))
    }

    /// Marks the session used now (idle expiry counts from here).
    pub fn touch(&self) {
        self.0.last_used_ms.store(self.elapsed_ms(), Ordering::Relaxed);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// One place in the session's queue, given back when dropped (with the request's response, or when a
/// queued message is handled).
pub struct Permit(SessionHandle);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.0.permits.add_permits(1);
    }
}

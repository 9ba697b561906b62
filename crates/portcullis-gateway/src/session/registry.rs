//! Finding sessions: a concurrent map from id to handle, so lookups never queue behind one mailbox.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use ractor::{Actor, ActorRef};
use serde_json::Value;

use super::SessionError;
use super::actor::{SessionActor, SessionArgs, SessionMsg};
use super::handle::{HandleParts, SessionHandle, SessionInfo};
use super::id::{looks_minted, mint_session_id};
use crate::counters::MemoryCounters;
use crate::state::{ServerEntry, UpstreamSpec};
use crate::upstream::{HttpClient, HttpSender};

/// Every live session on this node.
pub struct Sessions {
    map: DashMap<Arc<str>, SessionHandle>,
    /// Serialises the opening of stateless sessions, so two first requests share one upstream.
    stateless_open: tokio::sync::Mutex<()>,
    /// Serialises waking sleeping sessions, so one session never gets two actors.
    waking: tokio::sync::Mutex<()>,
    http: HttpClient,
    queue: usize,
    max_sessions: usize,
    epoch: tokio::time::Instant,
}

impl Sessions {
    /// An empty registry; `queue` bounds each session's queued requests, `max_sessions` their number.
    pub fn new(http: HttpClient, queue: usize, max_sessions: usize) -> Arc<Self> {
        Arc::new(Self {
            map: DashMap::new(),
            stateless_open: tokio::sync::Mutex::new(()),
            waking: tokio::sync::Mutex::new(()),
            http,
            queue,
            max_sessions,
            epoch: tokio::time::Instant::now(),
        })
    }

    /// The HTTP client sessions share (legacy SSE upstreams open their streams with it).
    pub(super) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The session a client named in `Mcp-Session-Id`.
    pub fn get(&self, id: &str) -> Option<SessionHandle> {
        if !looks_minted(id) {
            return None;
        }
        self.map.get(id).map(|entry| entry.value().clone())
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The open sessions' descriptions (for operators), in no particular order.
    pub fn list(&self) -> Vec<Arc<SessionInfo>> {
        self.map
            .iter()
            .map(|entry| Arc::clone(entry.value().info()))
            .collect()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Opens a session-era session with a freshly minted id.
    ///
    /// # Errors
    /// When no id can be minted or the upstream cannot be started.
    pub async fn open(
        self: &Arc<Self>,
        server: &ServerEntry,
        grant: Arc<str>,
    ) -> Result<SessionHandle, SessionError> {
        let id = mint_session_id()
            .ok_or_else(|| SessionError::Spawn("no randomness for a session id".to_owned()))?;
        self.spawn(Arc::from(id), server, grant).await
    }

    /// The stateless session of `grant` on `server` (one per client-chosen `key`, plus one without),
    /// opened and initialized with `init` on first use. `init` sends the gateway's own `initialize`
    /// and returns the upstream's result.
    ///
    /// # Errors
    /// When the upstream cannot be started or initialized.
    pub async fn stateless<F, Fut>(
        self: &Arc<Self>,
        server: &ServerEntry,
        grant: Arc<str>,
        key: Option<&str>,
        init: F,
    ) -> Result<SessionHandle, SessionError>
    where
        F: FnOnce(SessionHandle) -> Fut,
        Fut: std::future::Future<Output = Result<Value, SessionError>>,
    {
        let key = stateless_key(&server.name, &grant, key);
        if let Some(found) = self.map.get(&key) {
            return Ok(found.value().clone());
        }
        let _guard = self.stateless_open.lock().await;
        if let Some(found) = self.map.get(&key) {
            return Ok(found.value().clone());
        }
        let handle = self.spawn(Arc::clone(&key), server, grant).await?;
        match init(handle.clone()).await {
            Ok(result) => {
                let _ = handle.info().upstream_init.set(result);
                Ok(handle)
            }
            Err(e) => {
                self.close(&key);
                Err(e)
            }
        }
    }

    pub(super) async fn spawn(
        self: &Arc<Self>,
        id: Arc<str>,
        server: &ServerEntry,
        grant: Arc<str>,
    ) -> Result<SessionHandle, SessionError> {
        // Checked before spawning; concurrent opens may pass it together, a bounded overshoot.
        if self.map.len() >= self.max_sessions {
            return Err(SessionError::TooMany);
        }
        let info = Arc::new(SessionInfo {
            id: Arc::clone(&id),
            grant,
            server: Arc::clone(&server.name),
            protocol_version: OnceLock::new(),
            upstream_init: OnceLock::new(),
            upstream_envelope: OnceLock::new(),
            counters: Arc::new(MemoryCounters::new()),
            replay: Default::default(),
            opened_at: std::time::Instant::now(),
            calls: std::sync::atomic::AtomicU64::new(0),
            client_answers: Default::default(),
            server_requests: Default::default(),
        });
        let direct = match &server.upstream {
            UpstreamSpec::Http { url } => Some(HttpSender::new(url, self.http.clone())?),
            // The actor owns a stdio child or a legacy SSE stream: those sessions never sleep.
            UpstreamSpec::Stdio { .. } | UpstreamSpec::Sse { .. } => None,
        };
        let handle = SessionHandle::new(HandleParts {
            info,
            upstream: server.upstream.clone(),
            direct,
            queue: self.queue,
            epoch: self.epoch,
            sessions: Arc::downgrade(self),
        });
        // A stdio session starts its process now, so a bad command fails the open; an HTTP session
        // starts asleep: requests go straight to the upstream, and its actor comes when needed.
        if !handle.can_sleep() {
            self.start_actor(&handle).await?;
        }
        self.map.insert(id, handle.clone());
        tracing::debug!(session = %handle.info().id, server = %server.name, "session opened");
        Ok(handle)
    }

    /// Ends a session (DELETE, failed initialize, idle expiry).
    pub fn close(&self, id: &str) -> bool {
        match self.map.remove(id) {
            Some((_, handle)) => {
                handle.stop("session closed");
                true
            }
            None => false,
        }
    }

    /// The actor of a sleeping `handle`, spawned again (or the one another caller just woke).
    pub(super) async fn wake(
        self: &Arc<Self>,
        handle: &SessionHandle,
    ) -> Result<ActorRef<SessionMsg>, SessionError> {
        let _guard = self.waking.lock().await;
        if let Some(actor) = handle.actor_now() {
            return Ok(actor);
        }
        if handle.is_closed() {
            return Err(SessionError::Ended);
        }
        tracing::debug!(session = %handle.info().id, "session woken");
        self.start_actor(handle).await
    }

    async fn start_actor(
        self: &Arc<Self>,
        handle: &SessionHandle,
    ) -> Result<ActorRef<SessionMsg>, SessionError> {
        let args = SessionArgs {
            handle: handle.clone(),
            sessions: Arc::clone(self),
        };
        let (actor, _join) = Actor::spawn(None, SessionActor, args)
            .await
            .map_err(|e| SessionError::Spawn(e.to_string()))?;
        handle.set_actor(actor.clone());
        Ok(actor)
    }

    /// Called by a stopping actor: removes its entry unless a newer session took the id.
    pub(super) fn forget(&self, id: &str, actor: ractor::ActorId) {
        self.map
            .remove_if(id, |_, handle| handle.actor_id() == Some(actor));
    }

    /// Asks the actors of sessions quiet for `quiet` to sleep; returns how many were asked.
    pub fn hibernate_quiet(&self, quiet: Duration) -> usize {
        let mut asked = 0;
        for entry in &self.map {
            let handle = entry.value();
            if handle.can_sleep()
                && handle.idle_for() >= quiet
                && !handle.is_busy()
                && let Some(actor) = handle.actor_now()
                && actor.cast(SessionMsg::Hibernate).is_ok()
            {
                asked += 1;
            }
        }
        asked
    }

    /// How many sessions sleep (no actor).
    pub fn asleep(&self) -> usize {
        self.map.iter().filter(|e| e.value().is_asleep()).count()
    }

    /// Closes sessions idle for longer than `timeout` with nothing in flight; returns their ids.
    pub fn reap_idle(&self, timeout: Duration) -> Vec<Arc<str>> {
        let mut idle: Vec<Arc<str>> = self
            .map
            .iter()
            .filter(|e| e.value().idle_for() >= timeout && !e.value().is_busy())
            .map(|e| Arc::clone(e.key()))
            .collect();
        idle.retain(|id| self.close(id));
        idle
    }

    /// Closes every session (graceful shutdown).
    pub fn close_all(&self) {
        let ids: Vec<Arc<str>> = self.map.iter().map(|e| Arc::clone(e.key())).collect();
        for id in ids {
            self.close(&id);
        }
    }
}

/// The registry key of a stateless session. Lengths prefix the parts, so no grant id or client key
/// can be crafted to collide with another's; none of these looks like a minted id.
fn stateless_key(server: &str, grant: &str, key: Option<&str>) -> Arc<str> {
    let key = key.map_or_else(String::new, |k| format!("/{}:{k}", k.len()));
    Arc::from(format!(
        "stateless/{}:{server}/{}:{grant}{key}",
        server.len(),
        grant.len()
    ))
}

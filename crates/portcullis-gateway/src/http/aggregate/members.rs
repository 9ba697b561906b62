//! An aggregate session: one client session fanned out to one upstream session per server of the
//! grant. A member's session is opened and initialized (with the client's own `initialize` params)
//! when the aggregate starts, and again on first use after it failed or ended, at most every
//! [`RETRY_AFTER`], so a server that comes back rejoins without the client starting over.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cluster::Usage;
use crate::node::Node;
use crate::session::replay::ReplayLog;
use crate::session::{SessionHandle, Sessions};

/// How long a member that could not be reached stays out before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// One client session on `/mcp`.
pub(super) struct Aggregate {
    /// The client's `Mcp-Session-Id`.
    pub(super) id: Arc<str>,
    /// The grant that opened it.
    pub(super) grant: Arc<str>,
    /// The client's `initialize` params, reused for every member's handshake.
    params: Value,
    /// One per server of the grant, in the grant's order.
    pub(super) members: Vec<Member>,
    /// What the client's SSE streams on `/mcp` sent, for `Last-Event-ID` (the members' own logs are
    /// not the client's: one stream here merges several of theirs).
    pub(super) replay: ReplayLog,
    /// Seen in the cluster's session directory (see [`super::continuity::forgotten_elsewhere`]).
    pub(super) recorded: AtomicBool,
    /// Serves 2026-07-28 clients: its members are their sessions (see [`Aggregate::for_stateless`]).
    stateless: bool,
}

/// One server of an aggregate session.
pub(super) struct Member {
    /// The server's name (the tools' prefix).
    pub(super) server: Arc<str>,
    slot: Mutex<Slot>,
}

enum Slot {
    Ready(SessionHandle),
    Down { reason: String, since: Option<Instant> },
}

impl Aggregate {
    /// An aggregate whose members are not opened yet.
    pub(super) fn new(id: Arc<str>, grant: Arc<str>, params: Value, servers: Vec<Arc<str>>) -> Self {
        let members = servers
            .into_iter()
            .map(|server| Member {
                server,
                slot: Mutex::new(Slot::Down {
                    reason: "not opened yet".to_owned(),
                    since: None,
                }),
            })
            .collect();
        Self {
            id,
            grant,
            params,
            members,
            replay: ReplayLog::default(),
            recorded: AtomicBool::new(false),
            stateless: false,
        }
    }

    /// Marks an aggregate of 2026-07-28 clients: each member is then a session the gateway
    /// initialized on their behalf, as at `/mcp/<server>`, so what its upstream asks outside a
    /// response stream reaches the call in flight as an input request.
    pub(super) fn for_stateless(mut self) -> Self {
        self.stateless = true;
        self
    }

    /// The client's `initialize` params.
    pub(super) fn params(&self) -> &Value {
        &self.params
    }

    /// The member serving `server`.
    pub(super) fn member(&self, server: &str) -> Option<&Member> {
        self.members.iter().find(|m| *m.server == *server)
    }

    /// The servers, in order.
    pub(super) fn servers(&self) -> Vec<Arc<str>> {
        self.members.iter().map(|m| Arc::clone(&m.server)).collect()
    }

    /// `member`'s live upstream session, opened again when it failed or ended (unless it failed
    /// within [`RETRY_AFTER`]).
    ///
    /// # Errors
    /// Why the server cannot be reached, for the client.
    pub(super) async fn session(&self, node: &Node, member: &Member) -> Result<SessionHandle, String> {
        let mut slot = member.slot.lock().await;
        if let Slot::Ready(session) = &*slot {
            if node.sessions.get(&session.info().id).is_some() {
                session.touch();
                return Ok(session.clone());
            }
            *slot = Slot::Down {
                reason: "its session ended".to_owned(),
                since: None,
            };
        }
        if let Slot::Down {
            reason,
            since: Some(since),
        } = &*slot
            && since.elapsed() < RETRY_AFTER
        {
            return Err(reason.clone());
        }
        match self.open(node, &member.server).await {
            Ok(session) => {
                tracing::debug!(aggregate = %self.id, server = %member.server, "aggregate member opened");
                crate::http::continuity::share_counts(node, &session, &self.id, &member.server);
                *slot = Slot::Ready(session.clone());
                Ok(session)
            }
            Err(reason) => {
                tracing::warn!(aggregate = %self.id, server = %member.server, reason = %reason, "aggregate member unavailable");
                *slot = Slot::Down {
                    reason: reason.clone(),
                    since: Some(Instant::now()),
                };
                Err(reason)
            }
        }
    }

    /// Whether any member still has a live session (else the client is gone or must start over).
    pub(super) fn is_alive(&self, node: &Node) -> bool {
        self.members.iter().any(|member| match member.slot.try_lock() {
            Ok(slot) => matches!(&*slot, Slot::Ready(s) if node.sessions.get(&s.info().id).is_some()),
            // In use right now.
            Err(_) => true,
        })
    }

    /// Ends every member's upstream session.
    pub(super) async fn close(&self, node: &Node) {
        for member in &self.members {
            if let Slot::Ready(session) = &*member.slot.lock().await {
                node.sessions.close(&session.info().id);
            }
        }
    }

    async fn open(&self, node: &Node, server: &str) -> Result<SessionHandle, String> {
        let entry = node
            .state
            .borrow()
            .servers
            .get(server)
            .cloned()
            .ok_or_else(|| "it is no longer configured".to_owned())?;
        let session = node
            .sessions
            .open(&entry, Arc::clone(&self.grant))
            .await
            .map_err(|e| e.to_string())?;
        match crate::relay::handshake::initialize(node, &session, self.params.clone()).await {
            Ok(result) => {
                if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
                    let _ = session.info().protocol_version.set(version.to_owned());
                }
                if self.stateless {
                    let _ = session.info().upstream_init.set(result);
                }
                Ok(session)
            }
            Err(e) => {
                node.sessions.close(&session.info().id);
                Err(e.to_string())
            }
        }
    }
}

impl AsRef<ReplayLog> for Aggregate {
    fn as_ref(&self) -> &ReplayLog {
        &self.replay
    }
}

/// An aggregate is used when any member is: it counts as held here while a member's session lives.
impl Usage for Aggregate {
    fn used_within(&self, sessions: &Sessions, since: Duration) -> Option<bool> {
        let mut held = false;
        for member in &self.members {
            let Ok(slot) = member.slot.try_lock() else {
                // In use right now.
                return Some(true);
            };
            if let Slot::Ready(session) = &*slot
                && let Some(handle) = sessions.get(&session.info().id)
            {
                if handle.idle_for() <= since || handle.is_busy() {
                    return Some(true);
                }
                held = true;
            }
        }
        held.then_some(false)
    }
}

//! One node's shared parts: settings, the state reader, counters, audit, clock, sessions and metrics.

use std::sync::Arc;

use crate::audit::{AuditSink, AuditTrail};
use crate::clock::Clock;
use crate::cluster::ClusterHooks;
use crate::config::Settings;
use crate::counters::CounterStore;
use crate::metrics::Metrics;
use crate::session::Sessions;
use crate::state::StateReader;
use crate::upstream::HttpClient;

/// What a caller provides to run a node (see [`crate::serve`]).
pub struct NodeParts {
    /// Node-wide settings.
    pub settings: Settings,
    /// The state snapshot channel.
    pub state: StateReader,
    /// Identity and global counters.
    pub counters: Arc<dyn CounterStore>,
    /// Where decisions are recorded.
    pub audit: Arc<dyn AuditSink>,
    /// The wall clock.
    pub clock: Arc<dyn Clock>,
    /// What a clustered node adds (nothing for a standalone one).
    pub cluster: ClusterHooks,
}

/// A running node's shared parts; handlers hold it in an `Arc`.
pub struct Node {
    /// Node-wide settings.
    pub settings: Settings,
    /// The state snapshot channel.
    pub state: StateReader,
    /// Identity and global counters.
    pub counters: Arc<dyn CounterStore>,
    /// Where decisions are recorded.
    pub audit: AuditTrail,
    /// The wall clock.
    pub clock: Arc<dyn Clock>,
    /// What a clustered node adds.
    pub cluster: ClusterHooks,
    /// Live sessions.
    pub sessions: Arc<Sessions>,
    /// Metrics.
    pub metrics: Metrics,
    /// Turns true when shutdown begins: open streams end and `/readyz` reports 503.
    pub draining: tokio::sync::watch::Sender<bool>,
    /// Where calls that need a human are parked; set once before serving, by a node that has a
    /// replicated store. Unset: such calls are denied.
    pub approvals: std::sync::OnceLock<Arc<dyn crate::approvals::Approvals>>,
    /// Calls of 2026-07-28 clients parked until the client answers the upstream's questions.
    pub input_required: crate::relay::InputRequired,
    /// Admitted calls of 2026-07-28 clients held between a 2026-07-28 upstream's input rounds.
    pub held_calls: crate::relay::HeldCalls,
}

impl Node {
    /// Assembles a node.
    pub fn new(parts: NodeParts) -> Arc<Self> {
        let sessions = Sessions::new(
            HttpClient::new(),
            parts.settings.session_queue,
            parts.settings.max_sessions,
        );
        let audit = AuditTrail::new(parts.audit, parts.settings.audit_wait_for_sync);
        Arc::new_cyclic(|me| Self {
            settings: parts.settings,
            state: parts.state,
            counters: parts.counters,
            audit,
            clock: parts.clock,
            cluster: parts.cluster,
            sessions,
            metrics: Metrics::new(),
            draining: tokio::sync::watch::Sender::new(false),
            approvals: std::sync::OnceLock::new(),
            input_required: crate::relay::InputRequired::default(),
            held_calls: crate::relay::HeldCalls::new(me.clone()),
        })
    }
}

impl crate::config::LoadedConfig {
    /// Splits a loaded config into what [`crate::serve`] needs, with in-memory counters. Keep the
    /// publisher: [`reload`] sends new snapshots through it.
    pub fn into_node(
        self,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> (NodeParts, crate::state::StatePublisher) {
        let (publisher, state) = crate::state::channel(self.state);
        let parts = NodeParts {
            settings: self.settings,
            state,
            counters: Arc::new(crate::counters::MemoryCounters::new()),
            audit,
            clock,
            cluster: ClusterHooks::default(),
        };
        (parts, publisher)
    }
}

/// Re-reads the config file and publishes its servers, policies and grants; the next request sees them.
/// Settings (listeners, limits) take effect only on restart. Counters are kept.
///
/// # Errors
/// The file's problems; the running snapshot is left as it was.
pub fn reload(
    path: &std::path::Path,
    publisher: &crate::state::StatePublisher,
) -> Result<(), crate::config::ConfigError> {
    let loaded = crate::config::load_file(path)?;
    publisher.send_replace(Arc::new(loaded.state));
    Ok(())
}

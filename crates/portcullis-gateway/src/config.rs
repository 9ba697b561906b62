//! The node's configuration: a TOML file, strictly checked, turned into [`Settings`] and the first
//! [`GatewayState`] snapshot.

mod file;
mod load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use file::{
    AdminRoleName, AdminSection, AdminTlsSection, AdminTokenSection, ConfigFile, DenialStyle, UpstreamSection,
};
pub use load::{load_file, load_str};

use crate::state::GatewayState;

/// A loaded configuration: settings for the node and its first state snapshot.
#[derive(Debug)]
pub struct LoadedConfig {
    /// Node-wide settings.
    pub settings: Settings,
    /// Servers, compiled policies and grants.
    pub state: GatewayState,
    /// Where to listen.
    pub listen: ListenAddrs,
    /// Audit log settings (the log itself is opened by the binary).
    pub audit: AuditSettings,
    /// The admin API (served by the binary when the node has a replicated store).
    pub admin: AdminSection,
}

/// The two listening addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAddrs {
    /// For agents.
    pub agent: SocketAddr,
    /// For operators.
    pub ops: SocketAddr,
}

/// Node-wide settings the data plane reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This node's name.
    pub node_id: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Idle sessions are closed after this.
    pub idle_session_timeout: Duration,
    /// A session quiet this long lets its actor stop (HTTP upstreams only) until it is needed again.
    pub hibernate_after: Duration,
    /// How long the upstream may stay silent about a request (each progress or other message about it
    /// starts the wait again).
    pub upstream_timeout: Duration,
    /// How long one request may take in total, however much progress the upstream reports.
    pub request_timeout: Duration,
    /// Requests one session may have queued before new ones are refused.
    pub session_queue: usize,
    /// Sessions held at once; more are refused.
    pub max_sessions: usize,
    /// Accepted `Origin` values; empty means loopback only.
    pub allowed_origins: Vec<String>,
    /// Accepted `Host` values; empty means loopback only.
    pub allowed_hosts: Vec<String>,
    /// How denials are shaped.
    pub denial: DenialStyle,
    /// Whether audit records carry arguments.
    pub audit_payloads: bool,
    /// Whether a call fails when its audit record cannot be written.
    pub audit_fail_closed: bool,
    /// Whether a call's answer waits for its audit record to be on disk.
    pub audit_wait_for_sync: bool,
    /// How often an idle long-lived SSE stream gets a keep-alive comment.
    pub sse_keepalive: Duration,
    /// How long SSE events are kept for clients resuming with `Last-Event-ID`.
    pub sse_replay_window: Duration,
    /// How often a call parked for approval gets a progress notification (when it asked for progress).
    pub approval_heartbeat: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            node_id: "node-1".to_owned(),
            max_body_bytes: 4 * 1024 * 1024,
            idle_session_timeout: Duration::from_secs(30 * 60),
            hibernate_after: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            session_queue: 64,
            max_sessions: 10_000,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            denial: DenialStyle::ToolResult,
            audit_payloads: false,
            audit_fail_closed: true,
            audit_wait_for_sync: false,
            sse_keepalive: Duration::from_secs(15),
            sse_replay_window: Duration::from_secs(30),
            approval_heartbeat: Duration::from_secs(10),
        }
    }
}

/// Audit log settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    /// Whether to audit.
    pub enabled: bool,
    /// The log file, resolved against the config file's directory.
    pub path: PathBuf,
    /// Group commit: the shortest time between two writes (and syncs) of the log.
    pub sync_interval: Duration,
}

impl AuditSettings {
    /// Long enough that steady traffic shares one write and sync per interval instead of one per
    /// call (a sync and a blocking-thread hand-off per batch dominated the node's CPU), short enough
    /// that a crash loses little and a waiting answer (`wait_for_sync`) barely notices.
    pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 5;
}

/// Why a configuration could not be loaded. Each variant names the key path or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown, missing or of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The key path, e.g. `servers.files.upstream.command` (`.` for the whole file).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// One or more semantic problems (unknown policy names, bad hashes, policy errors), all listed.
    #[error("{} problem(s) in the configuration:\n  {}", .0.len(), .0.join("\n  "))]
    Invalid(Vec<String>),
}

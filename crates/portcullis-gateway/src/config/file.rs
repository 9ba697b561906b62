//! The TOML file as written: every table rejects unknown keys, so a typo is an error, not a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// This node.
    #[serde(default)]
    pub node: NodeSection,
    /// Where to listen.
    pub listeners: ListenersSection,
    /// Size and time limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// DNS-rebinding defence.
    #[serde(default)]
    pub security: SecuritySection,
    /// How denials reach the agent.
    #[serde(default)]
    pub enforcement: EnforcementSection,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditSection,
    /// Policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicySection>,
    /// Upstream servers by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerSection>,
    /// Bearer-token grants.
    #[serde(default)]
    pub grants: Vec<GrantSection>,
    /// The gRPC admin API (served by nodes with a replicated store).
    #[serde(default)]
    pub admin: AdminSection,
}

/// `[admin]`: where the admin API listens and the tokens that seed it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// The admin API's address; absent: no admin API on this node.
    pub listen: Option<SocketAddr>,
    /// Admin tokens to seed the store with (only their SHA-256 hashes are written here).
    #[serde(default)]
    pub tokens: Vec<AdminTokenSection>,
    /// Serve the admin API over TLS; absent: plaintext (for loopback only).
    pub tls: Option<AdminTlsSection>,
}

/// `[admin.tls]`: PEM files, relative to the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTlsSection {
    /// The server's certificate chain.
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
    /// A CA: when set, clients must present a certificate it signed (mutual TLS).
    pub client_ca: Option<std::path::PathBuf>,
}

/// One `[[admin.tokens]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenSection {
    /// Who holds the token (the actor in audit records).
    pub name: String,
    /// What it may do.
    pub role: AdminRoleName,
    /// SHA-256 of the token, 64 lowercase hex digits.
    pub token_sha256: String,
}

/// An admin token's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRoleName {
    /// Read everything.
    Viewer,
    /// Read everything and decide approvals.
    Approver,
    /// Everything.
    Admin,
}

/// `[node]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// The node's name in audit records and metrics.
    #[serde(default = "default_node_id")]
    pub id: String,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            id: default_node_id(),
        }
    }
}

fn default_node_id() -> String {
    "node-1".to_owned()
}

/// `[listeners]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenersSection {
    /// Agents connect here (`/mcp/<server>`).
    pub agent: SocketAddr,
    /// Operators scrape here (`/metrics`, `/healthz`, `/readyz`).
    pub ops: SocketAddr,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A session with no traffic for this long is closed.
    pub idle_session_timeout_secs: u64,
    /// A session with no traffic for this long puts its actor to sleep (HTTP upstreams; milliseconds).
    pub hibernate_after_ms: u64,
    /// How long the upstream may stay silent about a request before the gateway gives up on it (each
    /// progress notification or other message about the request starts the wait again).
    pub upstream_timeout_secs: u64,
    /// How long one request may take in total, however much progress the upstream reports.
    pub request_timeout_secs: u64,
    /// Requests one session may have queued or in flight before new ones are refused.
    pub session_queue: usize,
    /// Sessions the node holds at once (each may own a process); new ones beyond are refused with 503.
    pub max_sessions: usize,
    /// Seconds between keep-alive comments on an idle long-lived SSE stream (proxies cut silent ones).
    pub sse_keepalive_secs: u64,
    /// Seconds SSE events are kept for session-era clients that reconnect with `Last-Event-ID`.
    pub sse_replay_window_secs: u64,
    /// Seconds between progress notifications to a call parked for approval (when it asked for progress).
    pub approval_heartbeat_secs: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            idle_session_timeout_secs: 30 * 60,
            hibernate_after_ms: 10_000,
            upstream_timeout_secs: 60,
            request_timeout_secs: 300,
            session_queue: 64,
            max_sessions: 10_000,
            sse_keepalive_secs: 15,
            sse_replay_window_secs: 30,
            approval_heartbeat_secs: 10,
        }
    }
}

/// `[security]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    /// `Origin` values accepted, e.g. `http://localhost:3000`. Empty: only loopback origins.
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted (`host` or `host:port`). Empty: only loopback hosts.
    pub allowed_hosts: Vec<String>,
}

/// `[enforcement]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementSection {
    /// `tool_result` (an `isError` result the agent can read) or `jsonrpc_error`.
    pub denial: DenialStyle,
}

/// How a denial is shaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialStyle {
    /// A tool result with `isError: true` and `[POLICY DENIED] <reason>`.
    #[default]
    ToolResult,
    /// A JSON-RPC error.
    JsonrpcError,
}

/// `[audit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Whether decisions are audited at all.
    pub enabled: bool,
    /// The JSON-lines log file, relative to the config file.
    pub path: PathBuf,
    /// Whether records carry the call's arguments (otherwise only their SHA-256).
    pub include_payloads: bool,
    /// Whether a call fails when its record cannot be written.
    pub fail_closed: bool,
    /// true: a call's answer waits until its record is on disk. false (default): records are written
    /// and synced in batches right behind the answers; a failed write makes the node refuse calls.
    pub wait_for_sync: bool,
    /// Group commit: the shortest time between two writes (and syncs) of the log; records arriving
    /// meanwhile share the next one. 0 writes each batch as soon as it is queued.
    pub sync_interval_ms: u64,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            enabled: true,
            path: PathBuf::from("audit.jsonl"),
            include_payloads: false,
            fail_closed: true,
            wait_for_sync: false,
            sync_interval_ms: super::AuditSettings::DEFAULT_SYNC_INTERVAL_MS,
        }
    }
}

/// `[policies.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// The policy document (JSON or YAML), relative to the config file.
    pub file: PathBuf,
}

/// `[servers.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// How to reach it.
    pub upstream: UpstreamSection,
    /// A policy name: requests without a token are served under it. Absent: a token is required.
    pub anonymous_policy: Option<String>,
}

/// `upstream = { type = "stdio", ... }`, `{ type = "http", url = ... }` or `{ type = "sse", url = ... }`. Also the form the
/// replicated store keeps a server's upstream in (as JSON).
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpstreamSection {
    /// A child process per session.
    Stdio {
        /// The program.
        command: PathBuf,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Extra environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Working directory, relative to the config file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        /// `http://host:port/path`.
        url: String,
    },
    /// A legacy (2024-11-05) HTTP+SSE server.
    Sse {
        /// Its event stream, `http://host:port/sse`.
        url: String,
    },
}

/// `[[grants]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSection {
    /// The grant's id (`identity.id` in policies, `grant` in audit records).
    pub id: String,
    /// SHA-256 of the bearer token, 64 hex digits.
    pub token_sha256: String,
    /// Free-form labels (`identity.labels.<name>`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The server this grant may use.
    #[serde(default)]
    pub server: Option<String>,
    /// Several servers this grant may use (together with `server`, if given): `/mcp` serves them
    /// as one, tool names prefixed `<server>__`.
    #[serde(default)]
    pub servers: Vec<String>,
    /// The policy that applies; absent means every call is denied.
    pub policy: Option<String>,
}

//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Portcullis: an MCP policy gateway. Decides every tool call an AI agent makes (allow, deny, hide,
/// rate-limit, or park it for a human) before it reaches the MCP server, and audits each decision.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try Portcullis in one command: a gateway in front of the built-in demo MCP server, a policy and a
    /// grant, and one live example call per kind of decision.
    Demo(DemoArgs),
    /// Run a gateway node from a configuration file (see cluster/config/portcullis.toml).
    Serve(ServeArgs),
    /// Run the built-in demo MCP server (the demo's upstream) over stdio or Streamable HTTP.
    DemoServer(DemoServerArgs),
    /// Wrap one MCP server for a client that launches a command (desktop and IDE agents): MCP over this
    /// process's stdin/stdout, every call decided by the policy and audited, forwarded to the command
    /// (or to --upstream). Logs go to stderr.
    Run(RunArgs),
    /// Check policies and see how they decide calls.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Work with audit logs.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Decide calls parked for a human approval, from any node (over the admin API).
    #[command(subcommand)]
    Approvals(crate::remote::approvals::ApprovalsCommand),
    /// Manage grants (agents' tokens) through the admin API.
    #[command(subcommand)]
    Grants(crate::remote::grants::GrantsCommand),
    /// Manage upstream servers through the admin API.
    #[command(subcommand)]
    Servers(crate::remote::servers::ServersCommand),
    /// Manage the admin API's own tokens.
    #[command(subcommand)]
    Tokens(crate::remote::tokens::TokensCommand),
    /// Load-test an MCP endpoint with tools/call: throughput and latency percentiles, optionally
    /// against a baseline (the same server without the gateway) in interleaved phases.
    Bench(BenchArgs),
    /// Run the cluster: status, add and remove nodes, transfer leadership (admin API).
    #[command(subcommand)]
    Cluster(crate::remote::cluster::ClusterCommand),
    /// Inspect and reset the shared counters (admin API).
    #[command(subcommand)]
    Counters(crate::remote::counters::CountersCommand),
    /// List and end agent sessions across the cluster (admin API).
    #[command(subcommand)]
    Sessions(crate::remote::sessions::SessionsCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The node's configuration (TOML). SIGHUP reloads it; SIGINT/SIGTERM drain and stop.
    #[arg(long, short, env = "PORTCULLIS_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Clustering: with `--data-dir` the node's servers, policies and grants live in the replicated store
/// (seeded from the config file); without it the config file is the state, as before.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Keep the replicated store here (created when missing; keeps the node id across restarts).
    #[arg(long, requires = "node_id")]
    pub data_dir: Option<PathBuf>,
    /// This node's id in the cluster (a positive integer, stable across restarts).
    #[arg(long, requires = "data_dir")]
    pub node_id: Option<u64>,
    /// Serve Raft to the other nodes here (host:port they can reach). Needs the cluster secret.
    #[arg(long, requires = "data_dir")]
    pub raft_addr: Option<String>,
    /// The Raft address other nodes should use, when it differs from --raft-addr (a DNS name, a NAT
    /// or proxy address). Defaults to --raft-addr (with the bound port when that says port 0).
    #[arg(long, requires = "raft_addr", value_name = "HOST:PORT")]
    pub raft_advertise: Option<String>,
    /// Found a new cluster with this node as its first voter (ignored when the data directory
    /// already belongs to a cluster).
    #[arg(long, requires = "data_dir", conflicts_with = "join")]
    pub init: bool,
    /// Join the cluster through any member's Raft address (ignored when the data directory already
    /// belongs to a cluster).
    #[arg(
        long,
        requires = "data_dir",
        requires = "raft_addr",
        value_name = "SEED_RAFT_ADDR"
    )]
    pub join: Option<String>,
    /// A file holding the cluster's shared secret (16+ printable characters); or set
    /// PORTCULLIS_CLUSTER_SECRET. Without a secret the node is a one-voter cluster with no Raft listener.
    #[arg(long, requires = "data_dir")]
    pub cluster_secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example (in a client's server list):\n  portcullis run --policy policy.json \\\n    \
    --audit audit.jsonl -- npx -y @modelcontextprotocol/server-everything"
)]
pub struct RunArgs {
    /// The policy (JSON or YAML) that decides every call.
    #[arg(long)]
    pub policy: PathBuf,
    /// The grant id policies (identity.id) and audit records see.
    #[arg(long, default_value = "local")]
    pub grant_id: String,
    /// A label policies see as identity.labels.KEY (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Append every decision to this hash-chained audit log (no audit log without it).
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// Wrap this remote Streamable HTTP server (http://...) instead of a command.
    #[arg(long, conflicts_with = "command")]
    pub upstream: Option<String>,
    /// The server's name in audit records and logs.
    #[arg(long, default_value = "upstream")]
    pub server_name: String,
    /// Seconds the upstream may stay silent about a request (progress restarts the wait).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_timeout_secs: u64,
    /// Seconds one request may take in total.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    #[command(flatten)]
    pub log: LogArgs,
    /// The stdio MCP server to run, after `--`.
    #[arg(last = true, value_name = "COMMAND", required_unless_present = "upstream")]
    pub command: Vec<String>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where agents connect.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub agent_addr: std::net::SocketAddr,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub ops_addr: std::net::SocketAddr,
    /// Run the example calls, verify the audit chain, then stop (exit 1 if any example decided
    /// otherwise than expected).
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct DemoServerArgs {
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:8931) instead of stdio.
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
    /// Tools per tools/list page (all on one page by default).
    #[arg(long)]
    pub page_size: Option<usize>,
    /// Speak only protocol 2026-07-28 (no initialize), to try a gateway's era bridging.
    #[arg(long)]
    pub modern_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a hash-chained audit log (FILE, or without it the node's own log through the admin API);
    /// report the first broken record. Exit 1 if the chain is broken.
    Verify(crate::remote::audit::VerifyArgs),
    /// Follow a node's audit log through the admin API: the latest records, then each new one.
    Tail(crate::remote::audit::TailArgs),
    /// A node's audit records in a time range, through the admin API.
    Query(crate::remote::audit::QueryArgs),
}

/// Logging options shared by long-running commands.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing's env-filter syntax), e.g. "info" or "portcullis_gateway=debug".
    #[arg(long, env = "PORTCULLIS_LOG", default_value = "info")]
    pub log: String,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The Streamable HTTP endpoint to load, e.g. http://127.0.0.1:8080/mcp/demo.
    #[arg(long)]
    pub url: String,
    /// Bearer token for --url.
    #[arg(long, env = "PORTCULLIS_BENCH_TOKEN")]
    pub token: Option<String>,
    /// Also load this endpoint (e.g. the upstream directly), alternating phases, and report the difference.
    #[arg(long)]
    pub baseline: Option<String>,
    /// Bearer token for --baseline.
    #[arg(long)]
    pub baseline_token: Option<String>,
    /// Protocol era to speak.
    #[arg(long, value_enum, default_value_t = EraArg::Session)]
    pub era: EraArg,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1)]
    pub sessions: usize,
    /// Calls per second across all sessions (open loop); omit to go as fast as possible.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured time (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// Unmeasured time before measuring.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: std::time::Duration,
    /// Instead of load: open this many sessions, leave them idle on the server, and exit (to measure
    /// what an idle session costs).
    #[arg(long, conflicts_with_all = ["baseline", "rate"])]
    pub open_sessions: Option<usize>,
    /// Phases per side with --baseline.
    #[arg(long, default_value_t = 4)]
    pub phases: u32,
    /// Tool to call.
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// Its arguments (JSON object).
    #[arg(long, default_value = r#"{"text": "hello"}"#)]
    pub args: String,
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
}

/// `--era`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EraArg {
    /// initialize once per session (2025-11-25).
    Session,
    /// 2026-07-28: no session, `_meta` and Mcp-Method/Mcp-Name on every call.
    Stateless,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files (JSON or YAML); print every error with its JSON path. Exit 1 on any error.
    Validate {
        /// Policy files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Decide one tool call against a policy and say which rule fired and why.
    Explain(ExplainArgs),
    /// Roll out a policy file cluster-wide through the admin API (or --dry-run / --shadow it).
    Apply(crate::remote::policies::ApplyArgs),
    /// Print a stored policy version (the latest by default).
    Get(crate::remote::policies::GetArgs),
    /// List the stored policies with their current revisions.
    List(crate::remote::RemoteArgs),
    /// List every version of a policy.
    History(crate::remote::policies::NameArgs),
    /// Show what changed between two versions of a policy.
    Diff(crate::remote::policies::DiffArgs),
    /// Store an earlier version's text as the newest version.
    Rollback(crate::remote::policies::RollbackArgs),
    /// Print each policy version as it is applied (until interrupted).
    Watch(crate::remote::policies::WatchArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  portcullis policy explain examples/policies/payments.yaml \\\n    \
    --tool create_charge --args '{\"amount\": 1200, \"currency\": \"jpy\"}'"
)]
pub struct ExplainArgs {
    /// The policy file (or --policy NAME to ask the admin API about a stored policy).
    #[arg(required_unless_present = "policy")]
    pub file: Option<PathBuf>,
    /// A stored policy, dry-run by the admin API (see --addr/--token).
    #[arg(long, conflicts_with_all = ["file", "counters", "now"])]
    pub policy: Option<String>,
    /// With --policy: the revision (the latest by default).
    #[arg(long, requires = "policy")]
    pub revision: Option<u64>,
    #[command(flatten)]
    pub remote: crate::remote::RemoteArgs,
    /// The tool being called.
    #[arg(long)]
    pub tool: String,
    /// The call's arguments, as a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// The caller, as JSON: {"id": "grant-1", "labels": {"team": "payments"}}.
    #[arg(long)]
    pub identity: Option<String>,
    /// Current counter values, as JSON: {"create_charge.daily_spend": 998000}.
    #[arg(long)]
    pub counters: Option<String>,
    /// The time of the call (RFC 3339, e.g. 2026-11-25T10:30:00Z); defaults to now.
    #[arg(long)]
    pub now: Option<String>,
}

/// How to print results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For scripts: one JSON document on stdout.
    Json,
}

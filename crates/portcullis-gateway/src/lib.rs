//! The Portcullis gateway node: a transparent MCP proxy that enforces policy on every tool call.
//!
//! Bird's eye: agents speak Streamable HTTP to `/mcp/<server>` ([`http`]); each agent session is an actor
//! ([`session`]) owning its upstream connection ([`upstream`]); `tools/list` and `tools/call` pass through
//! [`enforce`], which asks the pure policy engine and reserves counters ([`counters`]); every decision goes
//! to the audit seam ([`audit`]). Servers, policies and grants come from one immutable snapshot
//! ([`state`]) published through a watch channel.
//!
//! Running a node (what `portcullis serve --config FILE` does):
//!
//! ```text
//! let loaded = config::load_file(path)?;                 // strict TOML, every problem listed
//! let listen = loaded.listen;                            // agent and ops addresses
//! let (parts, publisher) = loaded.into_node(audit_sink, system_clock);
//! let listeners = Listeners { agent: TcpListener::bind(listen.agent).await?, ops: TcpListener::bind(listen.ops).await? };
//! serve(parts, listeners, ctrl_c_or_sigterm).await?;     // drains, then stops every session
//! // on SIGHUP: reload(path, &publisher)
//! ```
//!
//! Architecture invariant: per call, the data plane reads the current state snapshot and never waits on
//! another task or a node-wide mailbox (only brief in-memory locks for counters and metrics); the
//! session actor serialises only that session's traffic.

pub mod approvals;
pub mod audit;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod counters;
pub mod enforce;
pub mod front;
pub mod http;
pub mod ingress;
pub mod jsonrpc;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod protocol;
pub mod relay;
mod serve;
pub mod session;
pub mod state;
pub mod upstream;

pub use node::{NodeParts, reload};
pub use serve::{Listeners, ServeError, serve, serve_node};

//! The Portcullis gateway node: a transparent MCP proxy that enforces policy on every tool call.
//!
//! Bird's eye: agents speak Streamable HTTP to `/mcp/<server>` ([`http`]); each agent session is an actor
//! ([`session`]) owning its upstream connection ([`upstream`]); `tools/list` and `tools/call` pass through
//! [`enforce`], which asks the pure policy engine and reserves counters ([`counters`]); every decision goes
//! to the audit seam ([`audit`]). Servers, policies and grants come from one immutable snapshot
//! ([`state`]) published through a watch channel.
//!
//! Architecture invariant: the data plane only reads the current state snapshot and never waits on a
//! shared lock or mailbox per call; the session actor serialises only that session's traffic.

pub mod audit;
pub mod clock;
pub mod config;
pub mod counters;
pub mod enforce;
pub mod http;
pub mod jsonrpc;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod protocol;
mod serve;
pub mod session;
pub mod state;
pub mod upstream;

pub use node::NodeParts;
pub use serve::{Listeners, ServeError, serve};

//! A small MCP server built into Portcullis: the default upstream of `portcullis demo` and a fast
//! upstream for benchmarks.
//!
//! It offers traffic-inspection tools in the spirit of mitmproxy-mcp over fake, deterministic,
//! in-memory traffic: read tools (`get_traffic_summary`, `inspect_flow`, `search_traffic`,
//! `extract_session_variable`), write tools (`set_global_header`, `replay_flow`), a destructive one
//! (`clear_traffic`), plus `echo` (the benchmark fast path) and `charge` (spend-cap demos).
//!
//! It speaks MCP JSON-RPC 2.0 in both eras: session-era clients `initialize` (protocol versions
//! 2025-03-26, 2025-06-18, 2025-11-25), stateless 2026-07-28 clients call `server/discover` and
//! send `_meta` with every request. Two transports: [`serve_stdio`] (newline-delimited JSON on any
//! reader/writer pair) and [`serve_http`] (Streamable HTTP on `POST /mcp`, JSON responses).
//!
//! Architecture invariant: the protocol core ([`DemoServer::handle`]) is transport-free and
//! synchronous; both transports only frame bytes and carry the session's negotiated version.

mod catalog;
mod dispatch;
mod http;
mod protocol;
mod stdio;
mod tools;
mod traffic;

pub use dispatch::{DemoConfig, DemoServer, Session};
pub use http::{router, serve_http};
pub use protocol::{LATEST_SESSION_VERSION, STATELESS_VERSION, SUPPORTED_VERSIONS};
pub use stdio::{StdioError, serve_stdio};

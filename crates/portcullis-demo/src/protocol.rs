//! JSON-RPC 2.0 framing and MCP constants shared by the core and the transports.

use serde_json::{Value, json};

/// Session-era versions a client may negotiate with `initialize`, oldest first.
pub const SESSION_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// What `initialize` answers when the client asks for a version it doesn't know.
pub const LATEST_SESSION_VERSION: &str = "2025-11-25";
/// The stateless revision: no `initialize`, `_meta` on every request.
pub const STATELESS_VERSION: &str = "2026-07-28";
/// Every version this server speaks, as `server/discover` advertises them.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2025-03-26", "2025-06-18", "2025-11-25", STATELESS_VERSION];

/// The `_meta` key carrying a stateless request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const HEADER_MISMATCH: i64 = -32020;
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

pub fn is_supported(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// A success response; `id` is echoed exactly as the client sent it.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response; `id` is `null` when the request's id could not be read.
pub fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

pub fn error_with_data(id: &Value, code: i64, message: impl Into<String>, data: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into(), "data": data}})
}

/// The parse-error reply for bytes that are not JSON.
pub fn parse_error(detail: &serde_json::Error) -> Value {
    error(&Value::Null, PARSE_ERROR, format!("parse error: {detail}"))
}

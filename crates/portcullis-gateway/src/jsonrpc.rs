//! The little of JSON-RPC the gateway reads. Messages stay `serde_json::Value`s so every field the
//! gateway does not understand passes through untouched; only `method`, `id`, `params.name`,
//! `params.arguments` and `_meta` are looked at.

use serde_json::{Map, Value, json};

/// Parse error.
pub const PARSE_ERROR: i64 = -32700;
/// Invalid request.
pub const INVALID_REQUEST: i64 = -32600;
/// Method not found.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid params.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// Gateway-side failure reaching or hearing from the upstream (server-defined range).
pub const UPSTREAM_ERROR: i64 = -32000;
/// A call refused by policy, when denials are configured as JSON-RPC errors.
pub const POLICY_DENIED: i64 = -32001;
/// The session cannot take more requests right now.
pub const SESSION_BUSY: i64 = -32002;
/// The request was cancelled (by its client, or because its client went away). The code LSP uses;
/// MCP defines none, and a cancelled request normally gets no answer at all.
pub const REQUEST_CANCELLED: i64 = -32800;
/// 2026-07-28: `Mcp-Method`/`Mcp-Name` headers disagree with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: unsupported protocol version.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// What one message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Has `method` and `id`.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `id` and `result` or `error`.
    Response,
}

/// Classifies a message; `None` when it is none of the three.
pub fn kind(message: &Value) -> Option<Kind> {
    let object = message.as_object()?;
    let has_id = object
        .get("id")
        .is_some_and(|id| id.is_string() || id.is_number());
    match (object.get("method").and_then(Value::as_str), has_id) {
        (Some(_), true) => Some(Kind::Request),
        (Some(_), false) if !object.contains_key("id") => Some(Kind::Notification),
        (None, true) if object.contains_key("result") || object.contains_key("error") => Some(Kind::Response),
        _ => None,
    }
}

/// The message's `method`.
pub fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

/// The message's `params`, when an object.
pub fn params(message: &Value) -> Option<&Map<String, Value>> {
    message.get("params").and_then(Value::as_object)
}

/// `params._meta.<key>` as a string.
pub fn meta_str<'a>(message: &'a Value, key: &str) -> Option<&'a str> {
    params(message)?.get("_meta")?.get(key)?.as_str()
}

/// An error response.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// An error response with `data`.
pub fn error_with_data(id: Value, code: i64, message: &str, data: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}})
}

/// A success response.
pub fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Whether a response is an error (a JSON-RPC error, or a tool result with `isError: true`).
pub fn is_failure(response: &Value) -> bool {
    response.get("error").is_some()
        || response
            .get("result")
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified_by_shape() {
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","id":1,"method":"x"})),
            Some(Kind::Request)
        );
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","method":"x"})),
            Some(Kind::Notification)
        );
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","id":"a","result":{}})),
            Some(Kind::Response)
        );
        assert_eq!(kind(&json!({"jsonrpc":"2.0","id":null,"method":"x"})), None);
        assert_eq!(kind(&json!([1])), None);
        assert_eq!(kind(&json!({"id":1})), None);
    }
}

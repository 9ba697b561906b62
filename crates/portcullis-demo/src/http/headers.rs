//! Request header checks: DNS-rebinding defence and header/body consistency.

use axum::{
    Json,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::protocol::{self, HEADER_MISMATCH, SUPPORTED_VERSIONS, UNSUPPORTED_PROTOCOL_VERSION};

pub const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";

/// The rejection for a request whose `Origin` is not local (403), whose `MCP-Protocol-Version` is
/// unknown (400), or whose `Mcp-Method`/`Mcp-Name` header disagrees with the body (400, -32020); `None` if the
/// headers are fine.
pub fn reject_headers(headers: &HeaderMap, message: &Value) -> Option<Response> {
    if let Some(origin) = headers.get("origin") {
        let local = origin.to_str().is_ok_and(is_local_origin);
        if !local {
            let body = protocol::error(&Value::Null, protocol::INVALID_REQUEST, "origin not allowed");
            return Some((StatusCode::FORBIDDEN, Json(body)).into_response());
        }
    }
    if let Some(version) = headers.get(VERSION_HEADER) {
        let version = version.to_str().unwrap_or_default();
        if !protocol::is_supported(version) {
            let data = json!({"supported": SUPPORTED_VERSIONS, "requested": version});
            let msg = format!("unsupported MCP-Protocol-Version {version}");
            let body = protocol::error_with_data(&Value::Null, UNSUPPORTED_PROTOCOL_VERSION, msg, data);
            return Some((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
    }
    let body_method = message.get("method").and_then(Value::as_str);
    let body_name = message
        .get("params")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str);
    for (header, body_value) in [(METHOD_HEADER, body_method), (NAME_HEADER, body_name)] {
        if let Some(value) = headers.get(header)
            && body_value.is_some()
            && value.to_str().ok() != body_value
        {
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            let body = protocol::error(
                &id,
                HEADER_MISMATCH,
                format!("{header} header does not match the body"),
            );
            return Some((StatusCode::BAD_REQUEST, Json(body)).into_response());
        }
    }
    None
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]`, any port.
fn is_local_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default()
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

#[cfg(test)]
mod tests {
    use super::is_local_origin;

    #[test]
    fn only_loopback_origins_are_local() {
        assert!(is_local_origin("http://localhost:6274"));
        assert!(is_local_origin("http://127.0.0.1"));
        assert!(is_local_origin("https://[::1]:8080"));
        assert!(!is_local_origin("http://evil.example"));
        assert!(!is_local_origin("http://localhost.evil.example"));
        assert!(!is_local_origin("null"));
    }
}

//! A stateless (2026-07-28) client may keep apart several conversations under one grant: the `_meta`
//! key `dev.portcullis/sessionKey` names one, and each name gets its own session actor (and upstream
//! session). It sits in `_meta` rather than a header so it reads the same over any transport; the
//! gateway strips it before forwarding, as it does the protocol's own envelope keys.

use axum::http::StatusCode;
use serde_json::Value;

use super::Reject;
use crate::jsonrpc;

/// The `_meta` key a client names its session with.
pub use crate::relay::stateless::SESSION_KEY;

/// Longest key accepted; keys are short labels, not payloads.
const MAX_LEN: usize = 128;

/// The client's session key, if any.
///
/// # Errors
/// -32602 when the key is not a string of 1 to 128 visible ASCII characters.
pub fn session_key(message: &Value) -> Result<Option<&str>, Reject> {
    let Some(raw) = jsonrpc::params(message)
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(SESSION_KEY))
    else {
        return Ok(None);
    };
    match raw.as_str() {
        Some(key) if (1..=MAX_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        _ => Err(Reject::Rpc(
            StatusCode::BAD_REQUEST,
            jsonrpc::error(
                message.get("id").cloned().unwrap_or(Value::Null),
                jsonrpc::INVALID_PARAMS,
                &format!("_meta {SESSION_KEY:?} must be a string of 1 to {MAX_LEN} visible ASCII characters"),
            ),
        )),
    }
}

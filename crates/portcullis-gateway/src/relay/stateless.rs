//! 2026-07-28 clients, the same for every front: the gateway initializes a session-era upstream
//! itself (and keeps that session), answers `server/discover` from what the upstream said, and takes
//! the client's per-request envelope off before a session-era upstream sees it.

use serde_json::{Value, json};

use crate::jsonrpc;
use crate::node::Node;
use crate::protocol::{self, LATEST_SESSION_ERA, META_VERSION};
use crate::session::{SessionError, SessionHandle};

/// The `_meta` key a stateless client names one of its conversations with (see `http::session_key`);
/// the gateway's own, so never forwarded.
pub const SESSION_KEY: &str = "dev.portcullis/sessionKey";

/// Where the protocol's own `_meta` keys live.
const ENVELOPE_PREFIX: &str = "io.modelcontextprotocol/";

/// Whether `message` comes from a 2026-07-28 client: it names the version in `_meta`, or asks
/// `server/discover` (which only that era sends).
pub fn speaks_stateless(message: &Value) -> bool {
    jsonrpc::meta_str(message, META_VERSION).is_some() || jsonrpc::method(message) == Some("server/discover")
}

/// The -32022 answer when the `_meta` version is one the gateway does not speak.
///
/// # Errors
/// That answer, ready to send.
pub fn check_version(message: &Value) -> Result<(), Value> {
    match jsonrpc::meta_str(message, META_VERSION) {
        Some(version) if !protocol::is_supported(version) => Err(jsonrpc::error_with_data(
            message.get("id").cloned().unwrap_or(Value::Null),
            jsonrpc::UNSUPPORTED_VERSION,
            &format!("unsupported protocol version {version:?}"),
            json!({"supported": protocol::SUPPORTED}),
        )),
        _ => Ok(()),
    }
}

/// The gateway's own handshake with the upstream on behalf of stateless clients; returns the
/// upstream's `initialize` result (or, for a 2026-07-28-only upstream, its `server/discover` result),
/// which the caller keeps in the session's `upstream_init`.
///
/// # Errors
/// When the session can't take the request, or the upstream is slow or speaks neither era.
pub async fn initialize_upstream(node: &Node, session: &SessionHandle) -> Result<Value, SessionError> {
    super::handshake::initialize(node, session, upstream_params()).await
}

/// The `initialize` params of the gateway's own handshake on behalf of stateless clients.
pub fn upstream_params() -> Value {
    json!({
        "protocolVersion": LATEST_SESSION_ERA,
        // What the gateway can relay to stateless clients as input requests (see `input_required`);
        // `roots` is left out: an upstream may ask for roots outside any call, where no client listens.
        "capabilities": {"sampling": {}, "elicitation": {}},
        "clientInfo": {"name": "portcullis-gateway", "version": env!("CARGO_PKG_VERSION")},
    })
}

/// The gateway's answer to `request` (a `server/discover`), built from what the upstream said when
/// the gateway initialized it.
pub fn discover_answer(session: &SessionHandle, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let init = session.info().upstream_init.get().cloned().unwrap_or_default();
    let server = &*session.info().server;
    let mut result = json!({
        "supportedVersions": protocol::SUPPORTED,
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": init.get("serverInfo").cloned().unwrap_or_else(|| json!({"name": server, "version": "unknown"})),
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
    });
    if let Some(instructions) = init.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    jsonrpc::result(id, result)
}

/// Takes the client's hop off a request: the gateway's session key always, and the protocol's
/// envelope keys unless the upstream speaks 2026-07-28 (then it takes the client's envelope as it is).
/// A session-era upstream would refuse a request carrying them. Everything else in `_meta` passes on.
pub fn strip_envelope(mut message: Value, session: &SessionHandle) -> Value {
    let protocol_keys_too = !session.bridges_to_stateless();
    if let Some(params) = message.get_mut("params").and_then(Value::as_object_mut)
        && let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut)
    {
        meta.retain(|key, _| !(protocol_keys_too && key.starts_with(ENVELOPE_PREFIX)) && key != SESSION_KEY);
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
    message
}

//! Stateless (2026-07-28) clients: headers checked against the body, `server/discover` answered, and a
//! session-era upstream initialized by the gateway itself and kept per grant.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::dispatch::dispatch;
use super::forward::Answer;
use super::session_key::{SESSION_KEY, session_key};
use super::{Caller, Reject, json_response};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::{
    self, LATEST_SESSION_ERA, META_VERSION, METHOD_HEADER, NAME_HEADER, STATELESS, VERSION_HEADER,
};
use crate::session::{SessionError, SessionHandle};
use crate::state::ServerEntry;

/// Whether a message without a session id comes from a stateless client.
pub fn applies(headers: &HeaderMap, message: &Value) -> bool {
    headers.get(VERSION_HEADER).is_some_and(|v| v == STATELESS)
        || headers.contains_key(METHOD_HEADER)
        || jsonrpc::meta_str(message, META_VERSION).is_some()
        || jsonrpc::method(message) == Some("server/discover")
}

/// Serves one stateless message.
pub async fn handle(
    node: Arc<Node>,
    caller: &Caller,
    server: &ServerEntry,
    headers: &HeaderMap,
    message: Value,
    kind: Kind,
    sse: bool,
) -> Result<Response, Reject> {
    check_headers(headers, &message)?;
    let key = session_key(&message)?;
    let init_node = Arc::clone(&node);
    let session = node
        .sessions
        .stateless(server, Arc::clone(&caller.grant_id), key, |handle| {
            initialize_upstream(init_node, handle)
        })
        .await
        .map_err(|e| super::post::open_failed(&node, &message, &e))?;
    if jsonrpc::method(&message) == Some("server/discover") {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let init = session.info().upstream_init.get().cloned().unwrap_or_default();
        let mut result = json!({
            "supportedVersions": protocol::SUPPORTED,
            "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            "serverInfo": init.get("serverInfo").cloned().unwrap_or_else(|| json!({"name": &*server.name, "version": "unknown"})),
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
        });
        if let Some(instructions) = init.get("instructions") {
            result["instructions"] = instructions.clone();
        }
        return Ok(json_response(StatusCode::OK, &jsonrpc::result(id, result)));
    }
    let answer = Answer {
        sse,
        stateless: true,
        cacheable: jsonrpc::method(&message).is_some_and(|m| protocol::CACHEABLE.contains(&m)),
        announce_session: false,
    };
    // A 2026-07-28 upstream takes the client's envelope as it is.
    let message = strip_envelope(message, !session.bridges_to_stateless());
    Ok(dispatch(node, caller, session, message, kind, answer).await)
}

/// The upstream speaks the session era over the session the gateway initialized: the per-request
/// 2026-07-28 envelope (`_meta` keys under `io.modelcontextprotocol/`, and the gateway's own session
/// key) belongs to the client's hop and would make such a server refuse the request. Everything else
/// in `_meta` passes on untouched.
pub(super) fn strip_envelope(mut message: Value, protocol_keys_too: bool) -> Value {
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

const ENVELOPE_PREFIX: &str = "io.modelcontextprotocol/";

/// `Mcp-Method`, `Mcp-Name` and the header version must agree with the body (-32020), and the version
/// must be one the gateway speaks (-32022).
pub(super) fn check_headers(headers: &HeaderMap, message: &Value) -> Result<(), Reject> {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let mismatch = |what: &str| {
        Reject::Rpc(
            StatusCode::BAD_REQUEST,
            jsonrpc::error(
                id.clone(),
                jsonrpc::HEADER_MISMATCH,
                &format!("header mismatch: {what}"),
            ),
        )
    };
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let method = jsonrpc::method(message);
    if let Some(declared) = header(METHOD_HEADER)
        && Some(declared) != method
    {
        return Err(mismatch("Mcp-Method does not match the body's method"));
    }
    if let Some(declared) = header(NAME_HEADER) {
        let params = jsonrpc::params(message);
        let named = params
            .and_then(|p| p.get("name").or_else(|| p.get("uri")))
            .and_then(Value::as_str);
        if Some(declared) != named {
            return Err(mismatch("Mcp-Name does not match the body's params.name"));
        }
    }
    let meta = jsonrpc::meta_str(message, META_VERSION);
    if let (Some(declared), Some(meta)) = (header(VERSION_HEADER), meta)
        && declared != meta
    {
        return Err(mismatch(
            "MCP-Protocol-Version does not match _meta protocolVersion",
        ));
    }
    if let Some(version) = meta
        && !protocol::is_supported(version)
    {
        return Err(Reject::Rpc(
            StatusCode::BAD_REQUEST,
            jsonrpc::error_with_data(
                id,
                jsonrpc::UNSUPPORTED_VERSION,
                &format!("unsupported protocol version {version:?}"),
                json!({"supported": protocol::SUPPORTED}),
            ),
        ));
    }
    Ok(())
}

/// The gateway's own handshake with a session-era upstream, on behalf of stateless clients.
async fn initialize_upstream(node: Arc<Node>, session: SessionHandle) -> Result<Value, SessionError> {
    let params = json!({
        "protocolVersion": LATEST_SESSION_ERA,
        "capabilities": {},
        "clientInfo": {"name": "portcullis-gateway", "version": env!("CARGO_PKG_VERSION")},
    });
    super::handshake::initialize(&node, &session, params).await
}

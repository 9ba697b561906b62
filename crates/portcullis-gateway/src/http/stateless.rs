//! Stateless (2026-07-28) clients: headers checked against the body, `server/discover` answered, and a
//! session-era upstream initialized by the gateway itself and kept per grant.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::dispatch::dispatch;
use super::forward::Answer;
use super::session_key::session_key;
use super::{Caller, Reject, json_response};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::{self, META_VERSION, METHOD_HEADER, NAME_HEADER, STATELESS, VERSION_HEADER};
use crate::relay::{held_calls, input_required, stateless};
use crate::state::ServerEntry;

/// Whether a message without a session id comes from a stateless client.
pub fn applies(headers: &HeaderMap, message: &Value) -> bool {
    headers.get(VERSION_HEADER).is_some_and(|v| v == STATELESS)
        || headers.contains_key(METHOD_HEADER)
        || stateless::speaks_stateless(message)
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
        .stateless(server, Arc::clone(&caller.grant_id), key, |handle| async move {
            stateless::initialize_upstream(&init_node, &handle).await
        })
        .await
        .map_err(|e| super::post::open_failed(&node, &message, &e))?;
    if jsonrpc::method(&message) == Some("server/discover") {
        let answer = stateless::discover_answer(&session, &message);
        return Ok(json_response(StatusCode::OK, &answer));
    }
    let answer = Answer {
        sse,
        stateless: true,
        cacheable: jsonrpc::method(&message).is_some_and(|m| protocol::CACHEABLE.contains(&m)),
        announce_session: false,
    };
    let message = stateless::strip_envelope(message, &session);
    if kind == Kind::Request && input_required::is_retry(&message) {
        // Continues an admitted call: the policy decided it when it was first asked.
        return Ok(super::forward::resume(node, session, message, answer).await);
    }
    if kind == Kind::Request && held_calls::is_retry(&message) {
        // The next round of a call a 2026-07-28 upstream asks input for: decided when first asked.
        return Ok(match held_calls::resume(&node, caller, &session, message) {
            Ok((message, finish)) => super::forward::forward(node, session, message, finish, answer).await,
            Err(reply) => json_response(StatusCode::OK, &super::forward::finalize(reply, answer)),
        });
    }
    Ok(dispatch(node, caller, session, message, kind, answer).await)
}

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
    stateless::check_version(message).map_err(|answer| Reject::Rpc(StatusCode::BAD_REQUEST, answer))
}

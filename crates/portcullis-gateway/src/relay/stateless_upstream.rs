//! Upstreams that speak only 2026-07-28 (no `initialize`): when one refuses the `initialize` a
//! session-era client (or the gateway, for a stateless client) sent, the gateway asks it
//! `server/discover` instead, answers the client's `initialize` from that, and from then on the
//! session adds the per-request `_meta` envelope the upstream needs.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::{self, LATEST_SESSION_ERA, STATELESS};
use crate::session::SessionHandle;

/// How long the session may take to accept the `server/discover` request.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether an upstream's answer to `initialize` says it does not do `initialize` (a JSON-RPC error
/// from the server itself, not the gateway's own transport error).
pub fn refused_initialize(response: &Value) -> bool {
    response
        .pointer("/error/code")
        .and_then(Value::as_i64)
        .is_some_and(|code| code != jsonrpc::UPSTREAM_ERROR)
}

/// Switches the session to speak 2026-07-28 with `client_info` and `capabilities` in every request's
/// envelope, and returns the upstream's `server/discover` result; `None` when the upstream does not
/// speak 2026-07-28 either.
pub async fn discover(
    node: &Node,
    session: &SessionHandle,
    client_info: Value,
    capabilities: Value,
) -> Option<Value> {
    let mut envelope = Map::new();
    envelope.insert(protocol::META_VERSION.to_owned(), Value::from(STATELESS));
    envelope.insert("io.modelcontextprotocol/clientInfo".to_owned(), client_info);
    envelope.insert(
        "io.modelcontextprotocol/clientCapabilities".to_owned(),
        capabilities,
    );
    session.speak_stateless_upstream(envelope);
    let request = json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {}});
    let (upstream_id, mut replies) = session.request(request, ACK_TIMEOUT).await.ok()?;
    let deadline = tokio::time::Instant::now() + node.settings.upstream_timeout;
    let response = loop {
        match tokio::time::timeout_at(deadline, replies.recv()).await {
            Ok(Some(message)) if jsonrpc::kind(&message) == Some(Kind::Response) => break message,
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(_) => {
                session.cancel(upstream_id, "gateway timeout");
                return None;
            }
        }
    };
    let result = response.get("result")?;
    let speaks_stateless = result
        .get("supportedVersions")
        .and_then(Value::as_array)
        .is_some_and(|versions| versions.iter().any(|v| v == STATELESS));
    if !speaks_stateless {
        tracing::warn!(session = %session.info().id, "upstream refused initialize and does not speak 2026-07-28");
        return None;
    }
    tracing::debug!(session = %session.info().id, "upstream speaks only 2026-07-28: bridging");
    Some(result.clone())
}

/// A session-era client's `initialize` that the upstream refused: the answer built from the
/// upstream's `server/discover`, or `None` when it cannot be bridged.
pub async fn answer_initialize(
    node: &Node,
    session: &SessionHandle,
    request: &Value,
    refused: &Value,
) -> Option<Value> {
    if !refused_initialize(refused) {
        return None;
    }
    let params = jsonrpc::params(request);
    let field = |name: &str| params.and_then(|p| p.get(name)).cloned();
    let client_info = field("clientInfo").unwrap_or_else(|| json!({"name": "unknown", "version": "0"}));
    let capabilities = field("capabilities").unwrap_or_else(|| json!({}));
    let discovered = discover(node, session, client_info, capabilities).await?;
    let asked = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
        .filter(|v| protocol::is_supported(v) && *v != STATELESS)
        .unwrap_or(LATEST_SESSION_ERA);
    let mut result = json!({
        "protocolVersion": asked,
        "capabilities": discovered.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": discovered.get("serverInfo").cloned().unwrap_or_else(|| json!({"name": &*session.info().server, "version": "unknown"})),
    });
    if let Some(instructions) = discovered.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    let id = refused.get("id").cloned().unwrap_or(Value::Null);
    Some(jsonrpc::result(id, result))
}

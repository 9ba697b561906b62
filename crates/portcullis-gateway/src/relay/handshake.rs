//! The gateway's own `initialize` of an upstream: for stateless clients, and to re-establish a session
//! another node created (with its client's original params).

use std::time::Duration;

use serde_json::{Value, json};

use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::session::{SessionError, SessionHandle};

/// Sends `initialize` with `params`, waits for the result, then `notifications/initialized`.
///
/// # Errors
/// When the session can't take the request, the upstream is slow or refuses.
pub async fn initialize(node: &Node, session: &SessionHandle, params: Value) -> Result<Value, SessionError> {
    let request = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params.clone()});
    let (upstream_id, mut replies) = session.request(request, Duration::from_secs(5)).await?;
    let response = loop {
        match tokio::time::timeout(node.settings.upstream_timeout, replies.recv()).await {
            Ok(Some(message)) if jsonrpc::kind(&message) == Some(Kind::Response) => break message,
            Ok(Some(_)) => {}
            Ok(None) => return Err(SessionError::Ended),
            Err(_) => {
                session.cancel(upstream_id, "gateway timeout");
                return Err(SessionError::Initialize(
                    "upstream did not answer initialize in time".to_owned(),
                ));
            }
        }
    };
    if super::stateless_upstream::refused_initialize(&response) {
        // An upstream that speaks only 2026-07-28: its discover result stands in for initialize.
        let client_info = params
            .get("clientInfo")
            .cloned()
            .unwrap_or_else(|| json!({"name": "portcullis-gateway", "version": env!("CARGO_PKG_VERSION")}));
        let capabilities = params.get("capabilities").cloned().unwrap_or_else(|| json!({}));
        return super::stateless_upstream::discover(node, session, client_info, capabilities)
            .await
            .ok_or_else(|| {
                SessionError::Initialize("upstream speaks neither initialize nor server/discover".to_owned())
            });
    }
    let Some(result) = response.get("result").cloned() else {
        let why = response
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no result");
        return Err(SessionError::Initialize(why.to_owned()));
    };
    session
        .notify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await?;
    Ok(result)
}

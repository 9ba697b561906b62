//! What `/mcp` does with one message of an aggregate session (session-era or stateless): open it
//! (`initialize`), merge (`tools/list`), route (`tools/call`), answer (`ping`), pass notifications to
//! every member, refuse the rest clearly.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::members::Aggregate;
use super::{Aggregates, call, list};
use crate::http::forward::{Answer, finalize};
use crate::http::{Caller, Reject, json_response};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::{self, SESSION_HEADER};
use crate::session::mint_session_id;

/// Serves `message` (of `kind`) in `aggregate`, answering in the client's era.
pub(super) async fn serve(
    node: &Arc<Node>,
    caller: &Caller,
    aggregate: &Arc<Aggregate>,
    message: Value,
    kind: Kind,
    answer: Answer,
) -> Response {
    if kind != Kind::Request {
        notify_members(node, aggregate, message).await;
        return StatusCode::ACCEPTED.into_response();
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let reply = |value: Value| json_response(StatusCode::OK, &finalize(value, answer));
    match jsonrpc::method(&message).unwrap_or_default() {
        "tools/list" if message.pointer("/params/cursor").is_some_and(|c| !c.is_null()) => {
            let why = "the merged tool list has a single page: list again without a cursor";
            reply(jsonrpc::error(id, jsonrpc::INVALID_PARAMS, why))
        }
        "tools/list" => reply(list::merged(node, caller, aggregate, id).await),
        "tools/call" => call::call(Arc::clone(node), caller, aggregate, message, answer).await,
        "ping" => reply(jsonrpc::result(id, json!({}))),
        "initialize" => reply(jsonrpc::error(
            id,
            jsonrpc::INVALID_REQUEST,
            "this session is already initialized",
        )),
        other => {
            let why = format!(
                "{other} is not served on /mcp when a grant has several servers (only tools are merged): use /mcp/<server>"
            );
            reply(jsonrpc::error(id, jsonrpc::METHOD_NOT_FOUND, &why))
        }
    }
}

/// Opens an aggregate session: every server's upstream is initialized with the client's params; the
/// session stands if at least one of them answered.
pub(super) async fn initialize(
    aggregates: &Aggregates,
    caller: &Caller,
    message: Value,
) -> Result<Response, Reject> {
    let node = &aggregates.node;
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    // Aggregates whose every member ended (idle expiry, revoked grant) go when new ones come.
    aggregates.open.retain(|_, aggregate| aggregate.is_alive(node));
    let session_id: Arc<str> = mint_session_id()
        .map(Arc::from)
        .ok_or_else(|| Reject::status(StatusCode::SERVICE_UNAVAILABLE, "no randomness for a session id"))?;
    let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
    let aggregate = Arc::new(Aggregate::new(
        Arc::clone(&session_id),
        Arc::clone(&caller.grant_id),
        params.clone(),
        caller.grant.all_servers(),
    ));
    let failures = open_members(node, &aggregate).await;
    if failures.len() == aggregate.members.len() {
        node.metrics.error("upstream");
        let why = format!(
            "no server of this grant could be initialized ({})",
            failures.join("; ")
        );
        return Err(Reject::Rpc(
            StatusCode::BAD_GATEWAY,
            jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &why),
        ));
    }
    aggregates
        .open
        .insert(Arc::clone(&session_id), Arc::clone(&aggregate));
    super::continuity::record(node, &aggregate, &params);
    tracing::info!(session = %session_id, grant = %caller.grant_id, servers = aggregate.members.len(), down = failures.len(), "aggregate session opened");
    let version = negotiated(&params);
    let mut result = facts(&aggregate);
    result["protocolVersion"] = json!(version);
    let mut response = json_response(StatusCode::OK, &jsonrpc::result(id, result));
    if let Ok(value) = HeaderValue::from_str(&session_id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    Ok(response)
}

/// The protocol version an aggregate session speaks with its client, given its `initialize` params:
/// the client's, when the gateway serves it in the session era, else the latest session era.
pub(super) fn negotiated(params: &Value) -> &str {
    params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .filter(|v| protocol::is_supported(v) && *v != protocol::STATELESS)
        .unwrap_or(protocol::LATEST_SESSION_ERA)
}

/// Opens every member at once; returns `server: why` for each that failed.
pub(super) async fn open_members(node: &Node, aggregate: &Aggregate) -> Vec<String> {
    let opened = futures_util::future::join_all(
        aggregate
            .members
            .iter()
            .map(|member| aggregate.session(node, member)),
    )
    .await;
    aggregate
        .members
        .iter()
        .zip(opened)
        .filter_map(|(member, opened)| opened.err().map(|why| format!("{}: {why}", member.server)))
        .collect()
}

/// What the endpoint says about itself (`initialize`, `server/discover`): only tools, listed and
/// changing; the gateway as the server.
pub(super) fn facts(aggregate: &Aggregate) -> Value {
    let names: Vec<String> = aggregate.servers().iter().map(ToString::to_string).collect();
    json!({
        "capabilities": {"tools": {"listChanged": true}},
        "serverInfo": {"name": "portcullis", "version": env!("CARGO_PKG_VERSION")},
        "instructions": format!("Tools of the servers {} behind one endpoint, named <server>__<tool>.", names.join(", ")),
    })
}

/// A client's notification or response goes to every member that is up: each session passes on only
/// what concerns it (a cancellation names a request only one of them has in flight). The members were
/// initialized by the gateway, so the client's `notifications/initialized` is theirs already.
async fn notify_members(node: &Node, aggregate: &Aggregate, message: Value) {
    if jsonrpc::method(&message) == Some("notifications/initialized") {
        return;
    }
    for member in &aggregate.members {
        if let Ok(session) = aggregate.session(node, member).await
            && let Err(e) = session.notify(message.clone()).await
        {
            tracing::debug!(aggregate = %aggregate.id, server = %member.server, error = %e, "notification not delivered");
        }
    }
}

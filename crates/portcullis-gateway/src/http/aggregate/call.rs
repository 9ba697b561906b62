//! `tools/call` on the aggregate endpoint: the prefix picks the server, the policy decides under the
//! real tool name in that server's session (so audit records name the real server and tool), and the
//! call goes through that session like any call on `/mcp/<server>`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::members::Aggregate;
use super::names;
use crate::http::forward::{Answer, finalize, forward_logged, resume_logged};
use crate::http::{Caller, json_response};
use crate::jsonrpc;
use crate::node::Node;
use crate::relay::{Finish, finish_for, held_calls, input_required};
use crate::session::replay::SharedLog;

/// Routes one `tools/call` and answers it (JSON, or SSE when the server streams and the client takes it).
pub(super) async fn call(
    node: Arc<Node>,
    caller: &Caller,
    aggregate: &Arc<Aggregate>,
    mut message: Value,
    answer: Answer,
) -> Response {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let refuse = |code, why: &str| json_response(StatusCode::OK, &jsonrpc::error(id.clone(), code, why));
    let Some(name) = message.pointer("/params/name").and_then(Value::as_str) else {
        return refuse(jsonrpc::INVALID_PARAMS, "tools/call needs params.name, a string");
    };
    let servers = aggregate.servers();
    let Some((server, tool)) = names::split(&servers, name) else {
        let listed: Vec<&str> = servers.iter().map(|s| &**s).collect();
        let why = format!(
            "unknown tool {name:?}: tools here are named <server>__<tool>, with <server> one of {}",
            listed.join(", ")
        );
        return refuse(jsonrpc::INVALID_PARAMS, &why);
    };
    let (server, tool) = (Arc::clone(server), tool.to_owned());
    if !caller.grant.covers(&server) {
        let why = format!("this token is no longer granted access to server {:?}", &*server);
        return refuse(jsonrpc::INVALID_PARAMS, &why);
    }
    let Some(member) = aggregate.member(&server) else {
        return refuse(jsonrpc::INVALID_PARAMS, "unknown server");
    };
    let session = match aggregate.session(&node, member).await {
        Ok(session) => session,
        Err(reason) => {
            node.metrics.error("upstream");
            let why = format!("server {:?} is unavailable: {reason}", &*server);
            return refuse(jsonrpc::UPSTREAM_ERROR, &why);
        }
    };
    if answer.stateless {
        // The client's per-request envelope belongs to its hop, as on `/mcp/<server>`.
        message = crate::relay::stateless::strip_envelope(message, &session);
    }
    if let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) {
        params.insert("name".to_owned(), Value::String(tool));
    }
    // A streamed answer's events are the aggregate's, so `Last-Event-ID` on `/mcp` finds them.
    let log: SharedLog = Arc::clone(aggregate) as SharedLog;
    if answer.stateless && input_required::is_retry(&message) {
        // Continues a call the gateway parked for the client's input, in the member session that
        // parked it: decided when first asked.
        return resume_logged(node, session, message, answer, Some(log)).await;
    }
    let decided = if answer.stateless && held_calls::is_retry(&message) {
        // The next round of a call a 2026-07-28 upstream asks input for: decided when first asked.
        held_calls::resume(&node, caller, &session, message)
    } else {
        let finish = finish_for(&node, caller, &session, &message, None).await;
        finish.map(|finish| (message, finish))
    };
    match decided {
        Ok((message, then)) => {
            let finish = Finish::Member {
                server,
                then: Box::new(then),
            };
            forward_logged(node, session, message, finish, answer, Some(log)).await
        }
        // A denial is a tool result the agent reads, in its era, not an error about the server.
        Err(reply) => json_response(StatusCode::OK, &finalize(reply, answer)),
    }
}

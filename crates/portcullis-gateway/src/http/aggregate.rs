//! `/mcp`: one endpoint for every server a grant may use. A grant with one server is served exactly
//! as at `/mcp/<server>`. A grant with several gets an aggregate session: one `Mcp-Session-Id` for the
//! client, one upstream session per server behind it ([`members`]); `tools/list` merges the servers'
//! filtered lists with names prefixed `<server>__<tool>` ([`list`], [`names`]); `tools/call` is routed
//! by its prefix ([`call`]); `GET` merges the servers' standalone streams ([`stream`]). A server that
//! is down loses only its own tools.
//!
//! Stateless (2026-07-28) clients share one aggregate per grant, which the gateway initializes
//! itself ([`stateless`]).
//!
//! What is not aggregated, on purpose: resources, prompts, completion and logging levels answer
//! "method not found" (their names and URIs would need prefixing too; use `/mcp/<server>`);
//! batches are refused; `ping` is answered by the gateway.

mod call;
mod continuity;
mod list;
mod members;
mod names;
mod serve;
mod stateless;
mod stream;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post as post_route;
use dashmap::DashMap;
use serde_json::Value;

use super::forward::Answer;
use super::post::accepts_sse;
use super::{Caller, Reject, auth, body, json_response};
use crate::ingress;
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::{self, SESSION_HEADER};
use members::Aggregate;

/// The aggregate sessions of this node.
pub(super) struct Aggregates {
    node: Arc<Node>,
    /// Session-era clients' sessions, by `Mcp-Session-Id`.
    open: DashMap<Arc<str>, Arc<Aggregate>>,
    /// Stateless (2026-07-28) clients share one aggregate per grant.
    stateless: DashMap<Arc<str>, Arc<Aggregate>>,
    /// Sessions deleted here lately ([`continuity::Ended`]).
    ended: continuity::Ended,
}

/// The router for `/mcp`.
pub(super) fn router(node: Arc<Node>) -> Router {
    let aggregates = Arc::new(Aggregates {
        node,
        open: DashMap::new(),
        stateless: DashMap::new(),
        ended: continuity::Ended::default(),
    });
    Router::new()
        .route("/mcp", post_route(post).get(get).delete(delete))
        .with_state(aggregates)
}

/// The grant's only server, when it has just one: `/mcp` is then `/mcp/<server>`.
fn single_server(caller: &Caller) -> Option<String> {
    match caller.grant.all_servers().as_slice() {
        [only] => Some(only.to_string()),
        _ => None,
    }
}

async fn post(State(aggregates): State<Arc<Aggregates>>, headers: HeaderMap, body: Body) -> Response {
    let node = Arc::clone(&aggregates.node);
    let caller = match auth::admit_bearer(&node, &headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    if let Some(server) = single_server(&caller) {
        return super::post::post(State(node), Path(server), headers, body).await;
    }
    match handle(&aggregates, &caller, &headers, body).await {
        Ok(response) => response,
        Err(reject) => reject.into_response(),
    }
}

async fn handle(
    aggregates: &Aggregates,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Reject> {
    let node = &aggregates.node;
    let bytes = body::read(body, headers, node.settings.max_body_bytes).await?;
    let message: Value = ingress::parse_json(&bytes, node.settings.max_body_bytes).map_err(|e| {
        node.metrics.error("bad_request");
        bad(e.to_response())
    })?;
    if let Some(version) = headers
        .get(protocol::VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        && !protocol::is_supported(version)
    {
        let why = format!("unsupported MCP-Protocol-Version {version:?}");
        let supported = serde_json::json!({"supported": protocol::SUPPORTED});
        return Err(bad(jsonrpc::error_with_data(
            Value::Null,
            jsonrpc::UNSUPPORTED_VERSION,
            &why,
            supported,
        )));
    }
    if message.is_array() {
        let why = "JSON-RPC batches are not served on /mcp: send one message per POST";
        return Err(bad(jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, why)));
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let kind = jsonrpc::kind(&message).ok_or_else(|| {
        let why = "not a JSON-RPC 2.0 request, notification or response";
        bad(jsonrpc::error(id.clone(), jsonrpc::INVALID_REQUEST, why))
    })?;
    let sse = accepts_sse(headers);
    if let Some(aggregate) = owned(aggregates, caller, headers).await? {
        let answer = Answer {
            sse,
            stateless: false,
            cacheable: false,
            announce_session: false,
        };
        return Ok(serve::serve(node, caller, &aggregate, message, kind, answer).await);
    }
    if kind == Kind::Request && jsonrpc::method(&message) == Some("initialize") {
        return serve::initialize(aggregates, caller, message).await;
    }
    if super::stateless::applies(headers, &message) {
        super::stateless::check_headers(headers, &message)?;
        let aggregate = stateless::aggregate(aggregates, caller);
        if jsonrpc::method(&message) == Some("server/discover") {
            return Ok(json_response(
                StatusCode::OK,
                &stateless::discover(&aggregate, id),
            ));
        }
        let answer = Answer {
            sse,
            stateless: true,
            cacheable: crate::relay::is_cacheable(jsonrpc::method(&message)),
            announce_session: false,
        };
        return Ok(serve::serve(node, caller, &aggregate, message, kind, answer).await);
    }
    let why = "missing Mcp-Session-Id: send initialize first, or use protocol 2026-07-28 with _meta";
    Err(bad(jsonrpc::error(id, jsonrpc::INVALID_REQUEST, why)))
}

async fn get(State(aggregates): State<Arc<Aggregates>>, headers: HeaderMap) -> Response {
    let node = Arc::clone(&aggregates.node);
    let opened = async {
        let caller = auth::admit_bearer(&node, &headers)?;
        if let Some(server) = single_server(&caller) {
            return Ok::<Response, Reject>(
                super::standalone::get(State(Arc::clone(&node)), Path(server), headers.clone()).await,
            );
        }
        let aggregate = owned(&aggregates, &caller, &headers)
            .await?
            .ok_or_else(|| Reject::status(StatusCode::BAD_REQUEST, "this needs an Mcp-Session-Id header"))?;
        if !accepts_sse(&headers) {
            return Err(Reject::status(
                StatusCode::NOT_ACCEPTABLE,
                "the GET stream is text/event-stream: send Accept: text/event-stream",
            ));
        }
        stream::open(&node, &aggregate, &headers).await
    };
    opened.await.unwrap_or_else(IntoResponse::into_response)
}

async fn delete(State(aggregates): State<Arc<Aggregates>>, headers: HeaderMap) -> Response {
    let node = Arc::clone(&aggregates.node);
    let closed = async {
        let caller = auth::admit_bearer(&node, &headers)?;
        if let Some(server) = single_server(&caller) {
            return Ok::<Response, Reject>(
                super::standalone::delete(State(Arc::clone(&node)), Path(server), headers.clone()).await,
            );
        }
        let id = headers
            .get(SESSION_HEADER)
            .ok_or_else(|| Reject::status(StatusCode::BAD_REQUEST, "this needs an Mcp-Session-Id header"))?
            .to_str()
            .map_err(|_| unknown_session())?;
        let held = aggregates
            .open
            .remove_if(id, |_, aggregate| aggregate.grant == caller.grant_id);
        // Forgotten cluster-wide even when another node holds it; that node ends it on next use.
        let known = continuity::forget(&node, &caller, id, held.is_some());
        if held.is_some() || known {
            aggregates.ended.note(id);
        }
        match held {
            Some((_, aggregate)) => aggregate.close(&node).await,
            None if known => {}
            None => return Err(unknown_session()),
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    closed.await.unwrap_or_else(IntoResponse::into_response)
}

/// The aggregate session named in `Mcp-Session-Id` (`None` without the header): held here, or
/// continued from the cluster's record. Another grant's session looks exactly like a missing one:
/// 404, so the client initializes again.
async fn owned(
    aggregates: &Aggregates,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Option<Arc<Aggregate>>, Reject> {
    let Some(value) = headers.get(SESSION_HEADER) else {
        return Ok(None);
    };
    let id = value.to_str().map_err(|_| unknown_session())?;
    let held = aggregates.open.get(id).map(|entry| Arc::clone(entry.value()));
    match held {
        Some(aggregate) if aggregate.grant != caller.grant_id => Err(unknown_session()),
        Some(aggregate) if continuity::forgotten_elsewhere(&aggregates.node, &aggregate) => {
            tracing::info!(session = id, "aggregate session deleted on another node");
            aggregates.open.remove(id);
            aggregate.close(&aggregates.node).await;
            Err(unknown_session())
        }
        Some(aggregate) => Ok(Some(aggregate)),
        None => continuity::resumed(aggregates, caller, id)
            .await?
            .map(Some)
            .ok_or_else(unknown_session),
    }
}

fn unknown_session() -> Reject {
    Reject::status(StatusCode::NOT_FOUND, "unknown session: initialize again")
}

fn bad(body: Value) -> Reject {
    Reject::Rpc(StatusCode::BAD_REQUEST, body)
}

//! The operators' listener: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::node::Node;

/// The ops router. Once shutdown begins `/readyz` says 503, so balancers stop sending traffic;
/// so does a clustered node whose store can't serve yet (see [`crate::cluster::Readiness`]).
pub fn router(state: Arc<Node>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let text = node.metrics.render(node.sessions.len(), node.sessions.asleep());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn readyz(State(node): State<Arc<Node>>) -> Response {
    if *node.draining.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    match node.cluster.readiness.as_ref().and_then(|r| r.not_ready()) {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
        None => "ready\n".into_response(),
    }
}

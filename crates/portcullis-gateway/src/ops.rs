//! The operators' listener: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::node::Node;

/// What the ops endpoints read.
pub struct OpsState {
    /// The node.
    pub node: Arc<Node>,
    /// Set once shutdown begins: `/readyz` then says 503 so balancers stop sending traffic.
    pub draining: AtomicBool,
}

/// The ops router.
pub fn router(state: Arc<OpsState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(ops): State<Arc<OpsState>>) -> Response {
    let text = ops.node.metrics.render(ops.node.sessions.len());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn readyz(State(ops): State<Arc<OpsState>>) -> Response {
    if ops.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

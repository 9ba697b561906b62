//! The agents' listener: Streamable HTTP at `/mcp/<server>` and, for every server of a grant at once,
//! at `/mcp` ([`aggregate`]); and the legacy (2024-11-05) HTTP+SSE
//! transport at `/sse/<server>` + `/messages/<server>`.

mod aggregate;
mod auth;
mod batch;
mod body;
mod continuity;
mod dispatch;
mod events;
mod forward;
mod guard;
mod legacy;
mod post;
mod reject;
mod resume;
mod session_key;
mod standalone;
mod stateless;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post as post_route;

pub use crate::relay::Finish;
pub use auth::{ANONYMOUS, Caller};
pub use reject::Reject;

use crate::node::Node;

/// The agents' router.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route(
            "/mcp/{server}",
            post_route(post::post)
                .get(standalone::get)
                .delete(standalone::delete),
        )
        .with_state(Arc::clone(&node))
        .merge(aggregate::router(Arc::clone(&node)))
        .merge(legacy::router(node))
}

/// A JSON response, for handlers that build responses by hand.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

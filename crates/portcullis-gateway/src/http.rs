//! The agents' listener: Streamable HTTP at `/mcp/<server>`.

mod auth;
mod batch;
mod body;
mod dispatch;
mod forward;
mod guard;
mod post;
mod reject;
mod stateless;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post as post_route;

pub use auth::Caller;
pub use forward::Finish;
pub use reject::Reject;

use crate::node::Node;
use crate::protocol::SESSION_HEADER;

/// The agents' router.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/mcp/{server}", post_route(post::post).get(get).delete(delete))
        .with_state(node)
}

/// The server-to-client stream is not offered yet: notifications and server requests reach the client
/// on the POST response stream of the request they concern.
async fn get() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST, DELETE")],
        "this gateway does not offer the GET stream yet; server messages arrive on POST response streams\n",
    )
        .into_response()
}

/// Ends a session.
async fn delete(State(node): State<Arc<Node>>, Path(server): Path<String>, headers: HeaderMap) -> Response {
    let ended = async {
        guard::check(&headers, &node.settings)?;
        let state = node.state.borrow().clone();
        let entry = state
            .servers
            .get(server.as_str())
            .cloned()
            .ok_or_else(|| Reject::status(StatusCode::NOT_FOUND, "no such server"))?;
        let caller = auth::authenticate(&headers, &state, &entry)?;
        let session = headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|id| node.sessions.get(id))
            .filter(|s| s.info().grant == caller.grant_id && s.info().server == entry.name)
            .ok_or_else(|| Reject::status(StatusCode::NOT_FOUND, "unknown session"))?;
        node.sessions.close(&session.info().id);
        Ok::<_, Reject>(StatusCode::NO_CONTENT.into_response())
    };
    ended.await.unwrap_or_else(IntoResponse::into_response)
}

/// A body-less helper for handlers that build responses by hand.
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

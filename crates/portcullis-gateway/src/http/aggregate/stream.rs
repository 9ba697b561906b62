//! `GET /mcp`: one standalone stream for the client, fed by every member's (list changes, logs,
//! resource updates, requests). Messages pass unchanged, except that a request from a member's HTTP
//! upstream stream carries an id unique on the node; the client's answer is offered to every member
//! (see [`super::notify_members`]) and only the session that relayed the request takes it.

use std::sync::Arc;

use axum::response::Response;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::members::Aggregate;
use crate::http::events;
use crate::http::forward::sse_event;
use crate::node::Node;

/// Opens the merged stream. It ends when every member's stream has ended, or the node drains. A
/// member that was down when it opened is not on it: the client reopens the stream to get it.
pub(super) async fn open(node: &Arc<Node>, aggregate: &Aggregate) -> Response {
    let (frames, source) = mpsc::channel::<Bytes>(32);
    for member in &aggregate.members {
        let Ok(session) = aggregate.session(node, member).await else {
            continue;
        };
        let Ok(mut messages) = session.listen().await else {
            continue;
        };
        let frames = frames.clone();
        tokio::spawn(async move {
            while let Some(message) = messages.recv().await {
                if frames.send(sse_event(&message)).await.is_err() {
                    return;
                }
            }
        });
    }
    events::response(
        source,
        node.settings.sse_keepalive,
        Some(node.draining.subscribe()),
    )
}

//! Ends the sessions of grants that no longer admit anything (revoked, removed, or moved to another
//! server), as soon as a snapshot without them is published. Each request is authenticated against
//! the current snapshot anyway; this also ends what a request doesn't touch: the open GET stream and
//! the upstream connection.

use std::collections::HashSet;
use std::sync::Arc;

use crate::http::ANONYMOUS;
use crate::node::Node;
use crate::state::GatewayState;

/// Watches the node's snapshots until the channel closes, closing orphaned sessions after each.
pub async fn end_revoked(node: Arc<Node>) {
    let mut state = node.state.clone();
    while state.changed().await.is_ok() {
        let snapshot = Arc::clone(&state.borrow_and_update());
        let closed = close_orphans(&node, &snapshot);
        if closed > 0 {
            tracing::info!(closed, "sessions of revoked grants closed");
        }
    }
}

/// Closes every session whose grant the snapshot no longer has for its server; returns how many.
fn close_orphans(node: &Node, state: &GatewayState) -> usize {
    let live: HashSet<(&str, Arc<str>)> = state
        .grants
        .values()
        .flat_map(|grant| {
            let id = grant.identity.id.as_str();
            grant.all_servers().into_iter().map(move |server| (id, server))
        })
        .collect();
    let orphans: Vec<Arc<str>> = node
        .sessions
        .list()
        .into_iter()
        .filter(|info| {
            let anonymous = &*info.grant == ANONYMOUS
                && state
                    .servers
                    .get(&info.server)
                    .is_some_and(|server| server.anonymous.is_some());
            !anonymous && !live.contains(&(&*info.grant, Arc::clone(&info.server)))
        })
        .map(|info| Arc::clone(&info.id))
        .collect();
    orphans.iter().filter(|id| node.sessions.close(id)).count()
}

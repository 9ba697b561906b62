//! Running a node: both listeners, the idle-session reaper, and a shutdown that drains.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::node::{Node, NodeParts};
use crate::ops;

/// The two bound listeners (bind to port 0 in tests).
pub struct Listeners {
    /// For agents.
    pub agent: TcpListener,
    /// For operators.
    pub ops: TcpListener,
}

/// Why a node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a node until `shutdown` resolves, then stops accepting, drains in-flight requests, closes every
/// session (stopping their upstream processes) and returns.
///
/// # Errors
/// When a listener fails.
pub async fn serve(
    parts: NodeParts,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_node(Node::new(parts), listeners, shutdown).await
}

/// As [`serve`], for a node assembled by the caller (who keeps an `Arc` to operate on it: list and
/// end sessions, append admin records to its audit trail).
///
/// # Errors
/// When a listener fails.
pub async fn serve_node(
    node: Arc<Node>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let agent_addr = listeners.agent.local_addr()?;
    let ops_addr = listeners.ops.local_addr()?;
    let (ops_stop, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops_server = tokio::spawn(
        axum::serve(listeners.ops, ops::router(Arc::clone(&node)))
            .with_graceful_shutdown(async move {
                let _ = ops_stopped.await;
            })
            .into_future(),
    );
    let reaper = tokio::spawn(reap(Arc::clone(&node)));
    let revoker = tokio::spawn(crate::session::end_revoked(Arc::clone(&node)));
    tracing::info!(
        agent = %agent_addr,
        ops = %ops_addr,
        "gateway listening"
    );
    let draining = Arc::clone(&node);
    // Answers are written whole (and SSE events one by one): Nagle would only delay them.
    let agent_listener = listeners.agent.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let agent = axum::serve(agent_listener, crate::http::router(Arc::clone(&node)))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            draining.draining.send_replace(true);
        })
        .await;
    reaper.abort();
    revoker.abort();
    node.sessions.close_all();
    // Calls waiting on a client's input would otherwise settle (and be audited) only when their
    // timers fire, after this process is gone.
    crate::relay::settle_waiting(&node, crate::relay::Waiting::All).await;
    let _ = ops_stop.send(());
    let _ = ops_server.await;
    tracing::info!("gateway stopped");
    agent.map_err(ServeError::from)
}

/// Closes idle sessions, puts quiet ones to sleep, keeps the cluster's records of sessions in use
/// and forgets finished counter windows, now and then.
async fn reap(node: Arc<Node>) {
    let idle = node.settings.idle_session_timeout;
    let quiet = node.settings.hibernate_after;
    let period = (idle / 4)
        .min(quiet / 2)
        .clamp(Duration::from_millis(50), Duration::from_secs(30));
    let mut ticks = tokio::time::interval(period);
    let mut keeper = crate::cluster::Keeper::new(&node);
    loop {
        ticks.tick().await;
        node.sessions.hibernate_quiet(quiet);
        let closed = node.sessions.reap_idle(idle);
        if !closed.is_empty() {
            tracing::info!(closed = closed.len(), "idle sessions closed");
            crate::cluster::released(&node, &closed);
        }
        keeper.tick(&node);
        node.counters.prune(node.clock.now().as_millis());
    }
}

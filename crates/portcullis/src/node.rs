//! Running one gateway node: open the audit log, bind the listeners, serve until told to stop, reload
//! the configuration on SIGHUP, and let the audit writer drain last.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use portcullis_audit::{AuditLog, AuditOptions, WriterStopped};
use portcullis_gateway::audit::{AuditSink, NullAuditSink};
use portcullis_gateway::cluster::ClusterHooks;
use portcullis_gateway::config::{AuditSettings, LoadedConfig};
use portcullis_gateway::counters::CounterStore;
use portcullis_gateway::node::Node;
use portcullis_gateway::state::StatePublisher;
use portcullis_gateway::{Listeners, serve_node};
use tokio::net::TcpListener;

use crate::clock::SystemClock;

/// Where a started node listens.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    pub agent: SocketAddr,
    pub ops: SocketAddr,
}

/// Serves `loaded` until `stop` resolves. `feed` receives the state publisher (to reload the config
/// file, or to follow the replicated store) and the node (for the admin API); `on_ready` runs once
/// the listeners are bound.
pub async fn run(
    loaded: LoadedConfig,
    feed: impl FnOnce(StatePublisher, Arc<Node>),
    stop: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    run_clustered(loaded, ClusterHooks::default(), None, feed, stop, on_ready).await
}

/// As [`run`], for a node in a cluster: `cluster` tells the gateway what the store adds, and
/// `counters` keeps identity and global counters (in memory when `None`).
pub async fn run_clustered(
    loaded: LoadedConfig,
    cluster: ClusterHooks,
    counters: Option<Arc<dyn CounterStore>>,
    feed: impl FnOnce(StatePublisher, Arc<Node>),
    stop: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    let (audit, writer) = open_audit(&loaded.audit)?;
    let listen = loaded.listen;
    let agent = TcpListener::bind(listen.agent)
        .await
        .with_context(|| format!("cannot listen on {}", listen.agent))?;
    let ops = TcpListener::bind(listen.ops)
        .await
        .with_context(|| format!("cannot listen on {}", listen.ops))?;
    let bound = Bound {
        agent: agent.local_addr()?,
        ops: ops.local_addr()?,
    };
    let (mut parts, publisher) = loaded.into_node(audit, Arc::new(SystemClock));
    parts.cluster = cluster;
    if let Some(counters) = counters {
        parts.counters = counters;
    }
    let node = Node::new(parts);
    feed(publisher, Arc::clone(&node));
    tracing::info!(agent = %bound.agent, ops = %bound.ops, "gateway node listening");
    on_ready(bound);
    serve_node(node, Listeners { agent, ops }, stop).await?;
    if let Some(writer) = writer {
        // Every handle went with the node; the writer flushes what is queued and ends.
        if tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .is_err()
        {
            tracing::warn!("audit writer did not finish within 10 s of shutdown");
        }
    }
    Ok(())
}

/// The sink the node writes to, and what resolves once its writer thread has written everything
/// (none when disabled): the node waits for it at shutdown.
pub type OpenedAudit = (Arc<dyn AuditSink>, Option<WriterStopped>);

pub fn open_audit(settings: &AuditSettings) -> anyhow::Result<OpenedAudit> {
    if !settings.enabled {
        tracing::warn!("audit is disabled: decisions are not recorded");
        return Ok((Arc::new(NullAuditSink), None));
    }
    let (handle, writer) = AuditLog::open(
        &settings.path,
        AuditOptions {
            min_batch_interval: settings.sync_interval,
            ..AuditOptions::default()
        },
    )
    .with_context(|| format!("cannot open the audit log {}", settings.path.display()))?;
    tracing::info!(path = %settings.path.display(), last_seq = writer.last_seq(), "audit log open");
    let stopped = writer.start().context("cannot start the audit writer thread")?;
    Ok((Arc::new(handle), Some(stopped)))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining sessions");
}

/// Re-reads the config file on each SIGHUP and publishes it (the node without a replicated store).
#[cfg(unix)]
pub async fn reload_on_sighup(path: PathBuf, publisher: StatePublisher) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match portcullis_gateway::reload(&path, &publisher) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "configuration reloaded");
            }
            // The node keeps serving the last good configuration.
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "reload failed; keeping the running configuration");
            }
        }
    }
}

#[cfg(not(unix))]
pub async fn reload_on_sighup(_path: PathBuf, _publisher: StatePublisher) {}

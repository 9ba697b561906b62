//! `portcullis serve --data-dir`: a gateway node whose servers, policies and grants come from the
//! replicated store. On a node's first start the config file seeds the store (only what it lacks);
//! on SIGHUP it proposes what changed; an adapter task turns each applied state into the gateway's snapshot.
//!
//! Only `portcullis-store` knows Raft; this module speaks its commands and snapshots.

mod adapter;
mod admin;
mod approvals;
mod desired;
mod open;
mod propose;
mod ready;
mod session_counts;
mod session_expiry;
mod sessions;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use portcullis_gateway::cluster::ClusterHooks;
use portcullis_gateway::config::LoadedConfig;
use portcullis_store::Store;

pub use open::read_secret;

use crate::cli::ServeArgs;
use crate::clock::SystemClock;
use crate::node;

/// Runs a clustered node until SIGINT/SIGTERM.
///
/// # Errors
/// When the store can't open, found or join the cluster, or can't take the config file's seed.
pub async fn run(args: &ServeArgs, mut loaded: LoadedConfig) -> anyhow::Result<()> {
    let opened = open::open(&args.cluster).await?;
    let store = opened.store;
    // Only a node that just founded or joined seeds: a restarting member may not have caught up
    // yet, and what it lacks may only be what it hasn't applied (a server put is unconditional).
    // Later edits of the file reach the store through SIGHUP.
    if opened.fresh {
        let seeded = propose::sync_from_file(&store, &args.config, desired::Mode::Seed)
            .await
            .context("seeding the store from the config file")?;
        tracing::info!(
            node = store.node_id(),
            seeded,
            "store seeded from the config file"
        );
    }
    tracing::info!(node = store.node_id(), fresh = opened.fresh, "store ready");

    // The data plane starts from the store's state, never from the file's.
    let mut applied = store.subscribe();
    let first = applied.borrow_and_update().clone();
    let mut adapter = adapter::Adapter::default();
    loaded.state = adapter.build(&first.state);

    // Identity and global counters: slices of the cluster-wide quota, refilled in the background.
    let ledger = portcullis_quota::Ledger::new(store.node_id(), store.subscribe());
    let refill = tokio::spawn(portcullis_quota::run(
        Arc::clone(&ledger),
        store.clone(),
        Arc::new(SystemClock),
        portcullis_quota::Tuning::default(),
    ));

    // Session records nobody touched for the idle timeout go, swept by whichever node leads.
    let expiry = tokio::spawn(session_expiry::run(
        store.clone(),
        loaded.settings.idle_session_timeout,
    ));

    let raft_addr = opened.raft.as_ref().map(|raft| raft.addr.clone());
    let admin_listener = match loaded.admin.listen {
        Some(addr) => Some(admin::bind(addr, loaded.admin.tls.as_ref(), &args.config).await?),
        None => None,
    };
    let admin_addr = admin_listener.as_ref().map(|listener| listener.addr);
    let node_name = loaded.settings.node_id.clone();
    let audit_path = loaded.audit.enabled.then(|| loaded.audit.path.clone());
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let following = store.clone();
    let path = args.config.clone();
    let mut hooks = ClusterHooks::default();
    hooks.readiness = Some(Arc::new(ready::StoreReadiness(store.clone())));
    hooks.sessions = Some(Arc::new(sessions::StoreSessions(store.clone())));
    // Per-session counters follow their session to another node, reported off the call path.
    let count_sharing = portcullis_gateway::cluster::SessionCountSharing::new(Arc::new(
        session_counts::StoreSessionCounts(store.clone()),
    ));
    hooks.session_counts = Some(Arc::clone(&count_sharing));
    let count_reports =
        tokio::spawn(Arc::clone(&count_sharing).run(portcullis_gateway::cluster::REPORT_EVERY));
    let result = node::run_clustered(
        loaded,
        hooks,
        Some(ledger),
        move |publisher, node| {
            tokio::spawn(adapter::follow(applied, publisher, adapter, first.state.clone()));
            // Calls that need a human park in the store, decidable from any node.
            let _ = node
                .approvals
                .set(std::sync::Arc::new(approvals::StoreApprovals::new(
                    following.clone(),
                )));
            tokio::spawn(propose::on_sighup(following.clone(), path));
            if let Some(listener) = admin_listener {
                let announcing = following.clone();
                let addr = listener.addr;
                tokio::spawn(async move { admin::announce(&announcing, addr).await });
                admin::spawn(listener, following.clone(), node, node_name, audit_path, async {
                    let _ = admin_stopped.await;
                });
            }
            tokio::spawn(log_leader_changes(following));
        },
        node::shutdown_signal(),
        |bound| {
            // One machine-readable line for scripts and tests; logs go to stderr.
            let raft = raft_addr.map(|raft| format!(" raft={raft}")).unwrap_or_default();
            let admin = admin_addr
                .map(|admin| format!(" admin={admin}"))
                .unwrap_or_default();
            println!("ready agent={} ops={}{raft}{admin}", bound.agent, bound.ops);
        },
    )
    .await;
    let _ = admin_stop.send(());
    refill.abort();
    expiry.abort();
    count_reports.abort();
    if let Some(raft) = opened.raft {
        raft.stop().await;
    }
    if let Err(error) = store.shutdown().await {
        tracing::warn!(%error, "the store did not stop cleanly");
    }
    result
}

/// Logs each change of leader this node sees, so operators (and tests) can tell who leads.
async fn log_leader_changes(store: Store) {
    let mut known = None;
    loop {
        let leader = store.leader();
        if leader != known {
            match leader {
                Some(leader) => tracing::info!(node = store.node_id(), leader, "raft leader changed"),
                None => tracing::info!(node = store.node_id(), "raft leader unknown"),
            }
            known = leader;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

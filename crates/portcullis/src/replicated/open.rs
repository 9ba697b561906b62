//! Opening this node's replica: one voter alone (no secret), or a member of a cluster that serves
//! Raft on its own listener and founds or joins the cluster on first start.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use portcullis_store::{ClusterSecret, Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cli::ClusterArgs;

/// The environment variable that may hold the cluster secret (never a plain argument: argv is public).
const SECRET_ENV: &str = "PORTCULLIS_CLUSTER_SECRET";

/// An open replica, and its Raft listener when clustered.
pub struct Opened {
    pub store: Store,
    pub raft: Option<RaftServer>,
    /// The data directory was new: this node founded or joined a cluster just now.
    pub fresh: bool,
}

/// The task serving this node's side of Raft.
pub struct RaftServer {
    pub addr: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RaftServer {
    /// Stops serving Raft and waits (bounded) for the listener to close.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the raft listener did not stop within 5 s");
        }
    }
}

/// Opens the store described by the command line.
///
/// # Errors
/// Bad flag combinations, a weak or unreadable secret, a listener that can't bind, a store that
/// can't open, or a cluster that can't be founded or joined.
pub async fn open(args: &ClusterArgs) -> anyhow::Result<Opened> {
    let (Some(dir), Some(node_id)) = (&args.data_dir, args.node_id) else {
        bail!("--data-dir and --node-id go together");
    };
    if node_id == 0 {
        bail!("--node-id must be a positive integer");
    }
    let existed = dir.join("raft-log.redb").exists();
    let mut config = StoreConfig::new(node_id, dir);
    // A loaded machine must not depose a live leader over a late heartbeat.
    config.election_timeout = (Duration::from_millis(500), Duration::from_millis(1_000));
    let Some(secret) = read_secret(args.cluster_secret_file.as_deref())? else {
        if args.raft_addr.is_some() || args.join.is_some() {
            bail!(
                "--raft-addr and --join need the cluster secret: --cluster-secret-file FILE or {SECRET_ENV}"
            );
        }
        let store = Store::open_single(config).await?;
        return Ok(Opened {
            store,
            raft: None,
            fresh: !existed,
        });
    };
    let Some(raft_addr) = &args.raft_addr else {
        bail!("a clustered node needs --raft-addr HOST:PORT for the other nodes to reach it");
    };
    let listener = TcpListener::bind(raft_addr)
        .await
        .with_context(|| format!("cannot listen for raft on {raft_addr}"))?;
    config.raft_addr = match &args.raft_advertise {
        Some(addr) => addr.clone(),
        None => advertised(raft_addr, &listener)?,
    };
    // Leave from the listener's own address when it is a specific one, so peers (and a test's
    // fault-injecting relays) can tell this node's traffic by its source.
    config.source_ip = Some(listener.local_addr()?.ip()).filter(|ip| !ip.is_unspecified());
    let store = Store::open_cluster(config.clone(), secret).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = store.clone();
    let task = tokio::spawn(async move {
        let shutdown = async {
            stopped.await.ok();
        };
        if let Err(error) = serving.serve_raft(listener, shutdown).await {
            tracing::error!(%error, "the raft listener failed");
        }
    });
    let raft = RaftServer {
        addr: config.raft_addr.clone(),
        stop,
        task,
    };
    let rejoining = existed && is_member(&store).await;
    if rejoining {
        tracing::info!(
            node = node_id,
            "the data directory already belongs to a cluster: rejoining it"
        );
    } else if args.init {
        store
            .initialize(BTreeMap::from([(node_id, config.raft_addr.clone())]))
            .await?;
        tracing::info!(node = node_id, "founded a new cluster");
    } else if let Some(seed) = &args.join {
        store.join(seed).await?;
    } else {
        bail!(
            "{} belongs to no cluster yet: pass --init to found one or --join SEED_RAFT_ADDR",
            dir.display()
        );
    }
    Ok(Opened {
        store,
        raft: Some(raft),
        fresh: !rejoining,
    })
}

/// Whether the recovered log names any voters (Raft reports it shortly after starting).
async fn is_member(store: &Store) -> bool {
    for _ in 0..20 {
        if !store.voters().is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The address peers should use: as given, unless the port was 0 (then the one bound).
fn advertised(given: &str, listener: &TcpListener) -> anyhow::Result<String> {
    match given.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => Ok(listener.local_addr()?.to_string()),
        _ => Ok(given.to_owned()),
    }
}

/// The cluster secret from `file`, else from the environment; `None` when neither holds one.
///
/// # Errors
/// An unreadable file or a weak secret.
pub fn read_secret(file: Option<&Path>) -> anyhow::Result<Option<ClusterSecret>> {
    let raw = match file {
        Some(path) => Some(read_secret_file(path)?),
        None => std::env::var(SECRET_ENV).ok().filter(|value| !value.is_empty()),
    };
    raw.map(|raw| ClusterSecret::new(raw.trim_end_matches(['\r', '\n'])))
        .transpose()
        .context("the cluster secret is too weak")
}

fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the cluster secret from {}", path.display()))
}

//! The handle the rest of a node uses: propose commands, read the applied state.

mod config;
mod contact;
mod membership;
mod status;

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use openraft::RaftNetworkV2;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, ForwardToLeader, RaftError};
use openraft::network::RaftNetworkFactory;
use tokio::sync::watch;

pub use config::StoreConfig;
pub use status::{Member, RaftStatus};

use crate::network::{ClusterSecret, GrpcNetwork, NoPeers};
use crate::raft::{Raft, SnapshotData, TypeConfig};
use crate::{AppRequest, AppResponse, LogStore, NodeId, StateMachineStore, StateSnapshot, StoreError};

const LOG_FILE: &str = "raft-log.redb";
const SNAPSHOT_FILE: &str = "snapshot.redb";

/// One node's replica of the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    raft: Raft,
    config: Arc<StoreConfig>,
    state: watch::Receiver<Arc<StateSnapshot>>,
    /// Tell when Raft's tasks have let go of the databases, so a restart can reopen them.
    closed: [Arc<AtomicBool>; 2],
    /// The gRPC network, when this node has peers.
    network: Option<GrpcNetwork>,
    /// When the leader was last heard from.
    contact: Arc<contact::Contact>,
}

impl Store {
    /// Opens a node without peers from its data directory (created when missing). It recovers its
    /// vote, log and state; a fresh directory needs [`Store::initialize`] before it accepts writes.
    ///
    /// # Errors
    /// When the directory or its databases can't be opened, or Raft can't start on them.
    pub async fn open(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with_network(config, NoPeers, None).await
    }

    /// Opens a node that talks Raft with its peers over gRPC, authenticated by `secret`. Serve its
    /// side with [`Store::serve_raft`]; form the cluster with [`Store::initialize`] on one node,
    /// then [`Store::add_learner`] and [`Store::change_membership`].
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_cluster(config: StoreConfig, secret: ClusterSecret) -> Result<Self, StoreError> {
        let network = GrpcNetwork::new(secret, config.source_ip);
        Self::open_with_network(config, network.clone(), Some(network)).await
    }

    /// Opens the embedded default: a one-voter cluster of this node alone. A fresh directory is
    /// initialized; either way the call returns once this node leads and accepts writes.
    ///
    /// # Errors
    /// As [`Store::open`]; also when the node doesn't become leader within the propose timeout (its
    /// directory belongs to a cluster with other voters).
    pub async fn open_single(config: StoreConfig) -> Result<Self, StoreError> {
        let store = Self::open(config).await?;
        let me = store.config.node_id;
        store
            .initialize(BTreeMap::from([(me, store.config.raft_addr.clone())]))
            .await?;
        store
            .raft
            .wait(Some(store.config.propose_timeout))
            .current_leader(me, "single node leads")
            .await
            .map_err(|_| StoreError::NoQuorum {
                after: store.config.propose_timeout,
            })?;
        Ok(store)
    }

    /// Opens a node that reaches its peers through `network`.
    async fn open_with_network<N, C>(
        config: StoreConfig,
        network: N,
        grpc: Option<GrpcNetwork>,
    ) -> Result<Self, StoreError>
    where
        N: RaftNetworkFactory<TypeConfig, Network = C>,
        C: RaftNetworkV2<TypeConfig, SnapshotData = SnapshotData>,
    {
        let storage = |context| move |source| StoreError::Storage { context, source };
        fs::create_dir_all(&config.dir).map_err(storage("creating the data directory"))?;
        let log = LogStore::open(&config.dir.join(LOG_FILE)).map_err(storage("opening the raft log"))?;
        if let Some(owner) = log
            .claim(config.node_id)
            .await
            .map_err(storage("reading the data directory's node id"))?
        {
            return Err(StoreError::WrongNode {
                dir: config.dir.display().to_string(),
                owner,
                configured: config.node_id,
            });
        }
        let sm = StateMachineStore::open(&config.dir.join(SNAPSHOT_FILE))
            .map_err(storage("opening the snapshot store"))?;
        let state = sm.subscribe();
        let closed = [log.closed(), sm.closed()];
        let raft_config = config.raft_config()?;
        let raft = Raft::new(config.node_id, Arc::new(raft_config), network, log, sm)
            .await
            .map_err(|fatal| StoreError::Stopped(fatal.to_string()))?;
        tracing::info!(node = config.node_id, dir = %config.dir.display(), "store opened");
        Ok(Self {
            raft,
            config: Arc::new(config),
            state,
            closed,
            network: grpc,
            contact: contact::Contact::new(),
        })
    }

    /// Validates `command`, proposes it, and waits until it is committed and applied. A follower
    /// forwards the command to the leader (once), then waits (within the propose timeout) until it
    /// applied the entry itself, so when this returns, [`Store::subscribe`]rs of this node see the
    /// change, whichever node took it.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] before anything is proposed; [`StoreError::NotLeader`] when no leader
    /// is known (or this node has no network to forward with); [`StoreError::NoQuorum`] when the
    /// write isn't confirmed within the propose timeout.
    pub async fn propose(&self, command: AppRequest) -> Result<AppResponse, StoreError> {
        command.validate()?;
        match self
            .propose_here(command.clone())
            .await
            .map(|(response, _)| response)
        {
            Err(StoreError::NotLeader {
                leader_hint: Some(leader),
                leader_addr: Some(addr),
            }) if leader != self.config.node_id => match &self.network {
                Some(network) => {
                    tracing::debug!(op = command.op(), leader, "forwarding command to the leader");
                    // A little longer than the leader's own wait, so its verdict (e.g. no quorum)
                    // arrives before our deadline does.
                    let deadline = self.config.propose_timeout + Duration::from_secs(1);
                    let (response, index) = network.forward(leader, &addr, &command, deadline).await?;
                    self.wait_applied(index).await;
                    Ok(response)
                }
                None => Err(StoreError::NotLeader {
                    leader_hint: Some(leader),
                    leader_addr: Some(addr),
                }),
            },
            other => other,
        }
    }

    /// Proposes on this node only: the leader commits it and says at which log index, a follower says
    /// who leads.
    pub(crate) async fn propose_here(&self, command: AppRequest) -> Result<(AppResponse, u64), StoreError> {
        command.validate()?;
        let op = command.op();
        let after = self.config.propose_timeout;
        let written = tokio::time::timeout(after, self.raft.client_write(command))
            .await
            .map_err(|_| StoreError::NoQuorum { after })?;
        match written {
            Ok(response) => {
                tracing::debug!(op, index = response.log_id.index, "command applied");
                Ok((response.data, response.log_id.index))
            }
            Err(error) => Err(write_error(error)),
        }
    }

    /// Waits (within the propose timeout) until this node applied the entry at `index`. A node that
    /// lags that long still returns: the write is committed, and it will apply it when it catches up.
    async fn wait_applied(&self, index: u64) {
        let mut state = self.state.clone();
        let applied = state.wait_for(|snapshot| snapshot.applied_index >= Some(index));
        if tokio::time::timeout(self.config.propose_timeout, applied)
            .await
            .is_err()
        {
            tracing::warn!(
                index,
                "a forwarded write committed but this node has not applied it yet"
            );
        }
    }

    /// Serves this node's side of the Raft network on `listener` until `shutdown` completes.
    ///
    /// # Errors
    /// When the store was opened without a cluster secret, or the listener fails.
    pub async fn serve_raft(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), StoreError> {
        let Some(network) = &self.network else {
            return Err(StoreError::Raft(
                "this node was opened without a cluster secret: open it with Store::open_cluster".to_owned(),
            ));
        };
        crate::network::serve(self.clone(), network.secret().clone(), listener, shutdown).await
    }

    /// A receiver of the applied state; it changes after every batch of applied entries.
    pub fn subscribe(&self) -> watch::Receiver<Arc<StateSnapshot>> {
        self.state.clone()
    }

    /// The applied state now.
    pub fn current(&self) -> Arc<StateSnapshot> {
        Arc::clone(&self.state.borrow())
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// The Raft node, for the network server.
    pub(crate) fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The leader's append was taken (the network server calls this).
    pub(crate) fn heard_from_leader(&self) {
        self.contact.heard_from_leader();
    }

    /// Stops Raft on this node; the data directory keeps everything for the next open.
    ///
    /// # Errors
    /// When the Raft task failed while stopping.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.raft
            .shutdown()
            .await
            .map_err(|error| StoreError::Stopped(error.to_string()))?;
        // Raft's storage tasks finish after the core stops; wait (bounded) until they closed the
        // databases so the directory can be opened again in this process.
        let deadline = tokio::time::Instant::now() + self.config.propose_timeout;
        while !self.closed.iter().all(|closed| closed.load(Ordering::Acquire)) {
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Stopped(
                    "raft stopped but its storage tasks still hold the data files".to_owned(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tracing::info!(node = self.config.node_id, "store stopped");
        Ok(())
    }
}

fn write_error(error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> StoreError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => not_leader(forward),
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward)) => StoreError::LeaderChanged {
            leader_hint: forward.leader_id,
        },
        RaftError::APIError(other) => StoreError::Raft(other.to_string()),
        RaftError::Fatal(fatal) => StoreError::Stopped(fatal.to_string()),
    }
}

fn not_leader(forward: ForwardToLeader<TypeConfig>) -> StoreError {
    StoreError::NotLeader {
        leader_hint: forward.leader_id,
        leader_addr: forward.leader_node.map(|node| node.addr),
    }
}

//! The handle the rest of a node uses: propose commands, read the applied state.

mod config;

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, ForwardToLeader, InitializeError, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, RaftNetworkV2};
use tokio::sync::watch;

pub use config::StoreConfig;

use crate::network::NoPeers;
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
}

impl Store {
    /// Opens a node without peers from its data directory (created when missing). It recovers its
    /// vote, log and state; a fresh directory needs [`Store::initialize`] before it accepts writes.
    ///
    /// # Errors
    /// When the directory or its databases can't be opened, or Raft can't start on them.
    pub async fn open(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with_network(config, NoPeers).await
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
    pub(crate) async fn open_with_network<N, C>(config: StoreConfig, network: N) -> Result<Self, StoreError>
    where
        N: RaftNetworkFactory<TypeConfig, Network = C>,
        C: RaftNetworkV2<TypeConfig, SnapshotData = SnapshotData>,
    {
        let storage = |context| move |source| StoreError::Storage { context, source };
        fs::create_dir_all(&config.dir).map_err(storage("creating the data directory"))?;
        let log = LogStore::open(&config.dir.join(LOG_FILE)).map_err(storage("opening the raft log"))?;
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
        })
    }

    /// Makes a fresh cluster of `members` (node id to Raft address). Call it on one node only;
    /// calling it on a node that already belongs to a cluster does nothing.
    ///
    /// # Errors
    /// When this node is not among `members`, or Raft stopped.
    pub async fn initialize(&self, members: BTreeMap<NodeId, String>) -> Result<(), StoreError> {
        let members: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(other)) => Err(StoreError::Raft(other.to_string())),
            Err(RaftError::Fatal(fatal)) => Err(StoreError::Stopped(fatal.to_string())),
        }
    }

    /// Validates `command`, proposes it, and waits until it is committed and applied here. When this
    /// returns, [`Store::subscribe`]rs of this node already see the change.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] before anything is proposed; [`StoreError::NotLeader`] on a follower;
    /// [`StoreError::NoQuorum`] when the write isn't confirmed within the propose timeout.
    pub async fn propose(&self, command: AppRequest) -> Result<AppResponse, StoreError> {
        command.validate()?;
        let op = command.op();
        let after = self.config.propose_timeout;
        let written = tokio::time::timeout(after, self.raft.client_write(command))
            .await
            .map_err(|_| StoreError::NoQuorum { after })?;
        match written {
            Ok(response) => {
                tracing::debug!(op, index = response.log_id.index, "command applied");
                Ok(response.data)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => Err(not_leader(forward)),
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward))) => {
                Err(StoreError::LeaderChanged {
                    leader_hint: forward.leader_id,
                })
            }
            Err(RaftError::APIError(other)) => Err(StoreError::Raft(other.to_string())),
            Err(RaftError::Fatal(fatal)) => Err(StoreError::Stopped(fatal.to_string())),
        }
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

fn not_leader(forward: ForwardToLeader<TypeConfig>) -> StoreError {
    StoreError::NotLeader {
        leader_hint: forward.leader_id,
        leader_addr: forward.leader_node.map(|node| node.addr),
    }
}

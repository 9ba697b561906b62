//! Who is in the cluster: founding it, joining it, adding and removing nodes.

use std::collections::{BTreeMap, BTreeSet};

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers};

use super::{Store, write_error};
use crate::{NodeId, StoreError};

impl Store {
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

    /// Adds a node as a learner (it receives the log but doesn't vote) and waits until it caught up.
    ///
    /// # Errors
    /// [`StoreError::NotLeader`] on a follower; other Raft errors as they come.
    pub async fn add_learner(&self, node_id: NodeId, raft_addr: String) -> Result<(), StoreError> {
        self.raft
            .add_learner(node_id, BasicNode::new(raft_addr), true)
            .await
            .map(drop)
            .map_err(write_error)
    }

    /// Joins an existing cluster through any of its members at `seed`: the leader adds this node as
    /// a learner, waits until it caught up, then makes it a voter. Serve this node's Raft side
    /// ([`Store::serve_raft`]) first, so the leader can reach it. Joining again is harmless.
    ///
    /// # Errors
    /// [`StoreError::JoinFailed`] when the seed can't be reached or refuses (wrong secret), and
    /// [`StoreError::Raft`] when this node was opened without a cluster secret.
    pub async fn join(&self, seed: &str) -> Result<(), StoreError> {
        let Some(network) = &self.network else {
            return Err(StoreError::Raft(
                "this node was opened without a cluster secret: open it with Store::open_cluster".to_owned(),
            ));
        };
        // Catching up may take a while on a big state: allow several propose timeouts.
        let deadline = self.config.propose_timeout * 6;
        network
            .join(seed, self.config.node_id, &self.config.raft_addr, deadline)
            .await?;
        tracing::info!(node = self.config.node_id, seed, "joined the cluster");
        Ok(())
    }

    /// On the leader: adds `node_id` as a learner, then (once it caught up) as a voter.
    pub(crate) async fn admit(&self, node_id: NodeId, raft_addr: String) -> Result<(), StoreError> {
        if self.voters().contains(&node_id) {
            return Ok(());
        }
        self.add_learner(node_id, raft_addr).await?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node_id])), true)
            .await
            .map(drop)
            .map_err(write_error)?;
        tracing::info!(node = node_id, "admitted a voter");
        Ok(())
    }

    /// On the leader: removes `node_id` from the voters and the members (a node already gone is
    /// fine). The cluster keeps its quorum rules for the remaining voters.
    pub(crate) async fn dismiss(&self, node_id: NodeId) -> Result<(), StoreError> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        if membership.get_node(&node_id).is_none() {
            return Ok(());
        }
        if membership.voter_ids().eq([node_id]) {
            return Err(StoreError::Raft(format!(
                "node {node_id} is the only voter: a cluster cannot remove its last member"
            )));
        }
        let gone = BTreeSet::from([node_id]);
        let change = if membership.voter_ids().any(|voter| voter == node_id) {
            ChangeMembers::RemoveVoters(gone)
        } else {
            ChangeMembers::RemoveNodes(gone)
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(drop)
            .map_err(write_error)?;
        tracing::info!(node = node_id, "removed a member");
        Ok(())
    }

    /// Makes `voters` the set of voting members; nodes left out are removed from the cluster.
    ///
    /// # Errors
    /// [`StoreError::NotLeader`] on a follower; a voter that isn't a learner yet is refused.
    pub async fn change_membership(&self, voters: BTreeSet<NodeId>) -> Result<(), StoreError> {
        self.raft
            .change_membership(voters, false)
            .await
            .map(drop)
            .map_err(write_error)
    }

    /// On the leader: adds `node_id` at `raft_addr` as a learner and waits until it caught up; unless
    /// `learner_only`, then makes it a voter. Adding a member again is harmless.
    ///
    /// # Errors
    /// [`StoreError::NotLeader`] on a follower; other Raft errors as they come.
    pub async fn add_node(
        &self,
        node_id: NodeId,
        raft_addr: String,
        learner_only: bool,
    ) -> Result<(), StoreError> {
        if learner_only {
            return self.add_learner(node_id, raft_addr).await;
        }
        self.admit(node_id, raft_addr).await
    }

    /// On the leader: removes `node_id` from the cluster (as a voter and as a learner). The removed
    /// node keeps running until it is stopped; it just no longer takes part.
    ///
    /// # Errors
    /// [`StoreError::NotMember`] when `node_id` is no member; [`StoreError::NotLeader`] on a
    /// follower; Raft's refusal (e.g. removing the last voter) as [`StoreError::Raft`].
    pub async fn remove_node(&self, node_id: NodeId) -> Result<(), StoreError> {
        let status = self.status();
        let Some(member) = status.members.iter().find(|member| member.id == node_id) else {
            return Err(StoreError::NotMember { node: node_id });
        };
        let change = if member.voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([node_id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([node_id]))
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(drop)
            .map_err(write_error)?;
        tracing::info!(node = node_id, "removed a member");
        Ok(())
    }

    /// The voting members as this node knows them.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        metrics.membership_config.membership().voter_ids().collect()
    }
}

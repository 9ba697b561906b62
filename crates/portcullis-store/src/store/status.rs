//! What an operator asks of one replica: its Raft view as plain data, and leadership transfer.

use openraft::ServerState;
use openraft::async_runtime::watch::WatchReceiver;

use super::Store;
use crate::{NodeId, StoreError};

/// One replica's Raft view, as plain data (no openraft types leave this crate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    /// This node.
    pub id: NodeId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// This node's current term.
    pub term: u64,
    /// The highest log index this node knows to be committed (and may apply).
    pub commit_index: u64,
    /// The highest log index this node applied.
    pub applied_index: u64,
    /// Every member (voters and learners) with its Raft address, as this node knows them.
    pub members: Vec<Member>,
}

/// A member of the cluster as one node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The node.
    pub id: NodeId,
    /// Where it serves Raft.
    pub raft_addr: String,
    /// Whether it votes (otherwise it is a learner).
    pub voter: bool,
}

impl Store {
    /// This node's Raft view now.
    pub fn status(&self) -> RaftStatus {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                raft_addr: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect();
        RaftStatus {
            id: metrics.id,
            role: match metrics.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Candidate => "candidate",
                ServerState::Learner => "learner",
                ServerState::Shutdown => "shutdown",
            },
            leader: metrics.current_leader,
            term: metrics.current_term,
            commit_index: metrics.local_committed.map_or(0, |log_id| log_id.index),
            applied_index: metrics.last_applied.map_or(0, |log_id| log_id.index),
            members,
        }
    }

    /// Asks the leader (this node) to hand leadership to voter `to`; returns once the request is
    /// queued. Watch [`Store::status`] for the outcome.
    ///
    /// # Errors
    /// [`StoreError::NotLeader`] on a node that doesn't lead; [`StoreError::NotMember`] when `to` is
    /// not a voter; [`StoreError::Stopped`] when Raft stopped.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), StoreError> {
        let status = self.status();
        if status.leader != Some(status.id) {
            return Err(StoreError::NotLeader {
                leader_hint: status.leader,
                leader_addr: None,
            });
        }
        if !status
            .members
            .iter()
            .any(|member| member.id == to && member.voter)
        {
            return Err(StoreError::NotMember { node: to });
        }
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|fatal| StoreError::Stopped(fatal.to_string()))
    }
}

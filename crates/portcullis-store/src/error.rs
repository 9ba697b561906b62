//! What can go wrong talking to the store, each with what to do about it.

use std::io;
use std::time::Duration;

use crate::{NodeId, ValidationError};

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The command is malformed; nothing was proposed.
    #[error("the command is invalid and was not proposed: {0}")]
    Invalid(#[from] ValidationError),
    /// Only the leader accepts writes.
    #[error("{}", not_leader_message(*.leader_hint, .leader_addr.as_deref()))]
    NotLeader {
        /// The leader this node knows of, if any.
        leader_hint: Option<NodeId>,
        /// Its Raft address, if known.
        leader_addr: Option<String>,
    },
    /// Leadership changed while the write was in flight; it may or may not have committed.
    #[error(
        "leadership changed while the write was in flight, so it may or may not have committed; \
         read the state before retrying ({})", not_leader_message(*.leader_hint, None)
    )]
    LeaderChanged {
        /// The new leader, if known.
        leader_hint: Option<NodeId>,
    },
    /// The write was not confirmed in time, usually because no quorum is reachable.
    #[error(
        "no quorum: the write was not confirmed within {after:?} and may or may not commit later; \
         check cluster status, then retry (a policy put with expected_revision is safe to retry)"
    )]
    NoQuorum {
        /// How long the proposer waited.
        after: Duration,
    },
    /// A follower could not reach the leader to forward a command.
    #[error(
        "could not reach the leader, node {leader} at {addr} ({reason}): this node may be cut off \
         from the cluster; retry, or check cluster status"
    )]
    LeaderUnreachable {
        /// The leader this node knows of.
        leader: NodeId,
        /// Its Raft address.
        addr: String,
        /// What the transport said.
        reason: String,
    },
    /// Joining a cluster through a seed node failed.
    #[error(
        "could not join the cluster through {seed} ({reason}): check the seed address, that it runs, and the cluster secret"
    )]
    JoinFailed {
        /// The node asked.
        seed: String,
        /// What went wrong.
        reason: String,
    },
    /// No cluster member answered at an address an operator gave.
    #[error(
        "could not reach a cluster member at {addr} ({reason}): check the address, that the node runs, and the cluster secret"
    )]
    MemberUnreachable {
        /// The address asked.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The leader refused or failed a forwarded command.
    #[error("the leader did not take the forwarded command: {0}")]
    Forwarded(String),
    /// The store's files could not be read or written.
    #[error(
        "the store's storage failed ({context}): {source}; check the data directory's disk space and permissions"
    )]
    Storage {
        /// What the store was doing.
        context: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The data directory belongs to another node id.
    #[error(
        "the data directory {dir} belongs to node {owner}, not node {configured}: start node {owner} \
         with it, or give node {configured} its own directory"
    )]
    WrongNode {
        /// The directory.
        dir: String,
        /// The node id recorded in it.
        owner: NodeId,
        /// The node id this process was started with.
        configured: NodeId,
    },
    /// The Raft node stopped (shut down, or a fatal storage error).
    #[error("the raft node has stopped ({0}); restart the node")]
    Stopped(String),
    /// The node named is not a member of the cluster.
    #[error("node {node} is not a member of this cluster: see cluster status for the members")]
    NotMember {
        /// The node asked about.
        node: NodeId,
    },
    /// Any other consensus error, with openraft's description.
    #[error("raft error: {0}")]
    Raft(String),
}

fn not_leader_message(leader: Option<NodeId>, addr: Option<&str>) -> String {
    match (leader, addr) {
        (Some(id), Some(addr)) => {
            format!("this node is not the leader: send the write to node {id} at {addr}")
        }
        (Some(id), None) => format!("this node is not the leader: send the write to node {id}"),
        (None, _) => "no leader is known yet (an election may be running): retry shortly".to_owned(),
    }
}

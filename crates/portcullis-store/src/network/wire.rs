//! Raft messages on the wire: the consensus library's types as JSON inside `RaftMessage`.

use portcullis_proto::raft::RaftMessage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::{NodeId, StoreError};

pub(crate) fn to_message<T: Serialize>(value: &T) -> Result<RaftMessage, Status> {
    serde_json::to_vec(value)
        .map(|json| RaftMessage { json })
        .map_err(|error| Status::internal(format!("encoding a raft message failed: {error}")))
}

pub(crate) fn from_message<T: DeserializeOwned>(message: &RaftMessage) -> Result<T, Status> {
    serde_json::from_slice(&message.json).map_err(|error| {
        Status::invalid_argument(format!("not a raft message this node understands: {error}"))
    })
}

/// A node's request to join the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JoinRequest {
    pub(crate) node_id: NodeId,
    pub(crate) addr: String,
}

/// An operator's request to remove a node from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RemoveRequest {
    pub(crate) node_id: NodeId,
}

/// Why the leader could not take a forwarded command, as sent back to the follower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ForwardError {
    /// The node asked is not the leader either.
    NotLeader {
        leader_hint: Option<NodeId>,
        leader_addr: Option<String>,
    },
    /// Leadership changed while the write was in flight.
    LeaderChanged { leader_hint: Option<NodeId> },
    /// The leader could not confirm the write in time.
    NoQuorum { after_ms: u64 },
    /// Anything else, as the leader described it.
    Failed { message: String },
}

impl From<StoreError> for ForwardError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotLeader {
                leader_hint,
                leader_addr,
            } => Self::NotLeader {
                leader_hint,
                leader_addr,
            },
            StoreError::LeaderChanged { leader_hint } => Self::LeaderChanged { leader_hint },
            StoreError::NoQuorum { after } => Self::NoQuorum {
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            },
            other => Self::Failed {
                message: other.to_string(),
            },
        }
    }
}

impl From<ForwardError> for StoreError {
    fn from(error: ForwardError) -> Self {
        match error {
            ForwardError::NotLeader {
                leader_hint,
                leader_addr,
            } => Self::NotLeader {
                leader_hint,
                leader_addr,
            },
            ForwardError::LeaderChanged { leader_hint } => Self::LeaderChanged { leader_hint },
            ForwardError::NoQuorum { after_ms } => Self::NoQuorum {
                after: std::time::Duration::from_millis(after_ms),
            },
            ForwardError::Failed { message } => Self::Forwarded(message),
        }
    }
}

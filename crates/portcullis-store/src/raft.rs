//! The openraft type configuration. Exposed for the storage test suite and the Raft network; the rest
//! of a node never needs it.

use crate::{AppRequest, AppResponse, NodeId};

openraft::declare_raft_types!(
    /// Our Raft types: our commands and responses, `u64` node ids, and a node's Raft address.
    pub TypeConfig:
        D = AppRequest,
        R = AppResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

/// A Raft node over our types and state machine.
pub type Raft = openraft::Raft<TypeConfig, crate::StateMachineStore>;

/// A log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// A log id (leader and index).
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// Membership as stored with the log id that set it.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot of our state machine: metadata and the serialized [`crate::State`].
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
/// The bytes of a serialized snapshot.
pub type SnapshotData = Vec<u8>;

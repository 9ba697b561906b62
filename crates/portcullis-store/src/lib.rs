//! The Portcullis replicated store: servers, policy versions, grants, counters, approvals and session
//! records, kept identical on every node by Raft (openraft) and durable on each node in redb.
//!
//! * [`AppRequest`] is the command language. A command is checked with [`AppRequest::validate`] before
//!   it is proposed; once committed, every node applies it to its [`State`] with [`State::apply`].
//! * [`State`] is plain data in ordered maps. Applying never reads a clock or randomness (the proposer
//!   stamps time into the command) and never panics: a command that no longer fits the state (a stale
//!   expected policy revision, an unknown grant) yields an [`ApplyError`] inside [`AppResponse`].
//! * [`Store`] is the handle the rest of a node uses: [`Store::propose`] a command (a follower
//!   forwards it to the leader), and [`Store::subscribe`] to the applied state.
//! * A node alone is a one-voter cluster ([`Store::open_single`]). Clustered nodes
//!   ([`Store::open_cluster`]) serve Raft over gRPC on their own listener ([`Store::serve_raft`]),
//!   authenticated by a shared [`ClusterSecret`]; one node founds the cluster
//!   ([`Store::initialize`]) and the others [`Store::join`] it, as learners first, then voters.
//!
//! Architecture invariant: this is the only crate that knows openraft. Its public API speaks in
//! commands, state and errors; the Raft types live in [`raft`] for the storage test suite and the
//! network layer.

mod codec;
mod command;
mod db_file;
mod error;
mod log_store;
mod network;
mod pairs;
pub mod raft;
mod response;
mod state;
mod state_machine;
mod store;

pub use command::{AppRequest, MAX_REPORTED_COUNTS, PolicyChange, PolicyFormat, ValidationError};
pub use error::StoreError;
pub use log_store::LogStore;
pub use network::{ClusterSecret, WeakSecret, remove_member};
pub use response::{AppResponse, Applied, ApplyError};
pub use state::{
    AdminRole, AdminTokenRecord, ApprovalRecord, ApprovalState, CounterCeiling, CounterKey, GrantRecord,
    NodeCharges, NodeRecord, NodeSessionCount, PolicyHistory, PolicyRef, PolicyVersion, QuotaAsk, QuotaGrant,
    QuotaReturn, QuotaView, ServerRecord, SessionCount, SessionCountKey, SessionRecord, SessionReport,
    SessionTally, State, StateSnapshot,
};
pub use state_machine::StateMachineStore;
pub use store::{Member, RaftStatus, Store, StoreConfig};

/// Identifies a node in the cluster. Stable across restarts: it is kept with the node's data.
pub type NodeId = u64;

pub use portcullis_policy::Timestamp;

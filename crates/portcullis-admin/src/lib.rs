//! The Portcullis admin API: versioned gRPC services (`portcullis.admin.v1`) over the replicated
//! store, served by every node.
//!
//! * Reads answer from the node's applied state (no consensus round trip); writes become store
//!   commands, forwarded to the leader by [`portcullis_store::Store::propose`] and acknowledged after
//!   commit.
//! * Every call carries an admin token (`authorization: Bearer <secret>`); [`auth`] looks up its
//!   SHA-256 in the replicated state and each method checks the caller's role.
//! * What only the node knows (its sessions, its audit log) comes through [`LocalNode`], so this
//!   crate knows no gateway internals (it reads only the gateway's config types, to check upstreams).
//! * Each mutating call is audited with the caller's name as the actor.
//! * What each node knows about itself (its Raft progress, its sessions) is gathered by asking the
//!   other members' admin APIs with the caller's own token (`fanout`); a membership change sent to a
//!   follower is forwarded to the leader's admin API the same way.

mod approvals;
mod audit;
pub mod auth;
mod cluster;
mod context;
mod counters;
mod fanout;
mod grants;
mod policies;
mod server;
mod servers;
mod sessions;
mod status;
mod tokens;

pub use auth::{Caller, hash_token, mint_token};
pub use context::{AdminContext, LocalNode, SessionInfo};
pub use server::{AdminServer, ServeError};

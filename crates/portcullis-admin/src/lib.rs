//! The Portcullis admin API: versioned gRPC services (`portcullis.admin.v1`) over the replicated
//! store, served by every node.
//!
//! * Reads answer from the node's applied state (no consensus round trip); writes become store
//!   commands, forwarded to the leader by [`portcullis_store::Store::propose`] and acknowledged after
//!   commit.
//! * Every call carries an admin token (`authorization: Bearer <secret>`); [`auth`] looks up its
//!   SHA-256 in the replicated state and each method checks the caller's role.
//! * What only the node knows (its sessions, its audit log) comes through [`LocalNode`], so this
//!   crate depends on no gateway internals.
//! * Each mutating call is audited with the caller's name as the actor.

pub mod auth;
mod context;
mod grants;
mod policies;
mod server;
mod servers;
mod status;
mod tokens;

pub use auth::{Caller, hash_token, mint_token};
pub use context::{AdminContext, LocalNode, SessionInfo};
pub use server::{AdminServer, ServeError};

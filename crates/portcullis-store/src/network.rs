//! How Raft reaches other nodes: gRPC (tonic) between nodes that share a cluster secret, or nothing
//! at all for the embedded single-voter default.

mod auth;
mod client;
mod no_peers;
mod server;
mod wire;

pub use auth::{ClusterSecret, WeakSecret};
pub(crate) use client::GrpcNetwork;
pub use client::remove_member;
pub(crate) use no_peers::NoPeers;
pub(crate) use server::serve;

//! Generated gRPC code for the Portcullis cluster. The sources are the `.proto` files in `proto/`.

/// Raft between nodes (`portcullis.raft.v1`).
pub mod raft {
    #![allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated code")]
    tonic::include_proto!("portcullis.raft.v1");
}

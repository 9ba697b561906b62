//! Generated gRPC code for the Portcullis cluster. The sources are the `.proto` files in `proto/`.

/// Raft between nodes (`portcullis.raft.v1`).
pub mod raft {
    #![allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated code")]
    tonic::include_proto!("portcullis.raft.v1");
}

/// The operators' admin API (`portcullis.admin.v1`).
pub mod admin {
    #![allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated code")]
    tonic::include_proto!("portcullis.admin.v1");
}

/// The encoded `FileDescriptorSet` of every proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/admin_descriptor.bin"));

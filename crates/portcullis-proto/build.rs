//! Compiles the protos in `proto/` with protox (pure Rust), so building needs no system `protoc`.
//! The admin API's descriptors are also written out for gRPC server reflection.

use std::path::PathBuf;

const FILES: [&str; 10] = [
    "portcullis/raft/v1/raft.proto",
    "portcullis/admin/v1/approvals.proto",
    "portcullis/admin/v1/audit.proto",
    "portcullis/admin/v1/cluster.proto",
    "portcullis/admin/v1/counters.proto",
    "portcullis/admin/v1/grants.proto",
    "portcullis/admin/v1/policies.proto",
    "portcullis/admin/v1/servers.proto",
    "portcullis/admin/v1/sessions.proto",
    "portcullis/admin/v1/tokens.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    for file in FILES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("admin_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

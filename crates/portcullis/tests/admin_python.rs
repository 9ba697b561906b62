//! A client that isn't ours: Python `grpcio` with stubs generated from `proto/` by `grpcio-tools` at
//! test time lists the services through server reflection, applies a policy through a follower,
//! reads the cluster status of a three-node cluster and lists approval allowances.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::Command;

use portcullis_peers::{Component, Peers, repo_root};
use support::admin_cluster::{ADMIN_TOKEN, Cluster};

const DENY_ECHO: &str =
    r#"{"version": "1", "default": "deny", "tools": {"echo": {"action": "deny", "reason": "off"}}}"#;

#[test]
fn python_grpcio_reflects_puts_a_policy_and_reads_cluster_status() {
    let peers = Peers::ensure(&[Component::PyGrpc]).expect("test peers must install");
    let cluster = Cluster::start("admin-python", 3);
    let out = support::temp_dir("admin-python-stubs");
    let output = Command::new(peers.path("PEERS_PY_GRPC").unwrap())
        .arg(repo_root().join("tests/peers/clients/admin_grpc.py"))
        .args(["--addr", &cluster.node(2).admin])
        .args(["--token", ADMIN_TOKEN])
        .arg("--proto-dir")
        .arg(repo_root().join("proto"))
        .arg("--out")
        .arg(&out)
        .arg(DENY_ECHO)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let services: Vec<&str> = steps[0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for service in [
        "portcullis.admin.v1.ClusterService",
        "portcullis.admin.v1.PolicyService",
        "portcullis.admin.v1.AuditService",
        "portcullis.admin.v1.SessionService",
        "portcullis.admin.v1.CounterService",
        "portcullis.admin.v1.ApprovalService",
    ] {
        assert!(services.contains(&service), "{service} not in {services:?}");
    }
    assert_eq!(steps[1]["op"], "put");
    assert_eq!(
        (steps[1]["revision"].as_u64(), steps[1]["stored"].as_bool()),
        (Some(2), Some(true))
    );
    let status = &steps[2];
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    assert!(status["leader"].as_u64().unwrap() > 0, "{status}");
    // The answering node applied the put before acknowledging it.
    let answering = nodes.iter().find(|n| n["id"] == 2).unwrap();
    assert_eq!(answering["revisions"]["p"], 2, "{status}");
    assert_eq!(steps[3]["code"], "UNAUTHENTICATED");
    // No call was approved, so no allowance stands (the call itself is what a foreign client needs).
    assert_eq!(steps[4]["op"], "allowances");
    assert_eq!(steps[4]["allowances"], serde_json::json!([]));
}

//! The admin API's cluster service against a three-node cluster: every node reports every member's
//! own view; leadership moves on request (sent to a node that doesn't lead); a fourth node is
//! removed and added back as a learner, then a voter; roles, bad input and unknown nodes are refused.
//! The `portcullis cluster` CLI drives the same calls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_proto::admin::cluster_service_client::ClusterServiceClient;
use portcullis_proto::admin::{
    AddNodeRequest, ClusterStatusRequest, ClusterStatusResponse, RemoveNodeRequest, TransferLeaderRequest,
};
use support::admin::{Authed, channel};
use support::admin_cluster::{ADMIN_TOKEN, Cluster, PATIENCE, VIEWER_TOKEN};
use tonic::Code;

fn client(url: &str, token: &str) -> ClusterServiceClient<Authed> {
    ClusterServiceClient::new(channel(url, Some(token)))
}

/// Polls `url`'s cluster status (bounded) until `done` holds, and returns it.
async fn wait_status(
    url: &str,
    what: &str,
    done: impl Fn(&ClusterStatusResponse) -> bool,
) -> ClusterStatusResponse {
    let mut viewer = client(url, VIEWER_TOKEN);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = viewer.cluster_status(ClusterStatusRequest {}).await;
        if let Ok(response) = &status
            && done(response.get_ref())
        {
            return status.unwrap().into_inner();
        }
        assert!(Instant::now() < deadline, "{url}: never {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every member listed with ids `ids`, each reachable, all agreeing on one leader.
fn settled(status: &ClusterStatusResponse, ids: &[u64]) -> bool {
    let listed: Vec<u64> = status.nodes.iter().map(|n| n.id).collect();
    listed == ids
        && status.leader != 0
        && status
            .nodes
            .iter()
            .all(|n| n.error.is_empty() && !n.admin_addr.is_empty())
        && status.nodes.iter().filter(|n| n.role == "leader").count() == 1
        && status
            .nodes
            .iter()
            .any(|n| n.role == "leader" && n.id == status.leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_membership_and_leadership() {
    let mut cluster = Cluster::start("admin-cluster", 3);

    // Status from every node: every member's own view, with its progress and policy revision.
    for node in &cluster.nodes {
        let status = wait_status(&node.admin_url(), "settled on 3 members", |s| {
            settled(s, &[1, 2, 3]) && s.nodes.iter().all(|n| n.policy_revisions.get("p") == Some(&1))
        })
        .await;
        for member in &status.nodes {
            assert!(member.voter && member.term >= 1, "{member:?}");
            assert!(
                member.applied_index > 0
                    && member.commit_index >= member.applied_index.min(member.commit_index)
            );
            assert_eq!(member.admin_addr, cluster.node(member.id).admin, "{member:?}");
            assert_eq!(member.raft_addr, cluster.node(member.id).raft, "{member:?}");
        }
    }
    let leader = wait_status(&cluster.node(1).admin_url(), "settled", |s| {
        settled(s, &[1, 2, 3])
    })
    .await
    .leader;
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();

    // Roles, bad input, unknown nodes.
    let asked = cluster.node(followers[0]).admin_url();
    let mut admin = client(&asked, ADMIN_TOKEN);
    let viewer = client(&asked, VIEWER_TOKEN)
        .transfer_leader(TransferLeaderRequest { to: followers[0] })
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), Code::PermissionDenied, "{viewer:?}");
    let bad = admin
        .add_node(AddNodeRequest {
            id: 0,
            raft_addr: "127.0.0.1:1".to_owned(),
            learner_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let bad = admin
        .add_node(AddNodeRequest {
            id: 9,
            raft_addr: String::new(),
            learner_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let unknown = admin.remove_node(RemoveNodeRequest { id: 9 }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert!(unknown.message().contains("node 9"), "{unknown:?}");
    let unknown = admin
        .transfer_leader(TransferLeaderRequest { to: 9 })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    // Transfer leadership, asked of a follower that is not the target (it forwards to the leader).
    let target = followers[1];
    let moved = admin
        .transfer_leader(TransferLeaderRequest { to: target })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.leader, target, "{moved:?}");
    for node in &cluster.nodes {
        wait_status(&node.admin_url(), "seen the new leader", |s| {
            settled(s, &[1, 2, 3]) && s.leader == target
        })
        .await;
    }

    // A fourth node joins, is removed through a follower, and is added back through the API.
    let seed = cluster.node(1).raft.clone();
    let fourth_raft = cluster.add(4, &seed).raft.clone();
    wait_status(&asked, "seen node 4 join", |s| settled(s, &[1, 2, 3, 4])).await;
    let removed = admin
        .remove_node(RemoveNodeRequest { id: 4 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        removed.nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
        [1, 2, 3],
        "{removed:?}"
    );
    let learner = admin
        .add_node(AddNodeRequest {
            id: 4,
            raft_addr: fourth_raft.clone(),
            learner_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    let fourth = learner.nodes.iter().find(|n| n.id == 4).unwrap();
    assert!(!fourth.voter, "{learner:?}");
    let fourth_url = cluster.node(4).admin_url();
    wait_status(&fourth_url, "node 4 a learner", |s| {
        s.nodes
            .iter()
            .any(|n| n.id == 4 && n.role == "learner" && n.error.is_empty())
    })
    .await;

    // The CLI: promote node 4 to a voter, then read the status as JSON from node 4.
    let cli = |args: &[&str]| {
        std::process::Command::new(support::EXE)
            .args(args)
            .env("PORTCULLIS_ADMIN_ADDR", &asked)
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let added = cli(&["cluster", "add", "4", &fourth_raft]);
    assert!(added.status.success(), "{added:?}");
    let text = String::from_utf8(added.stdout).unwrap();
    assert!(text.starts_with(&format!("leader {target} term")), "{text}");
    wait_status(&fourth_url, "node 4 a voter", |s| {
        settled(s, &[1, 2, 3, 4]) && s.nodes.iter().all(|n| n.voter)
    })
    .await;
    let status = cli(&["cluster", "status", "-o", "json", "--addr", &fourth_url]);
    assert!(status.status.success(), "{status:?}");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["leader"], target);
    assert_eq!(status["nodes"].as_array().unwrap().len(), 4, "{status}");
    assert_eq!(status["nodes"][3]["policy_revisions"]["p"], 1, "{status}");
    let refused = cli(&["cluster", "remove", "9"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("notfound"),
        "{refused:?}"
    );
    let moved = cli(&["cluster", "transfer-leader", &leader.to_string(), "-o", "json"]);
    assert!(moved.status.success(), "{moved:?}");
    let moved: serde_json::Value = serde_json::from_slice(&moved.stdout).unwrap();
    assert_eq!(moved["leader"], leader);

    // A member that stops is reported unreachable, with the reason, by the others.
    cluster.node_mut(4).kill();
    let status = wait_status(&asked, "node 4 unreachable", |s| {
        s.nodes.iter().any(|n| n.id == 4 && n.role == "unreachable")
    })
    .await;
    let fourth = status.nodes.iter().find(|n| n.id == 4).unwrap();
    assert!(fourth.error.contains("node 4"), "{fourth:?}");
}

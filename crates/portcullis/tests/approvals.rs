//! Human approvals across a three-node cluster: a call parked on one node is decided through the admin
//! API of another; approval forwards it once (the upstream's real answer), denial names the approver
//! and reason, silence times out; the approver is audited; and when the node holding a parked call
//! dies, the agent's retry on another node finds the same approval instead of asking again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_proto::admin::{Approval, ApprovalState, GetApprovalRequest, WatchApprovalsRequest};
use serde_json::{Value, json};
use support::admin_cluster::{APPROVER_TOKEN, Cluster, PATIENCE, VIEWER_TOKEN};
use support::approvals::{
    approvals, audited, call, decide, finished, pending, require_approvals, text_of, wait_listed,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_decided_from_any_node() {
    let cluster = Cluster::start("approvals", 3);
    require_approvals(&cluster).await;
    let mut watch = approvals(cluster.node(1), VIEWER_TOKEN)
        .watch_approvals(WatchApprovalsRequest {})
        .await
        .unwrap()
        .into_inner();

    // Approve on node 3 a call parked on node 2: it completes with the demo server's real answer.
    let parked = call(cluster.node(2), "echo", json!({"text": "approve me"})).await;
    let approval = pending(cluster.node(3), "echo").await;
    assert_eq!(
        (approval.grant.as_str(), approval.server.as_str()),
        ("agent", "demo")
    );
    assert_eq!((approval.policy.as_str(), approval.policy_revision), ("p", 2));
    assert!(
        approval.expires_at_ms >= approval.requested_at_ms + 60_000,
        "{approval:?}"
    );
    let viewer = approvals(cluster.node(3), VIEWER_TOKEN)
        .approve(decide(&approval.id, "ok"))
        .await;
    assert_eq!(viewer.unwrap_err().code(), Code::PermissionDenied);
    let decided = approvals(cluster.node(3), APPROVER_TOKEN)
        .approve(decide(&approval.id, "looks fine"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.state(), ApprovalState::Approved);
    assert_eq!(decided.decided_by, "ops-approver");
    // The deciding node answers for it at once; an unknown id is NOT_FOUND.
    let got = approvals(cluster.node(3), VIEWER_TOKEN)
        .get_approval(GetApprovalRequest {
            id: approval.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.state(), got.reason.as_str()),
        (ApprovalState::Approved, "looks fine")
    );
    let unknown = approvals(cluster.node(1), VIEWER_TOKEN)
        .get_approval(GetApprovalRequest {
            id: "apr-nope".to_owned(),
        })
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let (text, error) = text_of(&finished(parked).await);
    assert_eq!((text.as_str(), error), ("approve me", false));
    // Deciding twice is refused.
    let again = approvals(cluster.node(1), APPROVER_TOKEN)
        .deny(decide(&approval.id, "no"))
        .await;
    assert_eq!(again.unwrap_err().code(), Code::FailedPrecondition);

    // The watch saw it requested, then approved.
    let first = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.id.as_str(), first.state()),
        (approval.id.as_str(), ApprovalState::Pending)
    );
    let second = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.id.as_str(), second.state()),
        (approval.id.as_str(), ApprovalState::Approved)
    );

    // Deny on node 2 a call parked on node 1: the agent hears who and why.
    let parked = call(cluster.node(1), "echo", json!({"text": "deny me"})).await;
    let approval = pending(cluster.node(2), "echo").await;
    let no_reason = approvals(cluster.node(2), APPROVER_TOKEN)
        .deny(decide(&approval.id, " "))
        .await;
    assert_eq!(no_reason.unwrap_err().code(), Code::InvalidArgument);
    // Through the CLI, as an operator would.
    let (addr, id) = (cluster.node(2).admin_url(), approval.id.clone());
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(support::EXE)
            .args([
                "approvals",
                "deny",
                &id,
                "--reason",
                "not today",
                "--addr",
                &addr,
                "--output",
                "json",
            ])
            .env("PORTCULLIS_ADMIN_TOKEN", APPROVER_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let printed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(
        (printed["state"].as_str(), printed["decided_by"].as_str()),
        (Some("denied"), Some("ops-approver"))
    );
    let (text, error) = text_of(&finished(parked).await);
    assert!(error);
    assert_eq!(text, "[POLICY DENIED] approval denied by ops-approver: not today");

    // Nobody decides: the rule's 2 s timeout denies it, and says so.
    let started = Instant::now();
    let parked = call(cluster.node(3), "get_traffic_summary", json!({})).await;
    let (text, error) = text_of(&finished(parked).await);
    assert!(
        error && text.contains("timed out") && text.contains("2 s"),
        "{text}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "denied before its timeout"
    );

    // Each outcome is audited on the node that held the call, with the approver as the actor.
    audited(cluster.node(2), "echo", |r| {
        r["actor"] == "ops-approver" && r["outcome"] == "ok"
    })
    .await;
    audited(cluster.node(1), "echo", |r| {
        r["actor"] == "ops-approver" && r["message"].as_str().is_some_and(|m| m.contains("not today"))
    })
    .await;
    audited(cluster.node(3), "get_traffic_summary", |r| {
        r["message"].as_str().is_some_and(|m| m.contains("timed out"))
    })
    .await;
    // And the decision itself is audited by the node that took it.
    audited(cluster.node(3), "admin.approve", |r| r["actor"] == "ops-approver").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_node_finds_the_same_approval() {
    let mut cluster = Cluster::start("approvals-retry", 3);
    require_approvals(&cluster).await;
    let arguments = json!({"text": "once"});

    // The call parks on node 2, which then dies.
    let lost = call(cluster.node(2), "echo", arguments.clone()).await;
    let approval = pending(cluster.node(1), "echo").await;
    cluster.node_mut(2).kill();
    let _ = tokio::time::timeout(PATIENCE, lost).await;

    // The agent retries on node 3 and waits on the same approval; there is no second one.
    let retry = call(cluster.node(3), "echo", arguments.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = wait_listed(cluster.node(1), 1).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    approvals(cluster.node(1), APPROVER_TOKEN)
        .approve(decide(&approval.id, "go"))
        .await
        .unwrap();
    let (text, error) = text_of(&finished(retry).await);
    assert_eq!((text.as_str(), error), ("once", false));
    assert_eq!(wait_listed(cluster.node(3), 1).await.len(), 1);

    // The approval forwarded its call once: calling again asks a human again.
    let _again = call(cluster.node(3), "echo", arguments).await;
    let listed = wait_listed(cluster.node(1), 2).await;
    let fresh: Vec<&Approval> = listed.iter().filter(|a| a.id != approval.id).collect();
    assert_eq!(fresh.len(), 1, "{listed:?}");
    assert_eq!(fresh[0].state(), ApprovalState::Pending);
}

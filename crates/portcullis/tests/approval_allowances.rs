//! Time-boxed allowances: a rule with `approval_allowance` lets one approval admit the same tool for
//! the same grant for a while, on every node, without asking again; another tool or another grant
//! still parks, and once the allowance runs out the tool parks again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::admin_cluster::{APPROVER_TOKEN, Cluster};
use support::approvals::{
    approvals, audited, call, call_as, decide, finished, pending, require_approvals_with, text_of,
    wait_listed,
};

/// Both tools grant a 6 s allowance; `get_traffic_summary` waits only 2 s for a human.
const ALLOWANCE_POLICY: &str = r#"{"version": "1", "default": "deny", "tools": {
    "echo": {"action": "require_approval", "approval_timeout": "60s", "approval_allowance": "6s"},
    "get_traffic_summary": {"action": "require_approval", "approval_timeout": "2s", "approval_allowance": "6s"}}}"#;
const ALLOWANCE: Duration = Duration::from_secs(6);

/// A second grant on the same server and policy.
const OTHER_TOKEN: &str = "other-t0ken";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_with_an_allowance_admits_the_same_tool_for_a_while() {
    let other = format!(
        "\n[[grants]]\nid = \"other\"\ntoken_sha256 = \"{}\"\nserver = \"demo\"\npolicy = \"p\"\n",
        support::token_sha(OTHER_TOKEN)
    );
    let cluster = Cluster::start_with("approval-allowances", 2, &other);
    require_approvals_with(&cluster, ALLOWANCE_POLICY).await;

    // Approved once on node 2, for a call parked on node 1.
    let parked = call(cluster.node(1), "echo", json!({"text": "first"})).await;
    let approval = pending(cluster.node(2), "echo").await;
    approvals(cluster.node(2), APPROVER_TOKEN)
        .approve(decide(&approval.id, "for a while"))
        .await
        .unwrap();
    let approved_by = Instant::now();
    assert_eq!(text_of(&finished(parked).await), ("first".to_owned(), false));

    // Other arguments, on either node: admitted without asking again, audited with the allowance.
    for (node, text) in [(1, "second"), (2, "third")] {
        let admitted = call(cluster.node(node), "echo", json!({"text": text})).await;
        assert_eq!(text_of(&finished(admitted).await), (text.to_owned(), false));
    }
    assert!(
        approved_by.elapsed() < ALLOWANCE,
        "too slow to test the allowance"
    );
    assert_eq!(wait_listed(cluster.node(1), 1).await.len(), 1);
    let named = format!("allowance of approval {}", approval.id);
    audited(cluster.node(2), "echo", |r| {
        r["actor"] == "ops-approver"
            && r["outcome"] == "ok"
            && r["message"].as_str().is_some_and(|m| m.contains(&named))
    })
    .await;

    // Another tool parks (and, undecided, times out).
    let (text, error) =
        text_of(&finished(call(cluster.node(1), "get_traffic_summary", json!({})).await).await);
    assert!(error && text.contains("timed out"), "{text}");

    // Another grant parks.
    let parked = call_as(cluster.node(1), OTHER_TOKEN, "echo", json!({"text": "first"})).await;
    let theirs = pending(cluster.node(2), "echo").await;
    assert_eq!(theirs.grant, "other");
    approvals(cluster.node(2), APPROVER_TOKEN)
        .deny(decide(&theirs.id, "not you"))
        .await
        .unwrap();
    assert!(text_of(&finished(parked).await).1);

    // Once the allowance has run out, the tool parks again.
    tokio::time::sleep(ALLOWANCE.saturating_sub(approved_by.elapsed()) + Duration::from_millis(500)).await;
    let parked = call(cluster.node(1), "echo", json!({"text": "later"})).await;
    let again = pending(cluster.node(2), "echo").await;
    assert_ne!(again.id, approval.id);
    assert_eq!(again.grant, "agent");
    approvals(cluster.node(2), APPROVER_TOKEN)
        .deny(decide(&again.id, "enough"))
        .await
        .unwrap();
    let (text, error) = text_of(&finished(parked).await);
    assert!(error && text.contains("enough"), "{text}");
}

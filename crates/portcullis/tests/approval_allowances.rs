//! Time-boxed allowances: a rule with `approval_allowance` lets one approval admit the same tool for
//! the same grant for a while, on every node, without asking again; another tool or another grant
//! still parks, and once the allowance runs out the tool parks again. The admin API and the CLI
//! list the allowance with its deadline while it lasts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_proto::admin::{Allowance, ListAllowancesRequest};
use serde_json::{Value, json};
use support::admin_cluster::{APPROVER_TOKEN, Cluster, ClusterNode, PATIENCE, VIEWER_TOKEN};
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
    let approved = approvals(cluster.node(2), APPROVER_TOKEN)
        .approve(decide(&approval.id, "for a while"))
        .await
        .unwrap()
        .into_inner();
    let approved_by = Instant::now();
    // The deadline is the decision's stamped time plus the rule's allowance, shown at once.
    let until_ms = approved.decided_at_ms + 6_000;
    assert_eq!(
        (approved.allowance_ms, approved.allowance_until_ms),
        (6_000, until_ms)
    );
    assert_eq!(text_of(&finished(parked).await), ("first".to_owned(), false));

    // The other node lists the allowance: grant, server, tool, approver and until when.
    let listed = wait_allowances(cluster.node(1), 1).await;
    let expected = Allowance {
        approval_id: approval.id.clone(),
        grant: "agent".to_owned(),
        server: "demo".to_owned(),
        tool: "echo".to_owned(),
        approved_by: "ops-approver".to_owned(),
        approved_at_ms: approved.decided_at_ms,
        until_ms,
        active: true,
    };
    assert_eq!(listed, std::slice::from_ref(&expected));

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

    // A spent allowance is no longer listed, unless asked for; a denial granted none.
    assert!(list_allowances(cluster.node(2), false).await.is_empty());
    let spent = list_allowances(cluster.node(2), true).await;
    assert_eq!(
        spent,
        [Allowance {
            active: false,
            ..expected
        }]
    );
    // So does the CLI.
    let printed = cli_allowances(cluster.node(1), &["--all", "--grant", "agent"]).await;
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(
        (
            &printed[0]["approval"],
            &printed[0]["tool"],
            &printed[0]["approved_by"]
        ),
        (&json!(approval.id), &json!("echo"), &json!("ops-approver"))
    );
    assert_eq!(
        (&printed[0]["until_ms"], &printed[0]["active"]),
        (&json!(until_ms), &json!(false))
    );
    assert!(
        cli_allowances(cluster.node(1), &["--all", "--grant", "other"])
            .await
            .is_empty()
    );
}

async fn list_allowances(node: &ClusterNode, include_expired: bool) -> Vec<Allowance> {
    approvals(node, VIEWER_TOKEN)
        .list_allowances(ListAllowancesRequest {
            include_expired,
            grant: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .allowances
}

/// Waits (bounded: the decision reaches each node with the log) until `node` lists `count`
/// active allowances.
async fn wait_allowances(node: &ClusterNode, count: usize) -> Vec<Allowance> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = list_allowances(node, false).await;
        if listed.len() >= count {
            return listed;
        }
        assert!(
            Instant::now() < deadline,
            "node {} never listed {count} allowances",
            node.id
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `portcullis approvals allowances --output json` against `node`, with `args`.
async fn cli_allowances(node: &ClusterNode, args: &[&str]) -> Vec<Value> {
    let mut command = std::process::Command::new(support::EXE);
    command
        .args([
            "approvals",
            "allowances",
            "--addr",
            &node.admin_url(),
            "--output",
            "json",
        ])
        .args(args)
        .env("PORTCULLIS_ADMIN_TOKEN", VIEWER_TOKEN);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

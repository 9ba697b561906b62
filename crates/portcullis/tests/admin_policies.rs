//! The admin API's policy service against a three-node cluster: a policy put through a follower is
//! committed cluster-wide and enforced by every node's data plane; compare-and-set, roles, invalid
//! documents, dry runs, diffs, history, rollback, explain and the watch stream behave as documented.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_proto::admin::policy_service_client::PolicyServiceClient;
use portcullis_proto::admin::{
    DiffPolicyRequest, ExplainCallRequest, GetPolicyRequest, PolicyHistoryRequest, PutMode, PutPolicyRequest,
    RollbackPolicyRequest, ValidatePolicyRequest, WatchPoliciesRequest,
};
use support::admin::{Authed, channel};
use support::admin_cluster::{ADMIN_TOKEN, Cluster, PATIENCE, VIEWER_TOKEN};
use tonic::Code;

const DENY_ECHO: &str =
    r#"{"version": "1", "default": "deny", "tools": {"echo": {"action": "deny", "reason": "echo is off"}}}"#;

fn policies(url: &str, token: Option<&str>) -> PolicyServiceClient<Authed> {
    PolicyServiceClient::new(channel(url, token))
}

fn put(name: &str, text: &str, expected: Option<u64>, mode: PutMode) -> PutPolicyRequest {
    PutPolicyRequest {
        name: name.to_owned(),
        text: text.to_owned(),
        format: 0,
        expected_revision: expected,
        mode: mode.into(),
    }
}

/// Waits (bounded) until `node`'s admin API reports `revision` for policy `p`.
async fn wait_revision(url: &str, revision: u64) {
    let mut client = policies(url, Some(VIEWER_TOKEN));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = client
            .get_policy(GetPolicyRequest {
                name: "p".to_owned(),
                revision: None,
            })
            .await
            .map(|r| r.into_inner().revision);
        if got.as_ref().is_ok_and(|r| *r == revision) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never reached revision {revision}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_rollout_through_any_node() {
    let cluster = Cluster::start("admin-policies", 3);
    for node in &cluster.nodes {
        wait_revision(&node.admin_url(), 1).await;
    }
    let follower = cluster.node(3).admin_url();
    let mut admin = policies(&follower, Some(ADMIN_TOKEN));

    // Roles and authentication.
    let denied = admin_call(policies(&follower, Some(VIEWER_TOKEN)), DENY_ECHO).await;
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("needs admin"), "{denied:?}");
    let anonymous = admin_call(policies(&follower, None), DENY_ECHO).await;
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let stranger = admin_call(policies(&follower, Some("nope")), DENY_ECHO).await;
    assert_eq!(stranger.code(), Code::Unauthenticated, "{stranger:?}");

    // Every error of an invalid document, with its path.
    let invalid = r#"{"version": "1", "default": "maybe", "tools": {"echo": {"action": "explode"}}}"#;
    let report = admin
        .validate_policy(ValidatePolicyRequest {
            text: invalid.to_owned(),
            format: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!report.valid);
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"$.default") && paths.iter().any(|p| p.starts_with("$.tools.echo")),
        "{paths:?}"
    );
    let refused = admin
        .put_policy(put("p", invalid, None, PutMode::Active))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("$.default"), "{refused:?}");

    // A dry run diffs and stores nothing.
    let dry = admin
        .put_policy(put("p", DENY_ECHO, Some(1), PutMode::DryRun))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !dry.stored && dry.revision == 2 && dry.diff.contains("+"),
        "{dry:?}"
    );

    // Watch from another node, then put through the follower with compare-and-set.
    let mut watch = policies(&cluster.node(2).admin_url(), Some(VIEWER_TOKEN))
        .watch_policies(WatchPoliciesRequest { name: "p".to_owned() })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.policy.unwrap().revision, 1);
    let stored = admin
        .put_policy(put("p", DENY_ECHO, Some(1), PutMode::Active))
        .await
        .unwrap()
        .into_inner();
    assert!(
        stored.stored && stored.revision == 2 && stored.log_index > 0,
        "{stored:?}"
    );
    let second = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.policy.unwrap().revision, 2);
    let stale = admin
        .put_policy(put("p", DENY_ECHO, Some(1), PutMode::Active))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    for node in &cluster.nodes {
        wait_revision(&node.admin_url(), 2).await;
    }

    // History, diff, explain, rollback.
    let history = admin
        .policy_history(PolicyHistoryRequest { name: "p".to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        history.versions.iter().map(|v| v.revision).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(history.versions[1].author, "ops-admin");
    let diff = admin
        .diff_policy(DiffPolicyRequest {
            name: "p".to_owned(),
            from_revision: 1,
            to_revision: None,
        })
        .await
        .unwrap()
        .into_inner()
        .diff;
    assert!(diff.starts_with("--- p@1\n+++ p@2\n"), "{diff}");
    let explained = admin
        .explain_call(ExplainCallRequest {
            name: "p".to_owned(),
            tool: "echo".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (explained.decision.as_str(), explained.message.as_str()),
        ("deny", "echo is off")
    );
    assert_eq!(explained.policy_revision, 2);
    let missing = admin
        .get_policy(GetPolicyRequest {
            name: "nope".to_owned(),
            revision: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let rolled = admin
        .rollback_policy(RollbackPolicyRequest {
            name: "p".to_owned(),
            to_revision: 1,
            expected_revision: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rolled.revision, 3);
    let text = admin
        .get_policy(GetPolicyRequest {
            name: "p".to_owned(),
            revision: Some(3),
        })
        .await
        .unwrap()
        .into_inner()
        .text;
    assert_eq!(text, support::admin_cluster::POLICY);
    for node in &cluster.nodes {
        wait_revision(&node.admin_url(), 3).await;
    }

    // The CLI over the same API, with scriptable output and exit codes.
    let file = cluster.node(1).dir.join("deny-echo.json");
    std::fs::write(&file, DENY_ECHO).unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(support::EXE)
            .args(args)
            .env("PORTCULLIS_ADMIN_ADDR", &follower)
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let applied = cli(&[
        "policy",
        "apply",
        "p",
        file.to_str().unwrap(),
        "--expected-revision",
        "3",
        "-o",
        "json",
    ]);
    assert!(applied.status.success(), "{applied:?}");
    let applied: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    assert_eq!(applied["revision"], 4);
    let stale = cli(&[
        "policy",
        "apply",
        "p",
        file.to_str().unwrap(),
        "--expected-revision",
        "3",
    ]);
    assert_eq!(stale.status.code(), Some(1), "{stale:?}");
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("failedprecondition"),
        "{stale:?}"
    );
    let listed = cli(&["policy", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.starts_with("NAME") && listed.contains("\np     4"),
        "{listed}"
    );
    let unreachable = cli(&["policy", "get", "p", "--addr", "http://127.0.0.1:1"]);
    assert_eq!(unreachable.status.code(), Some(3), "{unreachable:?}");
}

async fn admin_call(mut client: PolicyServiceClient<Authed>, text: &str) -> tonic::Status {
    client
        .put_policy(put("p", text, None, PutMode::Active))
        .await
        .unwrap_err()
}

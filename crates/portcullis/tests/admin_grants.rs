//! The admin API's grant service against a three-node cluster: grants created, changed, rotated and
//! revoked through followers; a revocation ends a live MCP session on another node within one
//! second; a rotated token stops working while the new one works; a shadow policy is audited beside
//! the active one without being enforced; and the `portcullis grants` CLI over the same API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use portcullis_proto::admin::grant_service_client::GrantServiceClient;
use portcullis_proto::admin::policy_service_client::PolicyServiceClient;
use portcullis_proto::admin::{
    CreateGrantRequest, GetGrantRequest, ListGrantsRequest, PutMode, PutPolicyRequest, RevokeGrantRequest,
    RotateGrantRequest, UpdateGrantRequest,
};
use serde_json::{Value, json};
use support::admin::{Authed, channel};
use support::admin_cluster::{ADMIN_TOKEN, AGENT_TOKEN, Cluster, ClusterNode, PATIENCE, VIEWER_TOKEN};
use tonic::Code;

/// Echo denied: the shadow candidate.
const DENY_ECHO: &str =
    r#"{"version": "1", "default": "deny", "tools": {"echo": {"action": "deny", "reason": "echo is off"}}}"#;

fn grants(url: &str, token: Option<&str>) -> GrantServiceClient<Authed> {
    GrantServiceClient::new(channel(url, token))
}

fn target(node: &ClusterNode, token: &str) -> Target {
    Target {
        url: node.mcp_url(),
        token: Some(token.to_owned()),
        era: Era::Session,
    }
}

async fn echo(session: &mut McpSession) -> Result<Value, String> {
    session
        .request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}}))
        .await
        .map_err(|error| error.to_string())
}

/// Polls `done` every 10 ms; the time it took, or a panic after `PATIENCE`.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < PATIENCE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_through_followers_revocation_rotation_and_shadow() {
    let cluster = Cluster::start("admin-grants", 3);
    let (one, two, three) = (cluster.node(1), cluster.node(2), cluster.node(3));
    let mut admin = grants(&three.admin_url(), Some(ADMIN_TOKEN));

    // Create through a follower: the token comes back once, only a hash prefix afterwards.
    let created = admin
        .create_grant(CreateGrantRequest {
            id: "ci-bot".to_owned(),
            server: "demo".to_owned(),
            policy: "p".to_owned(),
            labels: [("team".to_owned(), "infra".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let token = created.token.clone();
    let grant = created.grant.unwrap();
    assert!(token.starts_with("pcg_") && token.len() > 60, "{token}");
    assert_eq!(grant.token_sha256_prefix, &support::token_sha(&token)[..8]);
    assert_eq!(grant.labels["team"], "infra");

    // The main failures: bad input, unknown ids and servers, a duplicate, the wrong role.
    let failures = [
        (
            admin
                .create_grant(CreateGrantRequest {
                    id: "bad id!".to_owned(),
                    server: "demo".to_owned(),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
        ),
        (
            admin
                .create_grant(CreateGrantRequest {
                    id: "x".to_owned(),
                    server: "nope".to_owned(),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
        ),
        (
            admin
                .create_grant(CreateGrantRequest {
                    id: "ci-bot".to_owned(),
                    server: "demo".to_owned(),
                    ..Default::default()
                })
                .await,
            Code::AlreadyExists,
        ),
        (
            admin
                .create_grant(CreateGrantRequest {
                    id: "y".to_owned(),
                    server: "demo".to_owned(),
                    policy: "nope".to_owned(),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
        ),
        (
            grants(&three.admin_url(), Some(VIEWER_TOKEN))
                .create_grant(CreateGrantRequest {
                    server: "demo".to_owned(),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        ),
    ];
    for (result, code) in failures {
        assert_eq!(result.unwrap_err().code(), code);
    }
    for result in [
        admin
            .get_grant(GetGrantRequest {
                id: "ghost".to_owned(),
            })
            .await
            .map(|_| ()),
        admin
            .revoke_grant(RevokeGrantRequest {
                id: "ghost".to_owned(),
            })
            .await
            .map(|_| ()),
        admin
            .rotate_grant(RotateGrantRequest {
                id: "ghost".to_owned(),
            })
            .await
            .map(|_| ()),
    ] {
        assert_eq!(result.unwrap_err().code(), Code::NotFound);
    }
    let nothing = admin
        .update_grant(UpdateGrantRequest {
            id: "ci-bot".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(nothing.code(), Code::InvalidArgument, "{nothing:?}");

    // Update labels through another follower; every node's viewer reads it locally.
    let updated = grants(&two.admin_url(), Some(ADMIN_TOKEN))
        .update_grant(UpdateGrantRequest {
            id: "ci-bot".to_owned(),
            set_labels: true,
            labels: [("team".to_owned(), "payments".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.labels["team"], "payments");
    assert_eq!(updated.policy, "p");
    for node in &cluster.nodes {
        let mut viewer = grants(&node.admin_url(), Some(VIEWER_TOKEN));
        until("the label change reaches every node", async || {
            viewer
                .get_grant(GetGrantRequest {
                    id: "ci-bot".to_owned(),
                })
                .await
                .is_ok_and(|grant| grant.into_inner().labels["team"] == "payments")
        })
        .await;
    }

    // Shadow: echo is allowed by `p`, the shadow would deny it; calls stay allowed, the audit
    // record says what the shadow would have decided.
    PolicyServiceClient::new(channel(&one.admin_url(), Some(ADMIN_TOKEN)))
        .put_policy(PutPolicyRequest {
            name: "p".to_owned(),
            text: DENY_ECHO.to_owned(),
            format: 0,
            expected_revision: None,
            mode: PutMode::Shadow.into(),
        })
        .await
        .unwrap();
    let mut agent = McpSession::open(&target(two, AGENT_TOKEN)).await.unwrap();
    let audit = two.dir.join("audit.jsonl");
    until(
        "an allowed echo is audited with the shadow's verdict",
        async || {
            let reply = echo(&mut agent).await.unwrap();
            assert_ne!(
                reply["result"]["isError"], true,
                "the shadow must not be enforced: {reply}"
            );
            std::fs::read_to_string(&audit)
                .unwrap_or_default()
                .lines()
                .any(|line| {
                    let record: Value = serde_json::from_str(line).unwrap();
                    record["tool"] == "echo"
                        && record["decision"] == "allow"
                        && record["shadow"]["decision"] == "deny"
                        && record["shadow"]["revision"] == 2
                })
        },
    )
    .await;

    // Revocation through node 3 ends the live session on node 2 within a second, and every node
    // refuses the token.
    let mut session = McpSession::open(&target(two, &token)).await.unwrap();
    assert!(echo(&mut session).await.is_ok());
    let revoked = admin
        .revoke_grant(RevokeGrantRequest {
            id: "ci-bot".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoked_at_ms.is_some());
    let took = until("the live session's calls are refused", async || {
        echo(&mut session).await.is_err()
    })
    .await;
    assert!(
        took < Duration::from_secs(1),
        "calls went on for {took:?} after the revocation"
    );
    for node in &cluster.nodes {
        let opened = McpSession::open(&target(node, &token)).await;
        assert!(opened.is_err(), "node {} still admits a revoked token", node.id);
    }
    let sessions_closed = until("node 2 closes the revoked grant's session", async || {
        two.log().contains("sessions of revoked grants closed")
    })
    .await;
    assert!(sessions_closed < Duration::from_secs(1), "{sessions_closed:?}");
    let changed = admin
        .update_grant(UpdateGrantRequest {
            id: "ci-bot".to_owned(),
            set_labels: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(changed.code(), Code::FailedPrecondition, "{changed:?}");
    let live = admin
        .list_grants(ListGrantsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .grants;
    assert_eq!(live.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["agent"]);

    // The CLI: create, rotate (old token refused, new one works), list as JSON, exit codes.
    let cli = |args: &[&str]| {
        std::process::Command::new(support::EXE)
            .args(args)
            .env("PORTCULLIS_ADMIN_ADDR", two.admin_url())
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let json_of = |output: std::process::Output| -> Value {
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let made = json_of(cli(&[
        "grants", "create", "--server", "demo", "--policy", "p", "--label", "env=ci", "-o", "json",
    ]));
    let id = made["grant"]["id"].as_str().unwrap().to_owned();
    let first = made["token"].as_str().unwrap().to_owned();
    assert!(McpSession::open(&target(one, &first)).await.is_ok());
    let rotated = json_of(cli(&["grants", "rotate", &id, "-o", "json"]));
    let second = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    until("the old token is refused on node 1", async || {
        McpSession::open(&target(one, &first)).await.is_err()
    })
    .await;
    let mut renewed = McpSession::open(&target(one, &second)).await.unwrap();
    assert!(echo(&mut renewed).await.is_ok());
    let listed = json_of(cli(&["grants", "list", "--include-revoked", "-o", "json"]));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"ci-bot") && ids.contains(&id.as_str()), "{listed}");
    let table = String::from_utf8(cli(&["grants", "get", &id]).stdout).unwrap();
    assert!(table.starts_with("ID") && table.contains("env=ci"), "{table}");
    let missing = cli(&["grants", "revoke", "ghost"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("notfound"),
        "{missing:?}"
    );
    let usage = cli(&["grants", "create"]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}

//! The admin API's audit, session and counter services against a three-node cluster, and their CLI
//! groups: an agent's session on one node is listed and ended through another; the node's audit log
//! is followed, queried and verified; counters are listed and a reset of a missing one is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use portcullis_proto::admin::audit_service_client::AuditServiceClient;
use portcullis_proto::admin::counter_service_client::CounterServiceClient;
use portcullis_proto::admin::session_service_client::SessionServiceClient;
use portcullis_proto::admin::{
    AuditFilter, EndSessionRequest, ListCountersRequest, ListSessionsRequest, QueryAuditRequest,
    ResetCounterRequest, TailAuditRequest, VerifyAuditRequest,
};
use serde_json::json;
use support::admin::channel;
use support::admin_cluster::{ADMIN_TOKEN, AGENT_TOKEN, Cluster, PATIENCE, VIEWER_TOKEN};
use tonic::Code;

async fn echo(session: &mut McpSession) {
    let reply = session
        .request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}}))
        .await
        .unwrap();
    assert_eq!(reply["result"]["content"][0]["text"], "hi", "{reply}");
}

fn echo_filter() -> Option<AuditFilter> {
    Some(AuditFilter {
        tool: "echo".to_owned(),
        decision: "allow".to_owned(),
        ..AuditFilter::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_audit_and_counters_across_the_cluster() {
    let cluster = Cluster::start("admin-ops", 3);
    let (one, two, three) = (
        cluster.node(1).admin_url(),
        cluster.node(2).admin_url(),
        cluster.node(3).admin_url(),
    );
    let target = Target {
        url: cluster.node(2).mcp_url(),
        token: Some(AGENT_TOKEN.into()),
        era: Era::Session,
    };
    let mut agent = McpSession::open(&target).await.unwrap();
    echo(&mut agent).await;
    echo(&mut agent).await;

    // Sessions: node 2's session, listed through node 1 (each node announces its admin address
    // once it started, so wait until node 1 knows them all).
    let mut sessions = SessionServiceClient::new(channel(&one, Some(VIEWER_TOKEN)));
    let deadline = Instant::now() + PATIENCE;
    let listed = loop {
        let listed = sessions
            .list_sessions(ListSessionsRequest::default())
            .await
            .map(|r| r.into_inner().sessions);
        if let Ok(listed) = &listed
            && listed.len() == 1
        {
            break listed.clone();
        }
        assert!(
            Instant::now() < deadline,
            "node 2's session never listed: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let session = &listed[0];
    assert_eq!(
        (session.node, session.grant.as_str(), session.server.as_str()),
        (2, "agent", "demo"),
        "{session:?}"
    );
    assert!(session.calls >= 2, "{session:?}");
    let other = sessions
        .list_sessions(ListSessionsRequest {
            grant: "someone-else".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert!(other.is_empty(), "{other:?}");
    let cli = |args: &[&str], addr: &str| {
        std::process::Command::new(support::EXE)
            .args(args)
            .env("PORTCULLIS_ADMIN_ADDR", addr)
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let out = cli(&["sessions", "list", "-o", "json"], &three);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["id"], session.id.as_str(), "{json}");
    assert_eq!(json[0]["node"], 2, "{json}");

    // Audit, on the node that decided: backlog then follow, query, verify.
    let mut audit = AuditServiceClient::new(channel(&two, Some(VIEWER_TOKEN)));
    let found = audit
        .query_audit(QueryAuditRequest {
            filter: echo_filter(),
            ..QueryAuditRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.records.len(), 2, "{found:?}");
    assert!(!found.truncated);
    let first: serde_json::Value = serde_json::from_str(&found.records[0].json).unwrap();
    assert_eq!(
        (first["grant"].as_str(), first["tool"].as_str()),
        (Some("agent"), Some("echo"))
    );
    let limited = audit
        .query_audit(QueryAuditRequest {
            filter: echo_filter(),
            limit: 1,
            ..QueryAuditRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(limited.records.len() == 1 && limited.truncated, "{limited:?}");
    let later = audit
        .query_audit(QueryAuditRequest {
            filter: echo_filter(),
            from_ms: found.records[1].time_ms + 1,
            ..QueryAuditRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(later.records.is_empty(), "{later:?}");
    let bad = audit
        .query_audit(QueryAuditRequest {
            filter: Some(AuditFilter {
                decision: "maybe".to_owned(),
                ..AuditFilter::default()
            }),
            ..QueryAuditRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let anonymous = AuditServiceClient::new(channel(&two, None))
        .verify_audit(VerifyAuditRequest {})
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let mut tail = audit
        .tail_audit(TailAuditRequest {
            filter: echo_filter(),
            backlog: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let backlog = tokio::time::timeout(PATIENCE, tail.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(backlog.seq, found.records[1].seq);
    echo(&mut agent).await;
    let fresh = tokio::time::timeout(PATIENCE, tail.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        fresh.seq > backlog.seq && fresh.json.contains("\"echo\""),
        "{fresh:?}"
    );

    let verified = audit
        .verify_audit(VerifyAuditRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok && verified.records >= 3, "{verified:?}");
    let out = cli(&["audit", "verify"], &two);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("ok: "),
        "{out:?}"
    );
    let out = cli(&["audit", "query", "--tool", "echo", "-o", "json"], &two);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["records"].as_array().unwrap().len(), 3, "{json}");
    let out = cli(
        &[
            "audit",
            "tail",
            "--tool",
            "echo",
            "--backlog",
            "2",
            "--count",
            "2",
        ],
        &two,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "{out:?}");
    let out = cli(&["audit", "query", "--decision", "maybe"], &two);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // Ending the session through node 3: roles, unknown ids, then the real one (audited on node 2).
    let refused = SessionServiceClient::new(channel(&three, Some(VIEWER_TOKEN)))
        .end_session(EndSessionRequest {
            id: session.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let mut admin_sessions = SessionServiceClient::new(channel(&three, Some(ADMIN_TOKEN)));
    let unknown = admin_sessions
        .end_session(EndSessionRequest {
            id: "no-such-session".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let out = cli(&["sessions", "end", &session.id], &three);
    assert!(out.status.success(), "{out:?}");
    let left = sessions
        .list_sessions(ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert!(left.is_empty(), "{left:?}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ended = audit
            .query_audit(QueryAuditRequest {
                filter: Some(AuditFilter {
                    tool: "admin.end_session".to_owned(),
                    ..AuditFilter::default()
                }),
                ..QueryAuditRequest::default()
            })
            .await
            .unwrap()
            .into_inner()
            .records;
        if let Some(record) = ended.first() {
            assert!(record.json.contains("\"actor\":\"ops-admin\""), "{record:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the ended session was never audited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Counters: none counted yet in the shared store; resets check role, input and existence.
    let mut counters = CounterServiceClient::new(channel(&three, Some(ADMIN_TOKEN)));
    let listed = counters
        .list_counters(ListCountersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .counters;
    assert!(listed.is_empty(), "{listed:?}");
    let reset = ResetCounterRequest {
        scope: "echo".to_owned(),
        name: "calls".to_owned(),
        partition: "identity:agent:p".to_owned(),
        window_start_ms: 0,
    };
    let missing = counters.reset_counter(reset.clone()).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let bad = counters
        .reset_counter(ResetCounterRequest {
            name: String::new(),
            ..reset.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let viewer = CounterServiceClient::new(channel(&three, Some(VIEWER_TOKEN)))
        .reset_counter(reset)
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), Code::PermissionDenied, "{viewer:?}");
    let out = cli(&["counters", "list", "-o", "json"], &one);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let out = cli(
        &["counters", "reset", "echo", "calls", "identity:agent:p", "0"],
        &one,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

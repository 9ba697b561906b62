//! Policy on the wire, in front of a stdio and a Streamable HTTP upstream: filtered lists, allowed and
//! denied calls, hidden tools, rate limits with rollback, and the audit trail.

mod support;

use serde_json::json;
use support::{ALICE, BOB, NOPOLICY, TestNode, text};

async fn list_call_deny_hide(node: &TestNode, server: &str, token: &str) {
    let session = node.initialize(server, Some(token)).await;
    let names = node.list_names(server, Some(token), &session).await;
    // Page one keeps read_file, write_file, delete_file (visible but denied); page two keeps whoami,
    // slow, crash, ask, announce. drop_table is hidden and secret_tool unlisted under default deny.
    assert_eq!(
        names,
        [
            "read_file",
            "write_file",
            "delete_file",
            "whoami",
            "slow",
            "crash",
            "ask",
            "announce"
        ]
    );

    let allowed = node
        .call(
            server,
            Some(token),
            &session,
            "read_file",
            json!({"path": "/etc/motd"}),
        )
        .await;
    assert_eq!(allowed["id"], "c1");
    assert!(text(&allowed).contains("/etc/motd"), "{allowed}");
    assert_eq!(
        allowed["result"]["vendorField"], 7,
        "unknown fields pass through: {allowed}"
    );

    let denied = node
        .call(server, Some(token), &session, "delete_file", json!({}))
        .await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );

    let hidden = node
        .call(server, Some(token), &session, "drop_table", json!({}))
        .await;
    assert_eq!(hidden["result"]["isError"], true);
    assert!(text(&hidden).starts_with("[POLICY DENIED]"), "{hidden}");
    assert!(text(&hidden).contains("hidden"), "{hidden}");

    let unlisted = node
        .call(server, Some(token), &session, "secret_tool", json!({}))
        .await;
    assert!(text(&unlisted).contains("default: deny"), "{unlisted}");
}

#[tokio::test]
async fn stdio_upstream_list_filtered_allowed_and_denied() {
    let node = TestNode::start("").await;
    list_call_deny_hide(&node, "files", ALICE).await;
    let records = node.audit_json();
    let decisions: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap(),
                r["decision"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("read_file", "allow", "ok"),
            ("delete_file", "deny", "denied"),
            ("drop_table", "hide", "denied"),
            ("secret_tool", "deny", "denied"),
        ]
    );
    assert_eq!(records[0]["grant"], "alice");
    assert_eq!(records[0]["server"], "files");
    assert!(records[0]["upstream_latency_us"].is_u64());
    assert_eq!(records[0]["args_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(records[0]["policy"], "main");
    assert_eq!(records[1]["rule"], "$.tools.delete_file.action");
    node.stop().await;
}

#[tokio::test]
async fn http_upstream_list_filtered_allowed_and_denied() {
    let node = TestNode::start("").await;
    list_call_deny_hide(&node, "remote", BOB).await;
    node.stop().await;
}

#[tokio::test]
async fn rate_limit_hits_then_resets_and_failures_roll_back() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    // Two failing calls reserve and give back: they must not use up the limit of 2 per minute.
    for _ in 0..2 {
        let failed = node
            .call(
                "files",
                Some(ALICE),
                &session,
                "write_file",
                json!({"fail": true}),
            )
            .await;
        assert_eq!(failed["error"]["message"], "disk on fire", "{failed}");
    }
    for _ in 0..2 {
        let ok = node
            .call("files", Some(ALICE), &session, "write_file", json!({}))
            .await;
        assert!(ok["result"]["isError"].is_null(), "{ok}");
    }
    let limited = node
        .call("files", Some(ALICE), &session, "write_file", json!({}))
        .await;
    assert_eq!(limited["result"]["isError"], true);
    assert!(text(&limited).contains("retry in 50 s"), "{limited}");
    assert_eq!(limited["result"]["_meta"]["io.portcullis/retryAfterMs"], 50_000);

    // Per-session counters: another session has its own budget.
    let other = node.initialize("files", Some(ALICE)).await;
    let fresh = node
        .call("files", Some(ALICE), &other, "write_file", json!({}))
        .await;
    assert!(fresh["result"]["isError"].is_null(), "{fresh}");

    node.clock.advance(50_000);
    let reset = node
        .call("files", Some(ALICE), &session, "write_file", json!({}))
        .await;
    assert!(reset["result"]["isError"].is_null(), "the window turned: {reset}");

    let records = node.audit_json();
    let outcomes: Vec<&str> = records.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes,
        [
            "upstream_error",
            "upstream_error",
            "ok",
            "ok",
            "denied",
            "ok",
            "ok"
        ]
    );
    node.stop().await;
}

#[tokio::test]
async fn a_grant_without_policy_sees_and_calls_nothing() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(NOPOLICY)).await;
    assert!(
        node.list_names("files", Some(NOPOLICY), &session)
            .await
            .is_empty()
    );
    let denied = node
        .call("files", Some(NOPOLICY), &session, "read_file", json!({}))
        .await;
    assert!(text(&denied).contains("no policy"), "{denied}");
    node.stop().await;
}

#[tokio::test]
async fn denials_can_be_json_rpc_errors() {
    let node = TestNode::start("\n[enforcement]\ndenial = \"jsonrpc_error\"").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let denied = node
        .call("files", Some(ALICE), &session, "delete_file", json!({}))
        .await;
    assert_eq!(denied["error"]["code"], -32001, "{denied}");
    assert_eq!(
        denied["error"]["message"],
        "[POLICY DENIED] deleting files is not allowed here"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_unwritable_audit_log_fails_calls_closed() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let before = text(
        &node
            .call("files", Some(ALICE), &session, "whoami", json!({}))
            .await,
    )
    .to_owned();
    node.audit.set_failing(true);
    for tool in ["delete_file", "read_file"] {
        let refused = node.call("files", Some(ALICE), &session, tool, json!({})).await;
        assert!(refused["result"].is_null(), "{refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("audit log is unavailable"), "{refused}");
    }
    node.audit.set_failing(false);
    let after = node
        .call("files", Some(ALICE), &session, "whoami", json!({}))
        .await;
    assert_eq!(text(&after), before, "calls run again once the log works");
    node.stop().await;
}

#[tokio::test]
async fn progress_before_the_response_streams_as_sse() {
    let node = TestNode::start("").await;
    for (server, token) in [("files", ALICE), ("remote", BOB)] {
        let session = node.initialize(server, Some(token)).await;
        let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"ms": 50}, "_meta": {"progressToken": "p1"}}});
        let answer = node.post(server, Some(token), Some(&session), &call).await;
        assert!(answer.is_sse(), "{server}: {answer:?}");
        let events = answer.events();
        assert_eq!(events.len(), 3, "{server}: {events:?}");
        assert_eq!(events[0]["method"], "notifications/progress");
        assert_eq!(events[0]["params"]["progressToken"], "p1");
        assert_eq!(events[1]["method"], "notifications/message");
        assert_eq!(events[2]["id"], 9);
        assert_eq!(text(&events[2]), "slow done");
    }
    node.stop().await;
}

#[tokio::test]
async fn identity_limits_span_sessions() {
    let node = TestNode::start("").await;
    let first = node.initialize("files", Some(ALICE)).await;
    let second = node.initialize("files", Some(ALICE)).await;
    for session in [&first, &second, &first] {
        let ok = node
            .call("files", Some(ALICE), session, "whoami", json!({}))
            .await;
        assert!(ok["result"]["isError"].is_null(), "{ok}");
    }
    let limited = node
        .call("files", Some(ALICE), &second, "whoami", json!({}))
        .await;
    assert_eq!(
        limited["result"]["isError"], true,
        "3 per minute per identity: {limited}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_published_snapshot_takes_effect_on_the_next_call() {
    use std::sync::Arc;

    use portcullis_gateway::state::{GatewayState, PolicyRef, hash_token};
    use portcullis_policy::{Format, compile_str};

    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let denied = node
        .call("files", Some(ALICE), &session, "delete_file", json!({}))
        .await;
    assert_eq!(denied["result"]["isError"], true);

    let lenient = compile_str(r#"{"version": "1", "default": "allow"}"#, Format::Json).unwrap();
    let mut next: GatewayState = (**node.publisher.borrow()).clone();
    let key = hash_token(ALICE);
    let mut grant = (*next.grants[&key]).clone();
    grant.policy = Some(PolicyRef {
        name: Arc::from("lenient"),
        policy: Arc::new(lenient.with_revision(2)),
        shadow: None,
    });
    next.grants.insert(key, Arc::new(grant));
    node.publisher.send_replace(Arc::new(next.clone()));
    let allowed = node
        .call("files", Some(ALICE), &session, "delete_file", json!({}))
        .await;
    assert!(allowed["result"]["isError"].is_null(), "{allowed}");
    assert_eq!(node.audit.records().last().unwrap().policy_revision, 2);

    next.grants.remove(&key);
    node.publisher.send_replace(Arc::new(next));
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let revoked = node.post("files", Some(ALICE), Some(&session), &list).await;
    assert_eq!(revoked.status, hyper::StatusCode::UNAUTHORIZED);
    node.stop().await;
}

#[tokio::test]
async fn an_upstream_timeout_is_a_json_rpc_error_to_the_caller() {
    let node = TestNode::start("upstream_timeout_secs = 1").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "slow", "arguments": {"ms": 1500}}});
    let auth = format!("Bearer {ALICE}");
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let answer = node
        .send(
            hyper::Method::POST,
            node.agent,
            "/mcp/files",
            &headers,
            call.to_string(),
        )
        .await;
    let answer = answer.json();
    assert_eq!(answer["id"], 3);
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("timed out"),
        "{answer}"
    );
    assert_eq!(node.audit_json().last().unwrap()["outcome"], "upstream_error");
    node.stop().await;
}

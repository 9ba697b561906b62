//! Session isolation and lifecycle: one upstream process per session, a crash reaches only its own
//! client, idle sessions expire, and the ops endpoints report on it all.

mod support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use support::{ALICE, BOB, TestNode, text};

#[tokio::test]
async fn an_upstream_crash_reaches_only_its_own_client() {
    let node = TestNode::start("").await;
    let doomed = node.initialize("files", Some(ALICE)).await;
    let healthy = node.initialize("files", Some(ALICE)).await;
    let pid_a = text(
        &node
            .call("files", Some(ALICE), &doomed, "whoami", json!({}))
            .await,
    )
    .to_owned();
    let pid_b = text(
        &node
            .call("files", Some(ALICE), &healthy, "whoami", json!({}))
            .await,
    )
    .to_owned();
    assert_ne!(pid_a, pid_b, "each session has its own upstream process");

    let crashed = node.call("files", Some(ALICE), &doomed, "crash", json!({})).await;
    assert_eq!(crashed["id"], "c1");
    assert_eq!(crashed["error"]["code"], -32000, "{crashed}");
    assert!(
        crashed["error"]["message"].as_str().unwrap().contains("upstream"),
        "{crashed}"
    );

    let fine = node
        .call("files", Some(ALICE), &healthy, "read_file", json!({"path": "x"}))
        .await;
    assert!(text(&fine).contains("read_file"), "{fine}");

    // The crashed session is gone: its client gets 404 and re-initializes.
    let mut gone = StatusCode::OK;
    for _ in 0..50 {
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        gone = node.post("files", Some(ALICE), Some(&doomed), &list).await.status;
        if gone == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gone, StatusCode::NOT_FOUND);
    node.stop().await;
}

#[tokio::test]
async fn an_http_upstream_failure_is_a_json_rpc_error() {
    let node = TestNode::start("").await;
    let session = node.initialize("remote", Some(BOB)).await;
    let failed = node.call("remote", Some(BOB), &session, "crash", json!({})).await;
    assert_eq!(failed["error"]["code"], -32000, "{failed}");
    assert!(
        failed["error"]["message"].as_str().unwrap().contains("500"),
        "{failed}"
    );
    let fine = node
        .call("remote", Some(BOB), &session, "read_file", json!({}))
        .await;
    assert!(text(&fine).contains("read_file"), "{fine}");
    node.stop().await;
}

#[tokio::test]
async fn sessions_of_another_grant_are_not_found() {
    let node = TestNode::start("").await;
    let mine = node.initialize("files", Some(ALICE)).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let theirs = node
        .post("files", Some(support::NOPOLICY), Some(&mine), &list)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    node.stop().await;
}

/// Whether a process is still running (a zombie awaiting its reaper counts as gone).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

async fn wait_until_gone(pid: &str) -> bool {
    for _ in 0..100 {
        if !running(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn idle_sessions_expire_and_their_process_stops() {
    let node = TestNode::start("idle_session_timeout_secs = 1").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let pid = text(
        &node
            .call("files", Some(ALICE), &session, "whoami", json!({}))
            .await,
    )
    .to_owned();
    assert!(running(&pid));
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(
        node.post("files", Some(ALICE), Some(&session), &list)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(wait_until_gone(&pid).await, "upstream {pid} still runs");
    node.stop().await;
}

#[tokio::test]
async fn shutdown_stops_every_upstream_process() {
    let node = TestNode::start("").await;
    let mut pids = Vec::new();
    for _ in 0..2 {
        let session = node.initialize("files", Some(ALICE)).await;
        pids.push(
            text(
                &node
                    .call("files", Some(ALICE), &session, "whoami", json!({}))
                    .await,
            )
            .to_owned(),
        );
    }
    node.stop().await;
    for pid in pids {
        assert!(wait_until_gone(&pid).await, "upstream {pid} still runs");
    }
}

#[tokio::test]
async fn ops_endpoints_report_health_sessions_and_decisions() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    node.call("files", Some(ALICE), &session, "read_file", json!({}))
        .await;
    node.call("files", Some(ALICE), &session, "delete_file", json!({}))
        .await;

    let health = node.send(Method::GET, node.ops, "/healthz", &[], "").await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = node.send(Method::GET, node.ops, "/readyz", &[], "").await;
    assert_eq!(ready.status, StatusCode::OK);
    let metrics = node.send(Method::GET, node.ops, "/metrics", &[], "").await;
    assert!(metrics.body.contains("portcullis_sessions 1"), "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains(r#"portcullis_decisions_total{server="files",tool="delete_file",decision="deny"} 1"#),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("portcullis_upstream_latency_seconds_count 1"),
        "{}",
        metrics.body
    );
    node.stop().await;
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_call() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "slow", "arguments": {"ms": 300}}});
    let agent = node.agent;
    let pending = tokio::spawn(async move {
        let auth = format!("Bearer {ALICE}");
        let headers = [
            ("authorization", auth.as_str()),
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-11-25"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        support::send(Method::POST, agent, "/mcp/files", &headers, call.to_string()).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    node.stop().await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "stop waited for the call"
    );
    let answer = pending.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(text(&answer.json()), "slow done");
}

#[tokio::test]
async fn a_server_request_reaches_the_client_and_its_answer_the_server() {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let call = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "ask", "arguments": {}}});
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::post(format!("http://{}/mcp/files", node.agent))
        .header("authorization", format!("Bearer {ALICE}"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(bytes::Bytes::from(call.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = support::EventStream::new(response.into_body());
    let asked = events.next().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    assert_eq!(asked["id"], "srv-1");

    let reply = json!({"jsonrpc": "2.0", "id": "srv-1", "result": {
        "role": "assistant", "content": {"type": "text", "text": "four"}, "model": "test"}});
    let ack = node.post("files", Some(ALICE), Some(&session), &reply).await;
    assert_eq!(ack.status, StatusCode::ACCEPTED);

    let done = events.next().await;
    assert_eq!(done["id"], 11);
    assert_eq!(text(&done), "client said four");
    node.stop().await;
}

#[tokio::test]
async fn a_full_node_refuses_new_sessions_with_503() {
    let node = TestNode::start("max_sessions = 1").await;
    let first = node.initialize("files", Some(ALICE)).await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let refused = node.post("files", Some(ALICE), None, &init).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many sessions")
    );

    let auth = format!("Bearer {ALICE}");
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", first.as_str()),
    ];
    let deleted = node
        .send(Method::DELETE, node.agent, "/mcp/files", &headers, "")
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    node.initialize("files", Some(ALICE)).await;
    node.stop().await;
}

#[tokio::test]
async fn the_get_stream_carries_server_notifications_until_shutdown() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let auth = format!("Bearer {ALICE}");
    let json_only = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let refused = node
        .send(Method::GET, node.agent, "/mcp/files", &json_only, "")
        .await;
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);

    let mut stream = node.open_stream("files", ALICE, &session).await;

    let answered = node
        .call("files", Some(ALICE), &session, "announce", json!({}))
        .await;
    assert_eq!(text(&answered), "announced");
    let changed = stream.next().await;
    assert_eq!(changed["method"], "notifications/tools/list_changed", "{changed}");

    // Shutdown ends the stream instead of waiting on it forever.
    tokio::time::timeout(Duration::from_secs(5), node.stop())
        .await
        .expect("shutdown did not wait on the open stream");
}

#[tokio::test]
async fn delete_ends_the_session() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let auth = format!("Bearer {ALICE}");
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let deleted = node
        .send(Method::DELETE, node.agent, "/mcp/files", &headers, "")
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let after = node.post("files", Some(ALICE), Some(&session), &list).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    let again = node
        .send(Method::DELETE, node.agent, "/mcp/files", &headers, "")
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    node.stop().await;
}

#[tokio::test]
async fn server_notifications_wait_for_a_stream_opened_late() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    // The upstream says its tools changed while no standalone stream is open (as servers do right
    // after `initialized`, before the client's GET arrives).
    let answered = node
        .call("files", Some(ALICE), &session, "announce", json!({}))
        .await;
    assert_eq!(text(&answered), "announced");

    let mut stream = node.open_stream("files", ALICE, &session).await;
    let changed = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the parked notification");
    assert_eq!(changed["method"], "notifications/tools/list_changed", "{changed}");
    node.stop().await;
}

//! Era bridging towards an upstream that speaks only 2026-07-28: a session-era client's `initialize`
//! is answered from the upstream's `server/discover`, and its requests reach the upstream in the
//! 2026-07-28 envelope; a stateless client's requests pass with their own envelope.

mod support;

use hyper::StatusCode;
use serde_json::{Value, json};
use support::fake_http::FakeHttp;
use support::{BOB, TestNode, text};

#[tokio::test]
async fn a_session_era_client_reaches_a_modern_only_upstream() {
    let node = TestNode::start_before(FakeHttp::start_modern().await, "").await;
    let init = json!({"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "legacy-agent", "version": "1"}}});
    let answer = node.post("remote", Some(BOB), None, &init).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let reply = answer.json();
    assert_eq!(reply["id"], "i");
    let result = &reply["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18", "{reply}");
    assert_eq!(result["serverInfo"]["name"], "fake-modern");
    assert!(result["capabilities"]["tools"].is_object(), "{reply}");
    assert!(result.get("resultType").is_none(), "{reply}");
    let session = answer.header("mcp-session-id").expect("a session id").to_owned();
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let ack = node.post("remote", Some(BOB), Some(&session), &done).await;
    assert_eq!(ack.status, StatusCode::ACCEPTED);

    // The listing is filtered and paged as usual; the stateless era's result fields are gone.
    let names = node.list_names("remote", Some(BOB), &session).await;
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

    // The upstream sees the client's own clientInfo in each request's envelope (it would refuse a
    // request without one).
    let who = node
        .call("remote", Some(BOB), &session, "whoami", json!({}))
        .await;
    assert_eq!(text(&who), "legacy-agent", "{who}");
    assert!(who["result"].get("resultType").is_none(), "{who}");
    let read = node
        .call("remote", Some(BOB), &session, "read_file", json!({"path": "a"}))
        .await;
    assert!(text(&read).contains("read_file"), "{read}");
    let denied = node
        .call("remote", Some(BOB), &session, "delete_file", json!({}))
        .await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    node.stop().await;
}

#[tokio::test]
async fn a_stateless_client_reaches_a_modern_only_upstream() {
    let node = TestNode::start_before(FakeHttp::start_modern().await, "").await;
    let request = |method: &str, params: Value| {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "modern-agent", "version": "2"},
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
    };
    let headers = [("mcp-protocol-version", "2026-07-28")];
    let discover = node
        .post_with(
            "remote",
            Some(BOB),
            None,
            &request("server/discover", json!({})),
            &headers,
        )
        .await
        .json();
    assert_eq!(
        discover["result"]["serverInfo"]["name"], "fake-modern",
        "{discover}"
    );
    let call = request("tools/call", json!({"name": "whoami", "arguments": {}}));
    let who = node
        .post_with("remote", Some(BOB), None, &call, &headers)
        .await
        .json();
    assert_eq!(text(&who), "modern-agent", "{who}");
    assert_eq!(who["result"]["resultType"], "complete");
    node.stop().await;
}

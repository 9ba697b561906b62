//! The transport contract: bad input gets the documented errors, and stateless 2026-07-28 clients are
//! served in front of a session-era upstream.

mod support;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ALICE, BOB, TestNode, text};

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let auth = format!("Bearer {ALICE}");
    let base = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("mcp-session-id", session.as_str()),
    ];

    let malformed = node
        .send(Method::POST, node.agent, "/mcp/files", &base, "{not json")
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["error"]["code"], -32700);

    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let too_big = node
        .send(Method::POST, node.agent, "/mcp/files", &base, huge)
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);

    let unknown = node
        .post(
            "files",
            Some(ALICE),
            Some("0123456789abcdef0123456789abcdef"),
            &list(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let junk = node
        .post("files", Some(ALICE), Some("not-a-session"), &list())
        .await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);

    let batch = node
        .post("files", Some(ALICE), Some(&session), &json!([list(), list()]))
        .await;
    assert_eq!(batch.status, StatusCode::BAD_REQUEST);
    assert_eq!(batch.json()["error"]["code"], -32600);
    assert!(batch.body.contains("2025-11-25"), "{}", batch.body);

    let invalid = node
        .post(
            "files",
            Some(ALICE),
            Some(&session),
            &json!({"jsonrpc": "2.0", "id": 1}),
        )
        .await;
    assert_eq!(invalid.json()["error"]["code"], -32600);

    let bad_version = node
        .send(
            Method::POST,
            node.agent,
            "/mcp/files",
            &[base[0], base[1], base[2], ("mcp-protocol-version", "1999-01-01")],
            list().to_string(),
        )
        .await;
    assert_eq!(bad_version.status, StatusCode::BAD_REQUEST);

    let no_session = node.post("files", Some(ALICE), None, &list()).await;
    assert_eq!(no_session.status, StatusCode::BAD_REQUEST);
    assert!(no_session.body.contains("initialize"), "{}", no_session.body);

    let no_server = node.post("nowhere", Some(ALICE), None, &list()).await;
    assert_eq!(no_server.status, StatusCode::NOT_FOUND);

    // The session still works after all that.
    assert!(
        text(
            &node
                .call("files", Some(ALICE), &session, "read_file", json!({}))
                .await
        )
        .contains("read_file")
    );
    node.stop().await;
}

#[tokio::test]
async fn tokens_origins_and_hosts_are_checked() {
    let node = TestNode::start("").await;
    let missing = node.post("files", None, None, &list()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(missing.header("www-authenticate").unwrap().starts_with("Bearer"));

    let unknown = node.post("files", Some("who-knows"), None, &list()).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    let elsewhere = node.post("files", Some(BOB), None, &list()).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);

    let origin = node
        .post_with(
            "files",
            Some(ALICE),
            None,
            &list(),
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(origin.status, StatusCode::FORBIDDEN);
    assert!(origin.body.contains("origin"), "{}", origin.body);
    let local_origin = node
        .post_with(
            "files",
            Some(ALICE),
            None,
            &list(),
            &[("origin", "http://localhost:3000")],
        )
        .await;
    assert_ne!(local_origin.status, StatusCode::FORBIDDEN);

    let host = node
        .send(
            Method::POST,
            node.agent,
            "/mcp/files",
            &[("host", "evil.example"), ("authorization", "Bearer alice-token")],
            list().to_string(),
        )
        .await;
    assert_eq!(host.status, StatusCode::FORBIDDEN);

    // A server that opts into anonymous access serves requests without a token under its policy.
    let session = node.initialize("open", None).await;
    let denied = node.call("open", None, &session, "delete_file", json!({})).await;
    assert_eq!(denied["result"]["isError"], true);
    assert_eq!(node.audit_json()[0]["grant"], "anonymous");
    node.stop().await;
}

fn stateless(method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "modern", "version": "2"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": "s1", "method": method, "params": params})
}

#[tokio::test]
async fn stateless_clients_are_bridged_to_session_era_upstreams() {
    let node = TestNode::start("").await;
    for (server, token) in [("files", ALICE), ("remote", BOB)] {
        let v = [("mcp-protocol-version", "2026-07-28")];
        let discover = node
            .post_with(
                server,
                Some(token),
                None,
                &stateless("server/discover", json!({})),
                &[v[0], ("mcp-method", "server/discover")],
            )
            .await;
        assert_eq!(discover.status, StatusCode::OK, "{}", discover.body);
        let result = &discover.json()["result"];
        assert_eq!(result["serverInfo"]["name"], "fake-mcp", "{result}");
        assert!(
            result["supportedVersions"]
                .as_array()
                .unwrap()
                .contains(&json!("2026-07-28"))
        );
        assert!(discover.header("mcp-session-id").is_none());

        let call = stateless(
            "tools/call",
            json!({"name": "read_file", "arguments": {"path": "a"}}),
        );
        let headers = [v[0], ("mcp-method", "tools/call"), ("mcp-name", "read_file")];
        let allowed = node
            .post_with(server, Some(token), None, &call, &headers)
            .await
            .json();
        assert!(text(&allowed).contains("read_file"), "{allowed}");
        assert_eq!(allowed["result"]["resultType"], "complete");

        let denied = stateless("tools/call", json!({"name": "delete_file", "arguments": {}}));
        let headers = [v[0], ("mcp-method", "tools/call"), ("mcp-name", "delete_file")];
        let denied = node
            .post_with(server, Some(token), None, &denied, &headers)
            .await
            .json();
        assert_eq!(denied["result"]["isError"], true, "{denied}");

        let listed = node
            .post_with(
                server,
                Some(token),
                None,
                &stateless("tools/list", json!({})),
                &[v[0]],
            )
            .await
            .json();
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["read_file", "write_file", "delete_file"]);

        let mismatch = node
            .post_with(
                server,
                Some(token),
                None,
                &call,
                &[v[0], ("mcp-method", "tools/call"), ("mcp-name", "delete_file")],
            )
            .await;
        assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
        assert_eq!(mismatch.json()["error"]["code"], -32020);
        let mismatch = node
            .post_with(
                server,
                Some(token),
                None,
                &call,
                &[v[0], ("mcp-method", "tools/list")],
            )
            .await;
        assert_eq!(mismatch.json()["error"]["code"], -32020);

        let mut future = stateless("tools/list", json!({}));
        future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
        let unsupported = node.post(server, Some(token), None, &future).await;
        assert_eq!(unsupported.json()["error"]["code"], -32022);
    }
    node.stop().await;
}

#[tokio::test]
async fn a_stateless_session_key_selects_its_own_session() {
    let node = TestNode::start("").await;
    let whoami = |key: Option<&str>| {
        let mut call = stateless("tools/call", json!({"name": "whoami", "arguments": {}}));
        if let Some(key) = key {
            call["params"]["_meta"]["dev.portcullis/sessionKey"] = json!(key);
        }
        call
    };
    let headers = [("mcp-protocol-version", "2026-07-28")];
    let mut pids = Vec::new();
    for key in [Some("alpha"), Some("beta"), Some("alpha")] {
        let answer = node
            .post_with("files", Some(ALICE), None, &whoami(key), &headers)
            .await
            .json();
        pids.push(text(&answer).to_owned());
    }
    // One upstream process per session: the same key reaches the same one, another key another.
    assert_eq!(pids[0], pids[2], "{pids:?}");
    assert_ne!(pids[0], pids[1], "{pids:?}");

    let bad = node
        .post_with("files", Some(ALICE), None, &whoami(Some("has space")), &headers)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["code"], -32602, "{}", bad.body);
    node.stop().await;
}

#[tokio::test]
async fn batches_are_served_in_order_under_2025_03_26() {
    let node = TestNode::start("").await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "old", "version": "0"}}});
    let opened = node.post("files", Some(ALICE), None, &init).await;
    assert_eq!(opened.json()["result"]["protocolVersion"], "2025-03-26");
    let session = opened.header("mcp-session-id").unwrap().to_owned();
    let auth = format!("Bearer {ALICE}");
    // No MCP-Protocol-Version header: the session's negotiated version decides.
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("mcp-session-id", session.as_str()),
    ];
    let batch = json!([
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
        {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "delete_file", "arguments": {}}},
        {"jsonrpc": "2.0", "id": "c", "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "p"}}},
    ]);
    let answer = node
        .send(
            Method::POST,
            node.agent,
            "/mcp/files",
            &headers,
            batch.to_string(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let responses = answer.json();
    let responses = responses.as_array().unwrap();
    assert_eq!(responses.len(), 3, "{responses:?}");
    assert_eq!(responses[0]["id"], "a");
    assert_eq!(responses[0]["result"]["tools"].as_array().unwrap().len(), 3);
    assert_eq!(responses[1]["id"], "b");
    assert_eq!(responses[1]["result"]["isError"], true);
    assert_eq!(responses[2]["id"], "c");
    assert!(text(&responses[2]).contains("read_file"), "{responses:?}");
    node.stop().await;
}

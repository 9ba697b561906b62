//! Streamable HTTP with a real HTTP client on 127.0.0.1.

use hyper::{Method, StatusCode};
use portcullis_demo::DemoConfig;
use serde_json::{Value, json};

use crate::http_client::TestServer;

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn request(id: u64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

#[tokio::test]
async fn session_lifecycle_list_call_and_errors() {
    let server = TestServer::start(DemoConfig {
        page_size: Some(4),
        ..DemoConfig::default()
    })
    .await;

    let init = server.post(None, INIT).await;
    assert_eq!(init.status, StatusCode::OK);
    assert_eq!(init.body["result"]["protocolVersion"], "2025-06-18");
    let sid = init
        .headers
        .get("mcp-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let ack = server
        .post(
            Some(&sid),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
    assert_eq!(ack.status, StatusCode::ACCEPTED);

    // tools/list, page by page.
    let mut names = Vec::new();
    let mut cursor = Value::Null;
    for id in 1..10 {
        let page = server
            .post(Some(&sid), &request(id, "tools/list", json!({"cursor": cursor})))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        names.extend(
            page.body["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].clone()),
        );
        cursor = page.body["result"]["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(names.len(), 9);

    let echo = server
        .post(
            Some(&sid),
            &request(
                20,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "hé"}}),
            ),
        )
        .await;
    assert_eq!(echo.body["id"], 20);
    assert_eq!(echo.body["result"]["content"][0]["text"], "hé");
    assert_eq!(echo.body["result"]["isError"], false);

    let unknown = server
        .post(Some(&sid), &request(21, "tools/call", json!({"name": "nope"})))
        .await;
    assert_eq!(unknown.body["error"]["code"], -32602);

    let malformed = server.post(Some(&sid), r#"{"jsonrpc":"2.0","id":22,"#).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["error"]["code"], -32700);

    let no_session = server.post(None, &request(23, "tools/list", json!({}))).await;
    assert_eq!(no_session.status, StatusCode::BAD_REQUEST);

    let deleted = server.send(Method::DELETE, &[("mcp-session-id", &sid)], "").await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = server.post(Some(&sid), &request(24, "ping", json!({}))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    server.stop().await;
}

#[tokio::test]
async fn stateless_requests_and_header_checks() {
    let server = TestServer::start(DemoConfig::default()).await;

    let discover = server.post(None, &request(1, "server/discover", json!({}))).await;
    assert_eq!(discover.status, StatusCode::OK);
    assert!(
        discover.body["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert!(discover.headers.get("mcp-session-id").is_none());

    let meta = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}, "name": "echo", "arguments": {"text": "x"}});
    let hdrs = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    let call = server
        .send(Method::POST, &hdrs, &request(2, "tools/call", meta.clone()))
        .await;
    assert_eq!(call.status, StatusCode::OK, "{}", call.body);
    assert_eq!(call.body["result"]["resultType"], "complete");

    let mismatch = server
        .send(
            Method::POST,
            &[("mcp-method", "tools/list")],
            &request(3, "tools/call", meta),
        )
        .await;
    assert_eq!(
        (mismatch.status, mismatch.body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020))
    );

    let bad_version = server
        .send(Method::POST, &[("mcp-protocol-version", "1999-01-01")], INIT)
        .await;
    assert_eq!(bad_version.status, StatusCode::BAD_REQUEST);

    let evil = server
        .send(Method::POST, &[("origin", "http://evil.example")], INIT)
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);

    let name_mismatch = server
        .send(
            Method::POST,
            &[("mcp-name", "charge")],
            &request(4, "tools/call", json!({"name": "echo"})),
        )
        .await;
    assert_eq!(name_mismatch.body["error"]["code"], -32020);

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(5 << 20)
    );
    assert_eq!(
        server.post(None, &huge).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let get = server.send(Method::GET, &[], "").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);

    server.stop().await;
}

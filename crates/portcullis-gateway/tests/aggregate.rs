//! `/mcp` for a grant with several servers: one session for the client, one upstream session per
//! server, a merged list of `<server>__<tool>` names filtered by the grant's policy, calls routed by
//! prefix and decided under the real names, the servers' list changes on one stream, and a server
//! that cannot start degrading only its own tools. A grant with one server gets `/mcp/<server>`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ALICE, Answer, EventStream, TestNode};

const TOKEN: &str = "several-token";

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["secret_tool"],
  "tools": {
    "read_file": {},
    "whoami": {},
    "crash": {},
    "announce": {},
    "secret_tool": {},
    "delete_file": {"action": "deny", "reason": "deleting is off limits"}
  }
}"#;

/// Lands in `[limits]`, then adds a server that exits at once and a grant for three servers.
fn extra() -> String {
    format!(
        r#"
[servers.broken]
upstream = {{ type = "stdio", command = "false" }}

[[grants]]
id = "several"
token_sha256 = "{}"
servers = ["files", "remote", "broken"]
policy = "main"
"#,
        portcullis_gateway::state::to_hex(&portcullis_gateway::state::hash_token(TOKEN))
    )
}

async fn post(node: &TestNode, token: &str, session: Option<&str>, body: &Value) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("authorization", auth.as_str()),
    ];
    if let Some(session) = session {
        headers.push(("mcp-session-id", session));
        headers.push(("mcp-protocol-version", "2025-11-25"));
    }
    node.send(Method::POST, node.agent, "/mcp", &headers, body.to_string())
        .await
}

async fn initialize(node: &TestNode, token: &str) -> (String, Value) {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let answer = post(node, token, None, &init).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let session = answer.header("mcp-session-id").expect("a session id").to_owned();
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(node, token, Some(&session), &done).await.status,
        StatusCode::ACCEPTED
    );
    (session, answer.json())
}

async fn request(node: &TestNode, session: &str, method: &str, params: Value) -> Value {
    let message = json!({"jsonrpc": "2.0", "id": "r", "method": method, "params": params});
    let answer = post(node, TOKEN, Some(session), &message).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()
}

async fn names(node: &TestNode, session: &str) -> Vec<String> {
    let list = request(node, session, "tools/list", json!({})).await;
    assert!(list["result"].get("nextCursor").is_none(), "{list}");
    let mut names: Vec<String> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn call(node: &TestNode, session: &str, tool: &str, args: Value) -> Value {
    request(
        node,
        session,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endpoint_merges_routes_and_survives_a_broken_server() {
    let node = TestNode::start_with_policy(POLICY, &extra()).await;
    let (session, init) = initialize(&node, TOKEN).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "portcullis", "{init}");

    // Both pages of each working server, filtered by the policy under the real names; the server
    // that exits at once has no tools here.
    let expected: Vec<String> = ["files", "remote"]
        .iter()
        .flat_map(|s| {
            ["announce", "crash", "delete_file", "read_file", "whoami"].map(|t| format!("{s}__{t}"))
        })
        .collect();
    assert_eq!(names(&node, &session).await, expected);

    let read = call(&node, &session, "files__read_file", json!({"path": "a.txt"})).await;
    assert_eq!(read["result"]["isError"], Value::Null, "{read}");
    let remote = call(&node, &session, "remote__whoami", json!({})).await;
    assert!(remote["result"]["content"][0]["text"].is_string(), "{remote}");
    let denied = call(&node, &session, "remote__delete_file", json!({})).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert_eq!(
        denied["result"]["content"][0]["text"],
        "[POLICY DENIED] deleting is off limits"
    );
    let hidden = call(&node, &session, "files__secret_tool", json!({})).await;
    assert_eq!(hidden["result"]["isError"], true, "{hidden}");

    // Audit names the real server and tool.
    let audit = node.audit_json();
    let seen: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|r| {
            (
                r["server"].as_str().unwrap_or(""),
                r["tool"].as_str().unwrap_or(""),
                r["decision"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(seen.contains(&("files", "read_file", "allow")), "{audit:#?}");
    assert!(seen.contains(&("remote", "whoami", "allow")), "{audit:#?}");
    assert!(seen.contains(&("remote", "delete_file", "deny")), "{audit:#?}");
    assert!(audit.iter().all(|r| r["grant"] == "several"), "{audit:#?}");

    let broken = call(&node, &session, "broken__read_file", json!({})).await;
    let message = broken["error"]["message"].as_str().unwrap();
    assert!(message.contains("server \"broken\" is unavailable"), "{broken}");
    let unknown = call(&node, &session, "elsewhere__read_file", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("<server>__<tool>")
    );

    assert_eq!(
        request(&node, &session, "ping", json!({})).await["result"],
        json!({})
    );
    let resources = request(&node, &session, "resources/list", json!({})).await;
    assert_eq!(resources["error"]["code"], -32601, "{resources}");
    let paged = request(&node, &session, "tools/list", json!({"cursor": "page2"})).await;
    assert_eq!(paged["error"]["code"], -32602, "{paged}");
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]);
    assert_eq!(
        post(&node, TOKEN, Some(&session), &batch).await.status,
        StatusCode::BAD_REQUEST
    );
    let auth = format!("Bearer {TOKEN}");
    let future = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2099-01-01"),
        ("content-type", "application/json"),
    ];
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let refused = node.send(Method::POST, node.agent, "/mcp", &future, ping).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], -32022);

    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changes_reach_the_client_and_a_crashed_server_comes_back() {
    let node = TestNode::start_with_policy(POLICY, &extra()).await;
    let (session, _) = initialize(&node, TOKEN).await;
    let mut stream = open_stream(&node, &session).await;
    let announced = call(&node, &session, "files__announce", json!({"n": 7})).await;
    assert_eq!(announced["result"]["content"][0]["text"], "announced");
    let change = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the list change reaches the merged stream");
    assert_eq!(change["method"], "notifications/tools/list_changed");
    assert_eq!(change["params"]["_meta"]["n"], 7);

    // The stdio server dies; the next use opens it again, a new process.
    let before = call(&node, &session, "files__whoami", json!({})).await;
    let crashed = call(&node, &session, "files__crash", json!({})).await;
    assert!(
        crashed["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("server \"files\": "),
        "{crashed}"
    );
    let after = call(&node, &session, "files__whoami", json!({})).await;
    let pid = |v: &Value| v["result"]["content"][0]["text"].as_str().unwrap().to_owned();
    assert_ne!(pid(&before), pid(&after));
    assert!(
        names(&node, &session)
            .await
            .contains(&"files__read_file".to_owned())
    );

    // DELETE ends the session.
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let deleted = node.send(Method::DELETE, node.agent, "/mcp", &headers, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(
        post(&node, TOKEN, Some(&session), &list).await.status,
        StatusCode::NOT_FOUND
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_with_one_server_gets_that_server_at_mcp() {
    let node = TestNode::start_with_policy(POLICY, &extra()).await;
    let (session, init) = initialize(&node, ALICE).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "fake-mcp", "{init}");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let first = post(&node, ALICE, Some(&session), &list).await.json();
    assert_eq!(first["result"]["tools"][0]["name"], "read_file", "{first}");
    assert_eq!(first["result"]["nextCursor"], "page2");
    // The session is the server's own: `/mcp/files` knows it too.
    assert_eq!(node.list_names("files", Some(ALICE), &session).await.len(), 5);
    node.stop().await;
}

async fn open_stream(node: &TestNode, session: &str) -> EventStream {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::get(format!("http://{}/mcp", node.agent))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("mcp-session-id", session)
        .header("accept", "text/event-stream")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    EventStream::new(response.into_body())
}

#[test]
fn a_grant_names_several_servers_and_each_mistake_is_reported() {
    use portcullis_gateway::config::{ConfigError, load_str};
    let grant = |id: &str, n: u8, servers: &str| {
        format!(
            "[[grants]]\nid = \"{id}\"\ntoken_sha256 = \"{}\"\n{servers}\n",
            format!("{n:02x}").repeat(32)
        )
    };
    let base = "[listeners]\nagent = \"127.0.0.1:0\"\nops = \"127.0.0.1:0\"\n\
        [servers.a]\nupstream = { type = \"stdio\", command = \"x\" }\n\
        [servers.b]\nupstream = { type = \"stdio\", command = \"x\" }\n";
    let good = format!(
        "{base}{}{}",
        grant("both", 1, "server = \"a\"\nservers = [\"b\"]"),
        grant("list", 2, "servers = [\"b\", \"a\"]")
    );
    let loaded = load_str(&good, std::path::Path::new(".")).unwrap();
    let servers = |n: u8| {
        let hash = portcullis_gateway::state::parse_token_hash(&format!("{n:02x}").repeat(32)).unwrap();
        let grant = &loaded.state.grants[&hash];
        let all: Vec<String> = grant.all_servers().iter().map(ToString::to_string).collect();
        (grant.server.to_string(), all)
    };
    assert_eq!(servers(1), ("a".to_owned(), vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(servers(2), ("b".to_owned(), vec!["b".to_owned(), "a".to_owned()]));

    let bad = format!(
        "{base}{}{}{}",
        grant("none", 1, ""),
        grant("twice", 2, "server = \"a\"\nservers = [\"a\"]"),
        grant("unknown", 3, "servers = [\"b\", \"c\"]")
    );
    let err = load_str(&bad, std::path::Path::new(".")).unwrap_err();
    let ConfigError::Invalid(problems) = &err else {
        panic!("expected semantic problems, got {err}");
    };
    let all = problems.join("\n");
    assert!(all.contains("grants[0]: name the server"), "{all}");
    assert!(
        all.contains("grants[1].servers[0]: server \"a\" is listed twice"),
        "{all}"
    );
    assert!(
        all.contains("grants[2].servers[1]: no server named \"c\""),
        "{all}"
    );
}

//! The legacy HTTP+SSE transport (2024-11-05) for clients, over real sockets: `GET /sse/<server>`
//! announces the message endpoint, POSTs are accepted with 202 and answered on the stream, under the
//! same admission, enforcement and audit as Streamable HTTP; the session ends with its stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use support::{ALICE, EventStream, NOPOLICY, TestNode, text};

/// Opens `GET /sse/<server>`; returns the stream and the endpoint it announced.
async fn open_legacy(node: &TestNode, server: &str, headers: &[(&str, &str)]) -> (EventStream, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::get(format!("http://{}/sse/{server}", node.agent));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = EventStream::new(response.into_body());
    let first = stream.next_frame().await;
    let endpoint = first
        .strip_prefix("event: endpoint\ndata: ")
        .unwrap_or_else(|| panic!("first event is not the endpoint: {first:?}"))
        .to_owned();
    (stream, endpoint)
}

async fn post(node: &TestNode, endpoint: &str, token: &str, body: &Value) -> StatusCode {
    let auth = format!("Bearer {token}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    node.send(Method::POST, node.agent, endpoint, &headers, body.to_string())
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_is_admitted_enforced_and_audited_like_any_other() {
    let node = TestNode::start("").await;
    let bearer = format!("Bearer {ALICE}");
    let (mut stream, endpoint) = open_legacy(&node, "files", &[("authorization", &bearer)]).await;
    let session = endpoint
        .strip_prefix("/messages/files?session_id=")
        .expect("the endpoint names the session")
        .to_owned();

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "old", "version": "0"}}});
    assert_eq!(post(&node, &endpoint, ALICE, &init).await, StatusCode::ACCEPTED);
    let answer = stream.next().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["serverInfo"]["name"], "fake-mcp");
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(&node, &endpoint, ALICE, &initialized).await,
        StatusCode::ACCEPTED
    );

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(post(&node, &endpoint, ALICE, &list).await, StatusCode::ACCEPTED);
    let listed = stream.next().await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["read_file", "write_file", "delete_file"],
        "filtered: drop_table is hidden"
    );

    let call = |id: u32, tool: &str| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {"path": "/a"}}});
    assert_eq!(
        post(&node, &endpoint, ALICE, &call(3, "read_file")).await,
        StatusCode::ACCEPTED
    );
    let allowed = stream.next().await;
    assert_eq!(allowed["id"], 3);
    assert!(text(&allowed).starts_with("read_file ran with"), "{allowed}");
    assert_eq!(
        post(&node, &endpoint, ALICE, &call(4, "delete_file")).await,
        StatusCode::ACCEPTED
    );
    let denied = stream.next().await;
    assert_eq!(denied["id"], 4);
    assert_eq!(denied["result"]["isError"], true);
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );
    let audit = node.audit_json();
    let decisions: Vec<(&str, &str)> = audit
        .iter()
        .filter(|r| r["session"] == session.as_str())
        .map(|r| (r["tool"].as_str().unwrap(), r["decision"].as_str().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        [("read_file", "allow"), ("delete_file", "deny")],
        "{audit:#?}"
    );

    // Another grant cannot post into this session; a missing token is refused outright.
    assert_eq!(
        post(&node, &endpoint, NOPOLICY, &call(5, "read_file")).await,
        StatusCode::NOT_FOUND
    );
    let anonymous = node
        .send(
            Method::POST,
            node.agent,
            &endpoint,
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // The session lives as long as its stream.
    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = post(&node, &endpoint, ALICE, &call(6, "read_file")).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session outlived its stream: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_stream_is_guarded_like_the_streamable_endpoint() {
    let node = TestNode::start("").await;
    let get = |headers: Vec<(&'static str, String)>| {
        let node_addr = node.agent;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            // A refused stream answers at once, so the collecting client returns.
            support::send(Method::GET, node_addr, "/sse/files", &headers, "").await
        }
    };
    let bearer = format!("Bearer {ALICE}");
    let no_token = get(vec![]).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert!(no_token.header("www-authenticate").is_some());
    let evil = get(vec![
        ("authorization", bearer.clone()),
        ("origin", "http://evil.example".to_owned()),
    ])
    .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let bob = get(vec![("authorization", format!("Bearer {}", support::BOB))]).await;
    assert_eq!(
        bob.status,
        StatusCode::FORBIDDEN,
        "bob's grant is for another server"
    );
    let unknown = support::send(
        Method::GET,
        node.agent,
        "/sse/nowhere",
        &[("authorization", bearer.as_str())],
        "",
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let no_session = node
        .send(
            Method::POST,
            node.agent,
            "/messages/files",
            &[("authorization", bearer.as_str())],
            "{}",
        )
        .await;
    assert_eq!(no_session.status, StatusCode::BAD_REQUEST);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_request_during_a_call_reaches_the_legacy_client_and_its_answer_goes_back() {
    let node = TestNode::start("").await;
    let bearer = format!("Bearer {ALICE}");
    let (mut stream, endpoint) = open_legacy(&node, "files", &[("authorization", &bearer)]).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {"sampling": {}}, "clientInfo": {"name": "old", "version": "0"}}});
    assert_eq!(post(&node, &endpoint, ALICE, &init).await, StatusCode::ACCEPTED);
    assert_eq!(stream.next().await["id"], 1);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(&node, &endpoint, ALICE, &initialized).await,
        StatusCode::ACCEPTED
    );

    // The tool asks the client to sample before it answers: the client's POST of its answer must
    // get through while its call is still open.
    let ask = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ask", "arguments": {}}});
    assert_eq!(post(&node, &endpoint, ALICE, &ask).await, StatusCode::ACCEPTED);
    let request = stream.next().await;
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": {
        "role": "assistant", "model": "m", "content": {"type": "text", "text": "4"}}});
    assert_eq!(post(&node, &endpoint, ALICE, &reply).await, StatusCode::ACCEPTED);
    let answer = stream.next().await;
    assert_eq!(answer["id"], 2);
    assert_eq!(text(&answer), "client said 4");
    node.stop().await;
}

//! Multi round-trip requests: a 2026-07-28 client calls a session-era upstream that asks the client
//! something during the call (`ask` sends `sampling/createMessage`). The gateway answers with an
//! `InputRequiredResult`, parks the call, and continues it when the client retries with
//! `inputResponses`; the retry is not a second call.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use serde_json::{Value, json};
use support::fake_http::FakeHttp;
use support::{ALICE, BOB, TestNode, text};

const HEADERS: [(&str, &str); 1] = [("mcp-protocol-version", "2026-07-28")];

fn request(id: u64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "modern-agent", "version": "2"},
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

async fn call(node: &TestNode, id: u64, params: Value) -> Value {
    call_on(node, "files", ALICE, id, params).await
}

async fn call_on(node: &TestNode, server: &str, token: &str, id: u64, params: Value) -> Value {
    let body = request(id, "tools/call", params);
    node.post_with(server, Some(token), None, &body, &HEADERS)
        .await
        .json()
}

/// The sampling answer the client gives.
fn four() -> Value {
    json!({"role": "assistant", "content": {"type": "text", "text": "four"}, "model": "test"})
}

/// Asks `ask` and returns the input request's key and the request state, checking the question.
async fn ask(node: &TestNode, id: u64) -> (String, String) {
    let asked = call(node, id, json!({"name": "ask", "arguments": {}})).await;
    assert_eq!(asked["id"], id, "{asked}");
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let requests = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{asked}");
    let (key, question) = requests.iter().next().unwrap();
    assert_eq!(question["method"], "sampling/createMessage", "{asked}");
    assert_eq!(question["params"]["messages"][0]["content"]["text"], "2+2?");
    let state = result["requestState"].as_str().expect("requestState").to_owned();
    (key.clone(), state)
}

#[tokio::test]
async fn an_upstream_question_becomes_an_input_round_and_the_answer_continues_the_call() {
    let node = TestNode::start("").await;
    let (key, state) = ask(&node, 1).await;

    let retry =
        json!({"name": "ask", "arguments": {}, "inputResponses": {&key: four()}, "requestState": &state});
    let done = call(&node, 2, retry.clone()).await;
    assert_eq!(done["id"], 2, "the retry's id answers: {done}");
    assert_eq!(text(&done), "client said four", "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");

    // Decided and audited once: the retry continued the admitted call.
    let asks: Vec<Value> = node
        .audit_json()
        .into_iter()
        .filter(|r| r["tool"] == "ask")
        .collect();
    assert_eq!(asks.len(), 1, "{asks:#?}");
    assert_eq!(asks[0]["decision"], "allow", "{asks:#?}");

    // The state is spent: the same retry again matches nothing.
    let again = call(&node, 3, retry).await;
    assert_eq!(again["error"]["code"], -32602, "{again}");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no pending request"),
        "{again}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_retry_must_repeat_its_request_and_denials_stay_denied() {
    let node = TestNode::start("").await;
    let (key, state) = ask(&node, 1).await;

    // The state of a parked `ask` does not carry a denied tool past the policy.
    let smuggled = json!({"name": "delete_file", "arguments": {}, "inputResponses": {&key: four()}, "requestState": &state});
    let refused = call(&node, 2, smuggled).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let denied = call(&node, 3, json!({"name": "delete_file", "arguments": {}})).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );

    // The mismatched retry did not spend the parked call: the right one continues it.
    let retry =
        json!({"name": "ask", "arguments": {}, "inputResponses": {&key: four()}, "requestState": &state});
    let done = call(&node, 4, retry).await;
    assert_eq!(text(&done), "client said four", "{done}");
    node.stop().await;
}

#[tokio::test]
async fn a_parked_call_expires_after_the_upstream_timeout() {
    let node = TestNode::start("upstream_timeout_secs = 1").await;
    let (key, state) = ask(&node, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let retry =
        json!({"name": "ask", "arguments": {}, "inputResponses": {&key: four()}, "requestState": state});
    let late = call(&node, 2, retry).await;
    assert_eq!(late["error"]["code"], -32602, "{late}");
    // Settled once, as the gateway's cancellation.
    let asks: Vec<Value> = node
        .audit_json()
        .into_iter()
        .filter(|r| r["tool"] == "ask")
        .collect();
    assert_eq!(asks.len(), 1, "{asks:#?}");
    assert_eq!(asks[0]["outcome"], "cancelled", "{asks:#?}");
    node.stop().await;
}

#[tokio::test]
async fn a_modern_upstreams_input_request_reaches_a_session_era_client_as_a_server_request() {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let node = TestNode::start_before(FakeHttp::start_modern_only().await, "").await;
    let init = json!({"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "legacy-agent", "version": "1"}}});
    let answer = node.post("remote", Some(BOB), None, &init).await;
    let session = answer.header("mcp-session-id").expect("a session id").to_owned();

    let call = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "ask", "arguments": {}}});
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::post(format!("http://{}/mcp/remote", node.agent))
        .header("authorization", format!("Bearer {BOB}"))
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
    assert_eq!(asked["params"]["messages"][0]["content"]["text"], "2+2?");
    let question = asked["id"].clone();
    assert!(question.is_string(), "{asked}");

    let reply = json!({"jsonrpc": "2.0", "id": question, "result": four()});
    let ack = node.post("remote", Some(BOB), Some(&session), &reply).await;
    assert_eq!(ack.status, hyper::StatusCode::ACCEPTED, "{}", ack.body);

    // The upstream got the answer in its retry's inputResponses; the client sees one call.
    let done = events.next().await;
    assert_eq!(done["id"], 11, "{done}");
    assert_eq!(text(&done), "client said four", "{done}");
    assert!(done["result"].get("resultType").is_none(), "{done}");
    let asks = node
        .audit_json()
        .into_iter()
        .filter(|r| r["tool"] == "ask")
        .count();
    assert_eq!(asks, 1);
    node.stop().await;
}

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
use support::{ALICE, TestNode, text};

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
    node.post_with(
        "files",
        Some(ALICE),
        None,
        &request(id, "tools/call", params),
        &HEADERS,
    )
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

//! A 2026-07-28 client calls a 2026-07-28-only upstream whose `ask` asks in rounds (an
//! `InputRequiredResult` per question). The gateway holds the admitted call between rounds under its
//! own `requestState`: the retries are not decided, charged or audited again, so a call limited to
//! one per minute finishes its rounds and the next call in the window is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use hyper::Method;
use portcullis_gateway::config::load_str;
use serde_json::{Value, json};
use support::fake_http::FakeHttp;
use support::{BOB, TestNode, config, text, unique_dir};

const HEADERS: [(&str, &str); 1] = [("mcp-protocol-version", "2026-07-28")];

/// `ask` once a minute; `read_file` free.
const POLICY: &str = r#"{"version": "1", "default": "deny", "tools": {
  "ask": {"limits": [{"rate_limit": "1/minute"}]},
  "read_file": {}}}"#;

async fn start(extra: &str) -> TestNode {
    let upstream = FakeHttp::start_modern_only().await;
    let dir = unique_dir();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let loaded = load_str(&config(&upstream.url(), extra), &dir).unwrap();
    TestNode::start_loaded(loaded, dir, Some(upstream)).await
}

fn request(id: u64, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "modern-agent", "version": "2"},
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

async fn call(node: &TestNode, id: u64, params: Value) -> Value {
    node.post_with("remote", Some(BOB), None, &request(id, params), &HEADERS)
        .await
        .json()
}

/// A call on `/mcp` for the grant of `files` and `remote` (tools named `<server>__<tool>`).
async fn call_aggregate(node: &TestNode, id: u64, params: Value) -> Value {
    let auth = format!("Bearer {SEVERAL}");
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("authorization", auth.as_str()),
        HEADERS[0],
    ];
    let body = request(id, params).to_string();
    node.send(Method::POST, node.agent, "/mcp", &headers, body)
        .await
        .json()
}

const SEVERAL: &str = "several-token";

/// Lands in `[limits]`, then adds a grant for `files` and `remote` behind `/mcp`.
fn aggregate_grant() -> String {
    format!(
        r#"
[[grants]]
id = "several"
token_sha256 = "{}"
servers = ["files", "remote"]
policy = "main"
"#,
        support::sha(SEVERAL)
    )
}

fn said(text: &str) -> Value {
    json!({"role": "assistant", "content": {"type": "text", "text": text}, "model": "test"})
}

/// The gateway's state in an `InputRequiredResult`, after checking it asks `key`.
fn held_state(answer: &Value, key: &str) -> String {
    let result = &answer["result"];
    assert_eq!(result["resultType"], "input_required", "{answer}");
    assert!(result["inputRequests"].get(key).is_some(), "{answer}");
    let state = result["requestState"].as_str().expect("a requestState");
    // Never the upstream's own state: that stays with the gateway.
    assert!(state.starts_with("portcullis-held1."), "{answer}");
    state.to_owned()
}

fn ask_records(node: &TestNode) -> Vec<Value> {
    node.audit_json()
        .into_iter()
        .filter(|r| r["tool"] == "ask")
        .collect()
}

/// Asks the two-round `ask` and answers both rounds; returns the final answer.
async fn ask_twice(node: &TestNode, first_id: u64) -> Value {
    let args = json!({"rounds": 2});
    let first = call(node, first_id, json!({"name": "ask", "arguments": &args})).await;
    let state = held_state(&first, "q1");
    let retry = json!({"name": "ask", "arguments": &args, "inputResponses": {"q1": said("four")}, "requestState": state});
    let second = call(node, first_id + 1, retry).await;
    let state = held_state(&second, "q2");
    let retry = json!({"name": "ask", "arguments": &args, "inputResponses": {"q2": said("six")}, "requestState": state});
    call(node, first_id + 2, retry).await
}

#[tokio::test]
async fn a_two_round_call_is_decided_charged_and_audited_once() {
    let node = start("").await;
    let done = ask_twice(&node, 1).await;
    assert_eq!(done["id"], 3, "the last retry's id answers: {done}");
    assert_eq!(text(&done), "client said four then six", "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");

    // One record for the logical call, allowed and completed, saying it took three requests.
    let records = ask_records(&node);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["decision"], "allow", "{records:#?}");
    assert_eq!(records[0]["outcome"], "ok", "{records:#?}");
    assert!(
        records[0]["message"]
            .as_str()
            .unwrap()
            .contains("2 input round(s)"),
        "{records:#?}"
    );

    // Charged once: the limit of one a minute is spent by that call, so the next is refused.
    let refused = call(&node, 4, json!({"name": "ask", "arguments": {"rounds": 2}})).await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(text(&refused).contains("rate limited"), "{refused}");
    let records = ask_records(&node);
    assert_eq!(records.len(), 2, "{records:#?}");
    assert_eq!(records[1]["decision"], "rate_limited", "{records:#?}");
    node.stop().await;
}

#[tokio::test]
async fn forged_spent_and_mismatched_states_are_refused_and_leave_the_call_held() {
    let node = start("").await;
    let args = json!({"rounds": 2});
    let first = call(&node, 1, json!({"name": "ask", "arguments": &args})).await;
    let state = held_state(&first, "q1");
    let answers = json!({"q1": said("four")});
    let refused = |answer: &Value, why: &str| {
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
    };

    let forged = format!("portcullis-held1.{}", "0".repeat(32));
    let answer = call(
        &node,
        2,
        json!({"name": "ask", "arguments": &args, "inputResponses": &answers, "requestState": forged}),
    )
    .await;
    refused(&answer, "no held call matches");
    let answer = call(&node, 3, json!({"name": "ask", "arguments": {"rounds": 3}, "inputResponses": &answers, "requestState": &state})).await;
    refused(&answer, "arguments");
    let answer = call(
        &node,
        4,
        json!({"name": "read_file", "arguments": &args, "inputResponses": &answers, "requestState": &state}),
    )
    .await;
    refused(&answer, "tool");

    // None of those spent the held call: the right retry continues it.
    let retry =
        json!({"name": "ask", "arguments": &args, "inputResponses": &answers, "requestState": &state});
    let second = call(&node, 5, retry.clone()).await;
    held_state(&second, "q2");
    // The first state is spent once continued.
    refused(&call(&node, 6, retry).await, "no held call matches");
    node.stop().await;
}

#[tokio::test]
async fn an_abandoned_held_call_gives_its_charge_back_after_the_upstream_timeout() {
    let node = start("upstream_timeout_secs = 1").await;
    let first = call(&node, 1, json!({"name": "ask", "arguments": {"rounds": 2}})).await;
    let state = held_state(&first, "q1");
    // While held, the call holds the minute's one `ask`.
    let refused = call(&node, 2, json!({"name": "ask", "arguments": {}})).await;
    assert!(text(&refused).contains("rate limited"), "{refused}");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    let late = json!({"name": "ask", "arguments": {"rounds": 2}, "inputResponses": {"q1": said("four")}, "requestState": state});
    let late = call(&node, 3, late).await;
    assert_eq!(late["error"]["code"], -32602, "{late}");
    // Settled once as cancelled, its reservation rolled back: a new call fits in the window again.
    let records = ask_records(&node);
    assert_eq!(records.len(), 2, "{records:#?}");
    assert_eq!(records[1]["outcome"], "cancelled", "{records:#?}");
    let again = call(&node, 4, json!({"name": "ask", "arguments": {}})).await;
    assert_eq!(again["result"]["resultType"], "input_required", "{again}");
    node.stop().await;
}

#[tokio::test]
async fn the_aggregate_endpoint_holds_a_members_rounds_as_one_call() {
    let node = start(&aggregate_grant()).await;
    let args = json!({"rounds": 2});
    // Another grant's held call is no call of this grant's, even on the same server and tool.
    let bobs = call(&node, 10, json!({"name": "ask", "arguments": &args})).await;
    let bobs = held_state(&bobs, "q1");
    let stolen = json!({"name": "remote__ask", "arguments": &args, "inputResponses": {"q1": said("four")}, "requestState": bobs});
    let refused = call_aggregate(&node, 11, stolen).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no held call matches"),
        "{refused}"
    );
    let first = call_aggregate(&node, 1, json!({"name": "remote__ask", "arguments": &args})).await;
    let state = held_state(&first, "q1");
    // Another member's tool does not continue it.
    let smuggled = json!({"name": "files__read_file", "arguments": &args, "inputResponses": {"q1": said("four")}, "requestState": &state});
    let refused = call_aggregate(&node, 2, smuggled).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let retry = json!({"name": "remote__ask", "arguments": &args, "inputResponses": {"q1": said("four")}, "requestState": &state});
    let second = call_aggregate(&node, 3, retry).await;
    let state = held_state(&second, "q2");
    let retry = json!({"name": "remote__ask", "arguments": &args, "inputResponses": {"q2": said("six")}, "requestState": state});
    let done = call_aggregate(&node, 4, retry).await;
    assert_eq!(text(&done), "client said four then six", "{done}");
    // Decided and audited once, under the real server and tool (bob's held call is not settled yet).
    let records: Vec<Value> = ask_records(&node)
        .into_iter()
        .filter(|r| r["grant"] == "several")
        .collect();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["server"], "remote", "{records:#?}");
    assert_eq!(records[0]["outcome"], "ok", "{records:#?}");
    node.stop().await;
}

#[tokio::test]
async fn a_held_state_is_node_local_and_another_node_refuses_it_clearly() {
    let (holder, other) = (start("").await, start("").await);
    let args = json!({"rounds": 2});
    let first = call(&holder, 1, json!({"name": "ask", "arguments": &args})).await;
    let state = held_state(&first, "q1");
    let retry = json!({"name": "ask", "arguments": &args, "inputResponses": {"q1": said("four")}, "requestState": state});
    // The documented limit: only the node that holds the call can continue it.
    let elsewhere = call(&other, 2, retry.clone()).await;
    assert_eq!(elsewhere["error"]["code"], -32602, "{elsewhere}");
    let message = elsewhere["error"]["message"].as_str().unwrap();
    assert!(message.contains("another gateway node"), "{message}");
    // Nothing was decided or charged there, and the holder still continues it.
    assert!(ask_records(&other).is_empty());
    held_state(&call(&holder, 3, retry).await, "q2");
    holder.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn a_stopping_node_settles_its_held_calls_before_it_returns() {
    // The upstream timeout is far away: only the shutdown can settle the held call in time.
    let node = start("upstream_timeout_secs = 600").await;
    let first = call(&node, 1, json!({"name": "ask", "arguments": {"rounds": 2}})).await;
    held_state(&first, "q1");
    assert!(ask_records(&node).is_empty(), "held, not yet settled");
    let audit = std::sync::Arc::clone(&node.audit);
    node.stop().await;
    let records: Vec<Value> = audit
        .records()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .filter(|r| r["tool"] == "ask")
        .collect();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["decision"], "allow", "{records:#?}");
    assert_eq!(records[0]["outcome"], "cancelled", "{records:#?}");
}

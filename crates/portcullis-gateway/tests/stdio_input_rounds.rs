//! Multi round-trip requests through the stdio front (`portcullis run`), both ways. A 2026-07-28
//! client in front of a session-era child that asks something during a call (`ask` sends
//! `sampling/createMessage`) gets an `InputRequiredResult` and continues the call with a retry; a
//! session-era client in front of a 2026-07-28-only child that answers `ask` with an
//! `InputRequiredResult` gets the question as a request on its input and the result after answering,
//! and a 2026-07-28 client in front of that child gets its rounds under the gateway's state.
//! Either way the policy decides, and the audit records, one call.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Duration;

use portcullis_gateway::config::Settings;
use portcullis_gateway::front::stdio::Ended;
use serde_json::{Value, json};
use support::stdio::{StdioClient, modern};
use support::text;

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "tools": {
    "ask": {},
    "cancels": {},
    "read_file": {},
    "delete_file": { "action": "deny", "reason": "deleting files is not allowed here" }
  }
}"#;

fn start(args: &[&str], upstream_timeout: Duration) -> StdioClient {
    let settings = Settings {
        upstream_timeout,
        audit_wait_for_sync: true,
        ..Settings::default()
    };
    StdioClient::start(POLICY, args, settings)
}

/// A 2026-07-28 `tools/call`.
fn call(id: &str, params: Value) -> Value {
    modern(id, "tools/call", params, "2026-07-28")
}

/// The sampling answer the client gives.
fn four() -> Value {
    json!({"role": "assistant", "content": {"type": "text", "text": "four"}, "model": "test"})
}

/// The retry of `ask` that answers input request `key` and names `state`.
fn retry(id: &str, tool: &str, key: &str, state: &str) -> Value {
    call(
        id,
        json!({"name": tool, "arguments": {}, "inputResponses": {key: four()}, "requestState": state}),
    )
}

/// Calls `ask` as a 2026-07-28 client and returns the input request's key and the request state,
/// checking the question.
async fn ask(client: &mut StdioClient, id: &str) -> (String, String) {
    // Nothing comes before the answer: the upstream's request is in it, not on the output.
    client
        .send(&call(id, json!({"name": "ask", "arguments": {}})))
        .await;
    let asked = client.next().await;
    assert_eq!(asked["id"], id, "{asked}");
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let requests = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{asked}");
    let (key, question) = requests.iter().next().unwrap();
    assert_eq!(question["method"], "sampling/createMessage", "{asked}");
    assert_eq!(question["params"]["messages"][0]["content"]["text"], "2+2?");
    let state = result["requestState"].as_str().expect("requestState");
    assert!(state.starts_with("portcullis-ir1."), "{asked}");
    (key.clone(), state.to_owned())
}

/// The audit records of `ask` (waiting a little for one settled in a task of its own).
async fn asks(client: &StdioClient, expected: usize) -> Vec<Value> {
    for _ in 0..100 {
        let records: Vec<Value> = client
            .audit_json()
            .into_iter()
            .filter(|r| r["tool"] == "ask")
            .collect();
        if records.len() >= expected {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {expected} audit records of ask");
}

#[tokio::test]
async fn a_2026_stdio_client_continues_a_call_the_upstream_asked_about() {
    let mut client = start(&[], Duration::from_secs(30));
    let (key, state) = ask(&mut client, "1").await;

    let done = client.ask(retry("2", "ask", &key, &state)).await;
    assert_eq!(done["id"], "2", "the retry's id answers: {done}");
    assert_eq!(text(&done), "client said four", "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");

    // Decided and audited once: the retry continued the admitted call.
    let records = asks(&client, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["decision"], "allow", "{records:#?}");
    assert_eq!(records[0]["outcome"], "ok", "{records:#?}");

    // The state is spent: the same retry again matches nothing.
    let again = client.ask(retry("3", "ask", &key, &state)).await;
    assert_eq!(again["error"]["code"], -32602, "{again}");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no pending request"),
        "{again}"
    );
    assert_eq!(asks(&client, 1).await.len(), 1);
}

#[tokio::test]
async fn unknown_and_mismatched_request_states_are_refused_over_stdio() {
    let mut client = start(&[], Duration::from_secs(30));
    // A state the gateway never minted.
    let unknown = client
        .ask(retry(
            "u",
            "ask",
            "q",
            "portcullis-ir1.00000000000000000000000000000000",
        ))
        .await;
    assert_eq!(unknown["id"], "u", "{unknown}");
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    let (key, state) = ask(&mut client, "1").await;
    // The state of a parked `ask` carries neither another tool nor a denied one past the policy.
    let other = client.ask(retry("o", "read_file", &key, &state)).await;
    assert_eq!(other["error"]["code"], -32602, "{other}");
    let smuggled = client.ask(retry("s", "delete_file", &key, &state)).await;
    assert_eq!(smuggled["error"]["code"], -32602, "{smuggled}");
    let denied = client
        .ask(call("d", json!({"name": "delete_file", "arguments": {}})))
        .await;
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );

    // The mismatched retries did not spend the parked call: the right one continues it.
    let done = client.ask(retry("2", "ask", &key, &state)).await;
    assert_eq!(text(&done), "client said four", "{done}");
    let tools: Vec<Value> = client.audit_json().iter().map(|r| r["tool"].clone()).collect();
    assert_eq!(tools, [json!("delete_file"), json!("ask")], "{tools:?}");
}

#[tokio::test]
async fn cancelling_the_retry_cancels_the_continued_call_upstream() {
    let mut client = start(&[], Duration::from_secs(30));
    // The upstream works on for 10 s after the answer, unless cancelled.
    client
        .send(&call("1", json!({"name": "ask", "arguments": {"ms": 10_000}})))
        .await;
    let asked = client.next().await;
    let key = asked["result"]["inputRequests"]
        .as_object()
        .and_then(|requests| requests.keys().next().cloned())
        .unwrap_or_else(|| panic!("no input request: {asked}"));
    let state = asked["result"]["requestState"].as_str().unwrap().to_owned();
    client.send(&retry("2", "ask", &key, &state)).await;
    // The client names the retry; the upstream knows the call by the first attempt's id.
    client
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "2"}}))
        .await;
    // The next line answers the next request (the cancelled one gets none), and only comes once the
    // upstream stopped waiting on the cancelled call.
    let report = client
        .ask(call("r", json!({"name": "cancels", "arguments": {}})))
        .await;
    assert_eq!(report["id"], "r", "{report}");
    let seen: Value = serde_json::from_str(text(&report)).unwrap();
    assert_eq!(seen["cancelled"].as_array().map(Vec::len), Some(1), "{seen}");
    let records = asks(&client, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"], "cancelled", "{records:#?}");
}

#[tokio::test]
async fn a_parked_stdio_call_expires_after_the_upstream_timeout() {
    let mut client = start(&[], Duration::from_millis(400));
    let (key, state) = ask(&mut client, "1").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let late = client.ask(retry("2", "ask", &key, &state)).await;
    assert_eq!(late["error"]["code"], -32602, "{late}");
    // Settled once, as the gateway's cancellation.
    let records = asks(&client, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"], "cancelled", "{records:#?}");
}

#[tokio::test]
async fn closing_the_input_settles_a_call_parked_for_input() {
    let mut client = start(&[], Duration::from_secs(30));
    let _parked = ask(&mut client, "1").await;
    closed_settles_one_cancelled_ask(client).await;
}

#[tokio::test]
async fn a_session_era_stdio_client_answers_a_modern_only_childs_input_round() {
    let mut client = start(&["--modern-only"], Duration::from_secs(30));
    client.initialize_with("fake-mcp-modern").await;
    client
        .send(&json!({"jsonrpc": "2.0", "id": "c", "method": "tools/call",
            "params": {"name": "ask", "arguments": {}}}))
        .await;
    // The upstream's input request, as a server→client request on the output.
    let asked = client.next().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    assert_eq!(asked["params"]["messages"][0]["content"]["text"], "2+2?");
    let question = asked["id"].clone();
    assert!(
        question
            .as_str()
            .is_some_and(|id| id.starts_with("portcullis-input-")),
        "{asked}"
    );
    client
        .send(&json!({"jsonrpc": "2.0", "id": question, "result": four()}))
        .await;

    // The upstream got the answer in its retry's inputResponses; the client sees one call.
    let done = client.next().await;
    assert_eq!(done["id"], "c", "{done}");
    assert_eq!(text(&done), "client said four", "{done}");
    assert!(done["result"].get("resultType").is_none(), "{done}");
    let records = asks(&client, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"], "ok", "{records:#?}");
}

/// The gateway's state of an `InputRequiredResult` answering request `id` and asking `key`.
fn held_state(asked: &Value, id: &str, key: &str) -> String {
    assert_eq!(asked["id"], id, "{asked}");
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    assert!(asked["result"]["inputRequests"].get(key).is_some(), "{asked}");
    let state = asked["result"]["requestState"].as_str().unwrap();
    // The gateway's state, never the child's own.
    assert!(state.starts_with("portcullis-held1."), "{asked}");
    state.to_owned()
}

#[tokio::test]
async fn a_2026_stdio_client_of_a_modern_only_child_answers_two_rounds_in_one_call() {
    let mut client = start(&["--modern-only"], Duration::from_secs(30));
    let args = json!({"rounds": 2});
    let said =
        |text: &str| json!({"role": "assistant", "content": {"type": "text", "text": text}, "model": "test"});
    client
        .send(&call("a", json!({"name": "ask", "arguments": &args})))
        .await;
    let state = held_state(&client.next().await, "a", "q1");
    let retry = json!({"name": "ask", "arguments": &args, "inputResponses": {"q1": said("four")}, "requestState": state});
    client.send(&call("b", retry)).await;
    let state = held_state(&client.next().await, "b", "q2");
    let retry = json!({"name": "ask", "arguments": &args, "inputResponses": {"q2": said("six")}, "requestState": state});
    client.send(&call("c", retry)).await;
    let done = client.next().await;
    assert_eq!(done["id"], "c", "{done}");
    assert_eq!(text(&done), "client said four then six", "{done}");
    // One decision and one record for the three requests.
    let records = asks(&client, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"], "ok", "{records:#?}");
}

#[tokio::test]
async fn closing_the_input_settles_a_call_held_between_a_modern_childs_rounds() {
    let mut client = start(&["--modern-only"], Duration::from_secs(30));
    client
        .send(&call("a", json!({"name": "ask", "arguments": {}})))
        .await;
    held_state(&client.next().await, "a", "q1");
    closed_settles_one_cancelled_ask(client).await;
}

/// Closes `client`'s input and checks that the one `ask` waiting on it was settled, once, as
/// cancelled, by the time the front returned (not whenever a timer fires).
async fn closed_settles_one_cancelled_ask(client: StdioClient) {
    drop(client.input);
    let ended = tokio::time::timeout(Duration::from_secs(10), client.front)
        .await
        .expect("the front ended in time")
        .unwrap();
    assert_eq!(ended, Ended::ClientClosed);
    let records: Vec<Value> = client
        .audit
        .records()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["tool"], "ask", "{records:#?}");
    assert_eq!(records[0]["outcome"], "cancelled", "{records:#?}");
}

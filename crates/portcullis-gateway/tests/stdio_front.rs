//! The stdio front in process: a client on one end of an in-memory pipe, the fake MCP server as the
//! child process. Same policy and audit as over HTTP, cancellation by the client's id, bad lines
//! answered with JSON-RPC errors, and a clean end (child killed) when the client closes its input.

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
  "hide": ["drop_*"],
  "tools": {
    "read_file": {},
    "whoami": {},
    "cancels": {},
    "slow": { "limits": [{ "rate_limit": "1/minute" }] },
    "delete_file": { "action": "deny", "reason": "deleting files is not allowed here" }
  }
}"#;

/// A front in front of the session-era fake, lines capped at `max_body_bytes`.
fn start(max_body_bytes: usize) -> StdioClient {
    start_with(Settings {
        max_body_bytes,
        audit_wait_for_sync: true,
        ..Settings::default()
    })
}

fn start_with(settings: Settings) -> StdioClient {
    StdioClient::start(POLICY, &[], settings)
}

#[tokio::test]
async fn a_stdio_client_gets_the_same_enforcement_and_audit_as_over_http() {
    let mut client = start(65_536);
    client.initialize_with("fake-mcp").await;
    let list = client
        .ask(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_file", "delete_file"], "first page, filtered");
    assert_eq!(list["result"]["nextCursor"], "page2");
    assert_eq!(
        list["result"]["tools"][0]["x-vendor"]["kept"], true,
        "raw JSON passes"
    );

    let allowed = client.call("a", "read_file", json!({"path": "notes.txt"})).await;
    assert_eq!(allowed["id"], "a");
    assert!(text(&allowed).contains("read_file ran"), "{allowed}");
    let denied = client.call("d", "delete_file", json!({})).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );
    let hidden = client.call("h", "drop_table", json!({})).await;
    assert_eq!(hidden["result"]["isError"], true, "{hidden}");

    let decisions: Vec<(String, String)> = client
        .audit
        .records()
        .iter()
        .map(|r| {
            let r = serde_json::to_value(r).unwrap();
            (
                r["tool"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("read_file".to_owned(), "allow".to_owned()),
            ("delete_file".to_owned(), "deny".to_owned()),
            ("drop_table".to_owned(), "hide".to_owned())
        ]
    );
    assert_eq!(
        serde_json::to_value(&client.audit.records()[0]).unwrap()["grant"],
        "desk"
    );

    // Closing the input ends the front and kills the child.
    let pid: u32 = text(&client.call("w", "whoami", json!({})).await)
        .parse()
        .unwrap();
    drop(client.input);
    let ended = tokio::time::timeout(Duration::from_secs(10), client.front)
        .await
        .expect("the front ended in time")
        .unwrap();
    assert_eq!(ended, Ended::ClientClosed);
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|status| !status.contains("State:\tZ"))
    };
    for _ in 0..100 {
        if !alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(), "the child {pid} was ended");
    assert!(
        client.output.next_line().await.unwrap().is_none(),
        "output closed"
    );
}

#[tokio::test]
async fn a_cancelled_stdio_call_gets_no_answer_and_releases_its_reservation() {
    let mut client = start(65_536);
    client.initialize_with("fake-mcp").await;
    client
        .send(&json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
            "params": {"name": "slow", "arguments": {"ms": 10_000}, "_meta": {"progressToken": 9}}}))
        .await;
    let progress = client.next().await;
    assert_eq!(progress["params"]["progressToken"], 9, "{progress}");
    let _log = client.next().await;
    client
        .send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "long"}}),
        )
        .await;
    // The next line is the answer to the next request: the cancelled one is never answered.
    let report = client.call("r", "cancels", json!({})).await;
    assert_eq!(report["id"], "r");
    let seen: Value = serde_json::from_str(text(&report)).unwrap();
    assert!(seen["slow"][0].is_u64(), "{seen}");
    assert_eq!(seen["cancelled"], json!([seen["slow"][0]]), "{seen}");
    let again = client.call("again", "slow", json!({"ms": 0})).await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
}

#[tokio::test]
async fn bad_lines_get_json_rpc_errors_and_the_session_goes_on() {
    let mut client = start(256);
    client.send_raw(b"{not json\n").await;
    assert_eq!(client.next().await["error"]["code"], -32700);
    client.send_raw(&[b'x'; 10_000]).await;
    client.send_raw(b"\n").await;
    let too_long = client.next().await;
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    assert!(
        too_long["error"]["message"].as_str().unwrap().contains("256"),
        "{too_long}"
    );
    client
        .send_raw(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n")
        .await;
    assert_eq!(client.next().await["error"]["code"], -32600);
    client.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":7}\n").await;
    let odd = client.next().await;
    assert_eq!(
        (odd["id"].clone(), odd["error"]["code"].clone()),
        (json!(7), json!(-32600))
    );
    client.initialize_with("fake-mcp").await;
    let fine = client.call("f", "read_file", json!({})).await;
    assert!(text(&fine).contains("read_file ran"), "{fine}");
}

#[tokio::test]
async fn a_hung_stdio_call_times_out_with_a_clear_error_and_releases_its_reservation() {
    let mut client = start_with(Settings {
        upstream_timeout: Duration::from_millis(500),
        audit_wait_for_sync: true,
        ..Settings::default()
    });
    client.initialize_with("fake-mcp").await;
    let hung = client.call("h", "slow", json!({"ms": 10_000})).await;
    assert_eq!(hung["id"], "h");
    assert_eq!(hung["error"]["data"]["timeout"], "upstream", "{hung}");
    let again = client.call("again", "slow", json!({"ms": 0})).await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
    let outcomes: Vec<Value> = client
        .audit
        .records()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap()["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("upstream_error"), json!("ok")]);
}

#[tokio::test]
async fn a_2026_stdio_client_gets_discover_and_the_era_envelope_in_front_of_a_session_era_child() {
    let mut client = start(65_536);
    // Never an `initialize`: the gateway initializes the child itself and answers from its result.
    let found = client
        .ask(modern("0", "server/discover", json!({}), "2026-07-28"))
        .await;
    let result = &found["result"];
    assert_eq!(result["serverInfo"]["name"], "fake-mcp", "{found}");
    assert_eq!(result["instructions"], "a fake for tests", "{found}");
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{found}"
    );
    let list = client
        .ask(modern("1", "tools/list", json!({}), "2026-07-28"))
        .await;
    assert_eq!(list["result"]["tools"][0]["name"], "read_file", "{list}");
    assert_eq!(list["result"]["resultType"], "complete", "{list}");
    assert_eq!(list["result"]["ttlMs"], 0, "{list}");
    assert_eq!(list["result"]["cacheScope"], "private", "{list}");
    let allowed = client
        .ask(modern(
            "a",
            "tools/call",
            json!({"name": "read_file", "arguments": {"path": "n"}}),
            "2026-07-28",
        ))
        .await;
    assert!(text(&allowed).contains("read_file ran"), "{allowed}");
    assert_eq!(allowed["result"]["resultType"], "complete", "{allowed}");
    let denied = client
        .ask(modern(
            "d",
            "tools/call",
            json!({"name": "delete_file", "arguments": {}}),
            "2026-07-28",
        ))
        .await;
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );
    assert_eq!(denied["result"]["resultType"], "complete", "{denied}");
    let unknown = client
        .ask(modern("v", "tools/list", json!({}), "1999-01-01"))
        .await;
    assert_eq!(unknown["error"]["code"], -32022, "{unknown}");
    // The gateway's handshake was the only one: a late `initialize` is refused.
    let late = client
        .ask(json!({"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .await;
    assert_eq!(late["error"]["code"], -32600, "{late}");
}

//! The protocol core without a transport: negotiation, discovery, tools and their errors.

// The helpers below unwrap like the tests do: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use portcullis_demo::{DemoConfig, DemoServer, Session};
use serde_json::{Value, json};

fn call(server: &DemoServer, session: &mut Session, method: &str, params: Value) -> Value {
    server
        .handle(
            session,
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        )
        .unwrap()
}

fn tool(server: &DemoServer, name: &str, args: Value) -> (String, bool) {
    let reply = call(
        server,
        &mut Session::default(),
        "tools/call",
        json!({"name": name, "arguments": args}),
    );
    let result = &reply["result"];
    (
        result["content"][0]["text"].as_str().unwrap().to_owned(),
        result["isError"].as_bool().unwrap(),
    )
}

#[test]
fn initialize_echoes_a_supported_version_else_the_latest() {
    let server = DemoServer::new(DemoConfig::default());
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let mut session = Session::default();
        let reply = call(
            &server,
            &mut session,
            "initialize",
            json!({"protocolVersion": asked}),
        );
        assert_eq!(reply["result"]["protocolVersion"], answered);
        assert_eq!(session.protocol_version(), Some(answered));
    }
}

#[test]
fn discover_lists_versions_and_stateless_requests_are_checked() {
    let server = DemoServer::new(DemoConfig::default());
    let reply = call(&server, &mut Session::default(), "server/discover", json!({}));
    let versions = reply["result"]["supportedVersions"].as_array().unwrap();
    assert!(versions.contains(&json!("2026-07-28")) && versions.contains(&json!("2025-11-25")));
    assert_eq!(reply["result"]["serverInfo"]["name"], "portcullis-demo");

    let meta = |v: &str| json!({"_meta": {"io.modelcontextprotocol/protocolVersion": v}});
    let ok = call(&server, &mut Session::default(), "tools/list", meta("2026-07-28"));
    assert_eq!(ok["result"]["resultType"], "complete");
    let bad = call(&server, &mut Session::default(), "tools/list", meta("2030-01-01"));
    assert_eq!(bad["error"]["code"], -32022);
    assert_eq!(bad["error"]["data"]["requested"], "2030-01-01");
}

#[test]
fn pagination_walks_every_tool_once_and_rejects_bad_cursors() {
    let server = DemoServer::new(DemoConfig {
        page_size: Some(4),
        ..DemoConfig::default()
    });
    let mut names = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..10 {
        let reply = call(
            &server,
            &mut Session::default(),
            "tools/list",
            json!({"cursor": cursor}),
        );
        let tools = reply["result"]["tools"].as_array().unwrap();
        assert!(tools.len() <= 4);
        names.extend(tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        cursor = reply["result"]["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names.contains(&"clear_traffic".to_owned()) && names.contains(&"echo".to_owned()));
    let bad = call(
        &server,
        &mut Session::default(),
        "tools/list",
        json!({"cursor": "zzz"}),
    );
    assert_eq!(bad["error"]["code"], -32602);
}

#[test]
fn annotations_mark_read_and_destructive_tools() {
    let server = DemoServer::new(DemoConfig::default());
    let reply = call(&server, &mut Session::default(), "tools/list", json!({}));
    let find = |name: &str| {
        reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(find("inspect_flow")["annotations"]["readOnlyHint"], true);
    assert_eq!(find("clear_traffic")["annotations"]["destructiveHint"], true);
    assert_eq!(find("replay_flow")["annotations"]["readOnlyHint"], false);
    assert_eq!(
        find("charge")["inputSchema"]["required"],
        json!(["amount", "currency"])
    );
}

#[test]
fn extract_returns_the_seeded_session_token() {
    let server = DemoServer::new(DemoConfig::default());
    assert_eq!(
        tool(
            &server,
            "extract_session_variable",
            json!({"flow_id": "f2", "variable": "session_token"})
        ),
        ("tok_demo_5f2a9c71".to_owned(), false)
    );
    assert_eq!(
        tool(
            &server,
            "extract_session_variable",
            json!({"flow_id": "f2", "variable": "session"})
        )
        .0,
        "tok_demo_5f2a9c71"
    );
    let (msg, is_error) = tool(
        &server,
        "extract_session_variable",
        json!({"flow_id": "f9", "variable": "x"}),
    );
    assert!(is_error && msg.contains("f9"), "{msg}");
}

#[test]
fn write_tools_change_state_deterministically() {
    let server = DemoServer::new(DemoConfig::default());
    assert!(
        !tool(
            &server,
            "set_global_header",
            json!({"key": "X-Trace", "value": "1"})
        )
        .1
    );
    let (out, _) = tool(&server, "replay_flow", json!({"flow_id": "f1"}));
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["new_flow_id"], "f5");
    assert!(
        out["request_headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-trace", "1"]))
    );
    let (summary, _) = tool(&server, "get_traffic_summary", json!({}));
    assert!(summary.contains(r#""total_flows":5"#), "{summary}");
    assert_eq!(tool(&server, "clear_traffic", json!({})).0, r#"{"cleared":5}"#);
    assert_eq!(
        tool(&server, "search_traffic", json!({"query": "shop"})).0,
        r#"{"query":"shop","matches":[]}"#
    );
}

#[test]
fn tool_input_errors_are_tool_results_and_unknown_tools_are_protocol_errors() {
    let server = DemoServer::new(DemoConfig::default());
    assert_eq!(
        tool(&server, "echo", json!({"text": "hi"})),
        ("hi".to_owned(), false)
    );
    assert!(tool(&server, "echo", json!({})).1);
    assert!(tool(&server, "charge", json!({"amount": -1, "currency": "USD"})).1);
    assert!(tool(&server, "charge", json!({"amount": 5, "currency": "usd"})).1);
    assert_eq!(
        tool(&server, "charge", json!({"amount": 5, "currency": "EUR"})).0,
        r#"{"charge_id":"ch_000001","amount":5.0,"currency":"EUR","status":"succeeded"}"#
    );
    let reply = call(
        &server,
        &mut Session::default(),
        "tools/call",
        json!({"name": "rm_rf"}),
    );
    assert_eq!(reply["error"]["code"], -32602);
}

#[test]
fn framing_errors_and_notifications() {
    let server = DemoServer::new(DemoConfig::default());
    let mut session = Session::default();
    let reply = server
        .handle(
            &mut session,
            &json!({"jsonrpc": "2.0", "id": "abc", "method": "nope"}),
        )
        .unwrap();
    assert_eq!(
        (reply["id"].clone(), reply["error"]["code"].clone()),
        (json!("abc"), json!(-32601))
    );
    assert!(
        server
            .handle(
                &mut session,
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
            )
            .is_none()
    );
    assert!(session.is_initialized());
    let bad = server
        .handle(
            &mut session,
            &json!({"jsonrpc": "1.0", "id": 3, "method": "ping"}),
        )
        .unwrap();
    assert_eq!(bad["error"]["code"], -32600);
    // Batches only under 2025-03-26.
    let batch =
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]);
    assert_eq!(
        server.handle(&mut session, &batch).unwrap()["error"]["code"],
        -32600
    );
    let mut old = Session::default();
    call(
        &server,
        &mut old,
        "initialize",
        json!({"protocolVersion": "2025-03-26"}),
    );
    assert_eq!(
        server.handle(&mut old, &batch).unwrap().as_array().unwrap().len(),
        2
    );
}

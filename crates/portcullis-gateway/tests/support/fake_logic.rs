//! The fake MCP server's behaviour, shared by the stdio binary and the in-process HTTP fake.
//!
//! Tools: `read_file` (echoes its path), `write_file` (fails with a JSON-RPC error when
//! `arguments.fail` is true), `delete_file`, `drop_table`, `secret_tool`, `whoami` (the process id),
//! `slow` (progress notifications first, and waits `arguments.ms`), `crash` (the process exits),
//! `ask` (stdio only: sends `sampling/createMessage` to the client and answers with what it replied,
//! `arguments.ms` after the reply),
//! `announce` (stdio only: answers, then says `notifications/tools/list_changed`, with
//! `arguments.n` as `params._meta.n` so tests can tell announcements apart).
//! `tools/list` pages: the first page ends with `nextCursor: "page2"`.
//!
//! [`respond_modern_only`] is the same server speaking only 2026-07-28: no `initialize`, a
//! `server/discover`, and the protocol version required in every request's `_meta`; its `ask` is a
//! multi round-trip request (an `InputRequiredResult`, answered by a retry with `inputResponses`).

use serde_json::{Value, json};

/// What the fake does with one message.
#[derive(Debug, Default)]
pub struct Reply {
    /// Sent before the response (progress, logs).
    pub before: Vec<Value>,
    /// The response, for requests.
    pub response: Option<Value>,
    /// Wait this long before responding.
    pub sleep_ms: u64,
    /// Exit instead of responding.
    pub crash: bool,
    /// Wait for the client's answer to the request in `before` and echo it in the response.
    pub await_client: bool,
    /// Sent after the response.
    pub after: Vec<Value>,
}

const PAGE1: [&str; 4] = ["read_file", "write_file", "delete_file", "drop_table"];
const PAGE2: [&str; 6] = ["secret_tool", "whoami", "slow", "crash", "ask", "announce"];

fn tool(name: &str) -> Value {
    json!({"name": name, "description": format!("the {name} tool"), "inputSchema": {"type": "object"}, "x-vendor": {"kept": true}})
}

/// A tool result holding `text`.
pub fn text_result(id: &Value, text: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}], "vendorField": 7}})
}

/// Decides the fake's answer to `message`.
pub fn respond(message: &Value, pid: u32) -> Reply {
    let Some(id) = message.get("id").filter(|_| message.get("method").is_some()) else {
        return Reply::default();
    };
    let method = message["method"].as_str().unwrap_or("");
    let params = &message["params"];
    let response = match method {
        "initialize" => json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-11-25"),
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "fake-mcp", "version": "1.0.0"},
            "instructions": "a fake for tests"}}),
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        "tools/list" => {
            let second = params["cursor"] == "page2";
            let names: &[&str] = if second { &PAGE2 } else { &PAGE1 };
            let mut result = json!({"tools": names.iter().map(|n| tool(n)).collect::<Vec<_>>()});
            if !second {
                result["nextCursor"] = json!("page2");
            }
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        }
        "tools/call" => {
            let args = &params["arguments"];
            match params["name"].as_str().unwrap_or("") {
                "crash" => {
                    return Reply {
                        crash: true,
                        ..Reply::default()
                    };
                }
                "write_file" if args["fail"] == true => {
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "disk on fire"}})
                }
                "whoami" => text_result(id, pid.to_string()),
                "announce" => {
                    return Reply {
                        response: Some(text_result(id, "announced".to_owned())),
                        after: vec![
                            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                            "params": {"_meta": {"n": args["n"]}}}),
                        ],
                        ..Reply::default()
                    };
                }
                "slow" => {
                    let token = params["_meta"]["progressToken"].clone();
                    return Reply {
                        before: vec![
                            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1, "total": 2}}),
                            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "halfway"}}),
                        ],
                        response: Some(text_result(id, "slow done".to_owned())),
                        sleep_ms: args["ms"].as_u64().unwrap_or(0),
                        ..Reply::default()
                    };
                }
                "ask" => {
                    return Reply {
                        before: vec![
                            json!({"jsonrpc": "2.0", "id": "srv-1", "method": "sampling/createMessage",
                            "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "2+2?"}}], "maxTokens": 5}}),
                        ],
                        response: Some(json!({"jsonrpc": "2.0", "id": id})),
                        await_client: true,
                        sleep_ms: args["ms"].as_u64().unwrap_or(0),
                        ..Reply::default()
                    };
                }
                name => text_result(id, format!("{name} ran with {args}")),
            }
        }
        _ => json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}}),
    };
    Reply {
        response: Some(response),
        ..Reply::default()
    }
}

/// The `_meta` key of a 2026-07-28 request's protocol version.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Decides the modern-only fake's answer to `message`.
pub fn respond_modern_only(message: &Value, pid: u32) -> Reply {
    let Some(id) = message.get("id").filter(|_| message.get("method").is_some()) else {
        return Reply::default();
    };
    let error = |code: i64, text: &str| Reply {
        response: Some(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": text}})),
        ..Reply::default()
    };
    match message["method"].as_str().unwrap_or("") {
        "initialize" => return error(-32601, "method not found: this server speaks only 2026-07-28"),
        "server/discover" => {
            let result = json!({"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-mcp-modern", "version": "1.0.0"}, "resultType": "complete"});
            return Reply {
                response: Some(json!({"jsonrpc": "2.0", "id": id, "result": result})),
                ..Reply::default()
            };
        }
        _ => {}
    }
    if message["params"]["_meta"][META_VERSION] != "2026-07-28" {
        return error(
            -32022,
            "unsupported protocol version: send _meta protocolVersion 2026-07-28",
        );
    }
    if message["method"] == "tools/call" && message["params"]["name"] == "ask" {
        return ask_in_rounds(id, &message["params"]);
    }
    let mut reply = respond(message, pid);
    if let Some(result) = reply
        .response
        .as_mut()
        .and_then(|r| r.get_mut("result"))
        .and_then(Value::as_object_mut)
    {
        result.insert("resultType".to_owned(), json!("complete"));
    }
    reply
}

/// The modern-only fake's `ask`: a multi round-trip request (the question in an
/// `InputRequiredResult`, the answer in the retry's `inputResponses`). With `arguments.rounds` 2 it
/// asks a second question (state `fake-state-2:<first answer>`, as a stateless server keeps its
/// progress in the state) before answering.
fn ask_in_rounds(id: &Value, params: &Value) -> Reply {
    let two = params["arguments"]["rounds"] == 2;
    let state = params["requestState"].as_str().unwrap_or_default();
    let said = |key: &str| params["inputResponses"][key]["content"]["text"].as_str();
    let question = |key: &str, state: &str, text: &str| {
        json!({"resultType": "input_required", "requestState": state, "inputRequests": {key: {
            "method": "sampling/createMessage",
            "params": {"messages": [{"role": "user", "content": {"type": "text", "text": text}}], "maxTokens": 5}}}})
    };
    let done = |text: String| json!({"resultType": "complete", "content": [{"type": "text", "text": text}], "isError": false});
    let result = match (said("q1"), said("q2")) {
        (Some(first), _) if state == "fake-state-1" && two => {
            question("q2", &format!("fake-state-2:{first}"), "3+3?")
        }
        (Some(first), _) if state == "fake-state-1" => done(format!("client said {first}")),
        (_, Some(second)) if two && state.starts_with("fake-state-2:") => {
            let first = state.trim_start_matches("fake-state-2:");
            done(format!("client said {first} then {second}"))
        }
        _ => question("q1", "fake-state-1", "2+2?"),
    };
    Reply {
        response: Some(json!({"jsonrpc": "2.0", "id": id, "result": result})),
        ..Reply::default()
    }
}

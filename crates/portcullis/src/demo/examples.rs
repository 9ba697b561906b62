//! The demo's example calls: one per kind of decision, made live through the gateway.

use std::net::SocketAddr;
use std::path::Path;

use portcullis_bench::{Era, McpSession, Target};
use serde_json::{Value, json};

/// What an example should show.
enum Expect {
    Allowed,
    /// Denied, with this text in the reason.
    Denied(&'static str),
}

/// Runs every example and prints what happened; true when every call decided as expected.
pub async fn run(agent: SocketAddr, token: &str) -> bool {
    let target = Target {
        url: format!("http://{agent}/mcp/demo"),
        token: Some(token.to_owned()),
        era: Era::Session,
    };
    let mut session = match McpSession::open(&target).await {
        Ok(session) => session,
        Err(error) => {
            println!("could not open a session through the gateway: {error}");
            return false;
        }
    };
    let mut ok = list(&mut session).await;
    let examples: [(&str, &str, Value, Expect); 6] = [
        (
            "allow",
            "echo",
            json!({"text": "hello through portcullis"}),
            Expect::Allowed,
        ),
        (
            "allow",
            "extract_session_variable",
            json!({"flow_id": "f2", "variable": "session"}),
            Expect::Allowed,
        ),
        (
            "deny",
            "set_global_header",
            json!({"key": "Authorization", "value": "Bearer stolen"}),
            Expect::Denied("Credential headers"),
        ),
        ("hide", "clear_traffic", json!({}), Expect::Denied("hidden")),
        (
            "require approval",
            "replay_flow",
            json!({"flow_id": "f2"}),
            Expect::Denied("human"),
        ),
        (
            "deny",
            "charge",
            json!({"amount": 90000, "currency": "usd"}),
            Expect::Denied("$500.00"),
        ),
    ];
    println!("Example calls (policy: examples/policies/demo.yaml):");
    for (kind, tool, args, expect) in examples {
        ok &= call(&mut session, kind, tool, args, &expect).await;
    }
    ok &= rate_limit(&mut session).await;
    ok
}

async fn list(session: &mut McpSession) -> bool {
    match session.request("tools/list", json!({})).await {
        Ok(reply) => {
            let names: Vec<&str> = reply["result"]["tools"]
                .as_array()
                .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
                .unwrap_or_default();
            println!(
                "tools/list shows {} tools (clear_traffic is hidden): {}\n",
                names.len(),
                names.join(", ")
            );
            !names.is_empty() && !names.contains(&"clear_traffic")
        }
        Err(error) => {
            println!("tools/list failed: {error}");
            false
        }
    }
}

async fn call(session: &mut McpSession, kind: &str, tool: &str, args: Value, expect: &Expect) -> bool {
    let (is_error, text) = call_tool(session, tool, args).await;
    let as_expected = match expect {
        Expect::Allowed => !is_error,
        Expect::Denied(needle) => is_error && text.starts_with("[POLICY DENIED]") && text.contains(needle),
    };
    print_line(as_expected, kind, tool, &text);
    as_expected
}

/// Searches until the per-session limit (3 a minute) refuses one with a retry time. Seven calls see a
/// refusal even if the minute turns once mid-way.
async fn rate_limit(session: &mut McpSession) -> bool {
    for n in 1..=7 {
        let (is_error, text) = call_tool(session, "search_traffic", json!({"query": format!("q{n}")})).await;
        let label = format!("search_traffic (#{n})");
        if is_error {
            let as_expected = text.starts_with("[POLICY DENIED]") && text.contains("retry in");
            print_line(as_expected, "rate limit", &label, &text);
            return as_expected;
        }
        print_line(true, "allow", &label, &text);
    }
    println!("  UNEXPECTED rate limit: seven searches were all allowed");
    false
}

fn print_line(as_expected: bool, kind: &str, tool: &str, text: &str) {
    let mark = if as_expected { "ok " } else { "UNEXPECTED" };
    let shown: String = text.chars().take(100).collect();
    println!("  {mark} {kind:<16} {tool:<26} -> {shown}");
}

/// Whether the call failed (a tool error, a denial or a protocol error), and its text.
async fn call_tool(session: &mut McpSession, tool: &str, args: Value) -> (bool, String) {
    match session
        .request("tools/call", json!({"name": tool, "arguments": args}))
        .await
    {
        Ok(reply) => {
            let failed = reply["result"]["isError"]
                .as_bool()
                .unwrap_or(reply.get("error").is_some());
            let text = reply["result"]["content"][0]["text"]
                .as_str()
                .or_else(|| reply["error"]["message"].as_str());
            (failed, text.unwrap_or_default().to_owned())
        }
        Err(error) => (true, error.to_string()),
    }
}

/// Checks the audit trail the demo left; true when the chain is intact and holds records.
pub fn verify(audit: &Path) -> bool {
    match portcullis_audit::verify(audit) {
        Ok(report) if report.is_intact() => {
            println!(
                "\naudit: {} records, hash chain intact ({})",
                report.valid_records,
                audit.display()
            );
            report.valid_records > 0
        }
        Ok(report) => {
            println!(
                "\naudit: chain BROKEN: {:?}",
                report.first_break.map(|b| b.to_string())
            );
            false
        }
        Err(error) => {
            println!("\naudit: cannot verify {}: {error}", audit.display());
            false
        }
    }
}

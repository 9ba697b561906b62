//! Load and bookkeeping for the cluster-wide limit tests: sessions hammering nodes' MCP endpoints,
//! how each call ended as the client saw it, and the calls each window admitted according to the
//! nodes' audit logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_bench::{Era, McpSession, Target};
use serde_json::{Value, json};

use super::cluster::{NodeSpec, PATIENCE, Running, TOKEN};

/// Calls per window, cluster-wide.
pub const LIMIT: u64 = 300;
/// The rate limit's window.
pub const WINDOW_MS: u64 = 2_000;
/// Concurrent sessions per node.
pub const CLIENTS_PER_NODE: usize = 4;

/// `echo` limited to `LIMIT` calls per window per identity, plus `extra` tools.
pub fn limited_echo(extra: Value) -> String {
    let mut tools = json!({
        // A tool's `rate_limit` counts per session unless told otherwise.
        "echo": {"rate_limit": {"max": LIMIT, "window": WINDOW_MS / 1_000, "per": "identity"}},
    });
    if let (Some(tools), Value::Object(extra)) = (tools.as_object_mut(), extra) {
        tools.extend(extra);
    }
    json!({"version": "1", "default": "deny", "tools": tools}).to_string()
}

#[allow(
    clippy::disallowed_methods,
    reason = "the tests count calls per policy window, which the nodes derive from Unix time"
)]
pub fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// How one call ended, as the client saw it.
#[derive(Debug)]
pub enum Seen {
    Admitted {
        sent_ms: u64,
        answered_ms: u64,
    },
    /// Allowed by policy, failed upstream (a tool error from the demo server).
    Failed,
    Denied {
        at_ms: u64,
        text: String,
    },
}

/// Calls `tool` with `args` through `agent` until `until`, or until the node stops answering.
pub async fn hammer(agent: String, tool: &'static str, args: Vec<Value>, until: Instant) -> Vec<Seen> {
    let target = Target {
        url: format!("http://{agent}/mcp/demo"),
        token: Some(TOKEN.into()),
        era: Era::Session,
    };
    let Ok(mut session) = McpSession::open(&target).await else {
        return Vec::new();
    };
    let mut seen = Vec::new();
    for args in args.iter().cycle() {
        if Instant::now() >= until {
            break;
        }
        let sent_ms = now_ms();
        let params = json!({"name": tool, "arguments": args});
        let Ok(reply) = session.request("tools/call", params).await else {
            break; // the node died
        };
        let text = reply["result"]["content"][0]["text"].as_str().unwrap_or_default();
        seen.push(if !reply["result"]["isError"].as_bool().unwrap_or(true) {
            Seen::Admitted {
                sent_ms,
                answered_ms: now_ms(),
            }
        } else if text.starts_with("[POLICY DENIED]") {
            Seen::Denied {
                at_ms: sent_ms,
                text: text.chars().take(160).collect(),
            }
        } else {
            Seen::Failed
        });
    }
    seen
}

/// Starts `CLIENTS_PER_NODE` hammers per agent address; returns their join handles.
pub fn hammer_all(
    runtime: &tokio::runtime::Runtime,
    agents: &[String],
    tool: &'static str,
    args: &[Value],
    until: Instant,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    agents
        .iter()
        .flat_map(|agent| std::iter::repeat_n(agent, CLIENTS_PER_NODE))
        .map(|agent| runtime.spawn(hammer(agent.clone(), tool, args.to_vec(), until)))
        .collect()
}

pub fn gather(
    runtime: &tokio::runtime::Runtime,
    handles: Vec<tokio::task::JoinHandle<Vec<Seen>>>,
) -> Vec<Seen> {
    handles
        .into_iter()
        .flat_map(|handle| runtime.block_on(handle).unwrap())
        .collect()
}

/// Echo calls admitted and answered `ok`, per window start, from the audit logs of `specs`.
pub fn audited_echoes(specs: &[&NodeSpec]) -> BTreeMap<u64, u64> {
    let mut per_window = BTreeMap::new();
    for spec in specs {
        let Ok(text) = std::fs::read_to_string(spec.dir.join("audit.jsonl")) else {
            continue;
        };
        for record in text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        {
            if record["tool"] == "echo" && record["decision"] == "allow" && record["outcome"] == "ok" {
                let time = record["time_ms"].as_u64().unwrap();
                *per_window.entry(time - time % WINDOW_MS).or_insert(0) += 1;
            }
        }
    }
    per_window
}

/// Windows lying entirely within `[from_ms, to_ms]`.
pub fn full_windows(from_ms: u64, to_ms: u64) -> Vec<u64> {
    let first = from_ms.div_ceil(WINDOW_MS) * WINDOW_MS;
    (0..)
        .map(|i| first + i * WINDOW_MS)
        .take_while(|start| start + WINDOW_MS <= to_ms)
        .collect()
}

/// Client-side lower bound per window: calls sent and answered inside the same window.
pub fn surely_in_window(seen: &[Seen]) -> BTreeMap<u64, u64> {
    let mut per_window = BTreeMap::new();
    for call in seen {
        if let Seen::Admitted { sent_ms, answered_ms } = call
            && sent_ms / WINDOW_MS == answered_ms / WINDOW_MS
        {
            *per_window.entry(sent_ms - sent_ms % WINDOW_MS).or_insert(0) += 1;
        }
    }
    per_window
}

/// Denial texts and how often each was seen.
pub fn denial_reasons(seen: &[Seen]) -> BTreeMap<&str, usize> {
    let mut reasons = BTreeMap::new();
    for call in seen {
        if let Seen::Denied { text, .. } = call {
            *reasons.entry(text.as_str()).or_insert(0) += 1;
        }
    }
    reasons
}

/// Asserts that no window admitted more than `LIMIT`, by the audit logs and as the clients saw it.
pub fn assert_never_over(audited: &BTreeMap<u64, u64>, seen: &[Seen]) {
    for (window, admitted) in audited {
        assert!(
            *admitted <= LIMIT,
            "window {window} admitted {admitted} > {LIMIT} (audit)"
        );
    }
    for (window, admitted) in &surely_in_window(seen) {
        assert!(
            *admitted <= LIMIT,
            "window {window} admitted {admitted} > {LIMIT} (clients)"
        );
    }
}

/// Sleeps until `offset_ms` into the next window.
pub fn sleep_into_next_window(offset_ms: u64) {
    let now = now_ms();
    let next = now - now % WINDOW_MS + WINDOW_MS;
    std::thread::sleep(Duration::from_millis(next + offset_ms - now));
}

/// Stops a node with SIGTERM so its audit writer flushes, and waits for it.
pub fn stop(node: Running) {
    let mut node = node;
    node.signal("TERM");
    let deadline = Instant::now() + PATIENCE;
    while node.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a node did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The total of quota entries the node's log last reported.
pub fn entries_proposed(log: &Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == "quota entries proposed")
        .filter_map(|event| event["total"].as_u64())
        .max()
        .unwrap_or(0)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

//! Cluster-wide limits across three `portcullis serve --data-dir` processes on 127.0.0.1: clients
//! hammer every node at once, and the nodes' audit logs show that no window admitted more than the
//! limit and that nearly all of it was admitted; the same while the leader is killed with SIGKILL
//! mid-window; a node cut off from the quorum (the other survivor frozen with SIGSTOP) spends only
//! what it holds, then says "quota unavailable" and why; and a spend cap (`increment_from`) holds
//! across the cluster while failed upstream calls give back what they reserved.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_bench::{Era, McpSession, Target};
use serde_json::{Value, json};
use support::cluster::{NodeSpec, PATIENCE, Running, Scratch, agreed_leader, three_nodes};

const TOKEN: &str = "quota-t0ken";
/// Calls per window, cluster-wide.
const LIMIT: u64 = 300;
/// The rate limit's window.
const WINDOW_MS: u64 = 2_000;
/// The spend cap and the amount of each charge.
const CAP: f64 = 1_000.0;
const AMOUNT: f64 = 7.0;
/// Concurrent sessions per node.
const CLIENTS_PER_NODE: usize = 4;

fn policy() -> String {
    json!({
        "version": "1",
        "default": "deny",
        "tools": {
            // A tool's `rate_limit` counts per session unless told otherwise.
            "echo": {"rate_limit": {"max": LIMIT, "window": WINDOW_MS / 1_000, "per": "identity"}},
            "charge": {"limits": [{"counter": "spend", "max": CAP, "window": "hour", "increment_from": "args.amount"}]}
        }
    })
    .to_string()
}

#[allow(
    clippy::disallowed_methods,
    reason = "the test counts calls per policy window, which the nodes derive from Unix time"
)]
fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// How one call ended, as the client saw it.
#[derive(Debug)]
enum Seen {
    Admitted {
        sent_ms: u64,
        answered_ms: u64,
    },
    /// Allowed by policy, failed upstream (a tool error from the demo server).
    Failed,
    Denied(String),
}

/// Calls `tool` with `args` through `agent` until `until`, or until the node stops answering.
async fn hammer(agent: String, tool: &'static str, args: Vec<Value>, until: Instant) -> Vec<Seen> {
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
            Seen::Denied(text.chars().take(160).collect())
        } else {
            Seen::Failed
        });
    }
    seen
}

/// Starts `CLIENTS_PER_NODE` hammers per agent address; returns their join handles.
fn hammer_all(
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

fn gather(runtime: &tokio::runtime::Runtime, handles: Vec<tokio::task::JoinHandle<Vec<Seen>>>) -> Vec<Seen> {
    handles
        .into_iter()
        .flat_map(|handle| runtime.block_on(handle).unwrap())
        .collect()
}

/// Echo calls admitted and answered `ok`, per window start, from every node's audit log.
fn audited_echoes(specs: &[NodeSpec]) -> BTreeMap<u64, u64> {
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
fn full_windows(from_ms: u64, to_ms: u64) -> Vec<u64> {
    let first = from_ms.div_ceil(WINDOW_MS) * WINDOW_MS;
    (0..)
        .map(|i| first + i * WINDOW_MS)
        .take_while(|start| start + WINDOW_MS <= to_ms)
        .collect()
}

/// Client-side lower bound per window: calls sent and answered inside the same window.
fn surely_in_window(seen: &[Seen]) -> BTreeMap<u64, u64> {
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

fn denial_reasons(seen: &[Seen]) -> BTreeMap<&str, usize> {
    let mut reasons = BTreeMap::new();
    for call in seen {
        if let Seen::Denied(text) = call {
            *reasons.entry(text.as_str()).or_insert(0) += 1;
        }
    }
    reasons
}

/// Sleeps until `offset_ms` into the next window.
fn sleep_into_next_window(offset_ms: u64) {
    let now = now_ms();
    let next = now - now % WINDOW_MS + WINDOW_MS;
    std::thread::sleep(Duration::from_millis(next + offset_ms - now));
}

fn signal(node: &Running, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Stops a node with SIGTERM so its audit writer flushes, and waits for it.
fn stop(node: Running) {
    let mut node = node;
    signal(&node, "TERM");
    let deadline = Instant::now() + PATIENCE;
    while node.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "a node did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn entries_proposed(log: &Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == "quota entries proposed")
        .filter_map(|event| event["total"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_cluster_wide_limit_holds_across_three_nodes_while_the_leader_dies_and_a_spend_cap_holds_too() {
    let scratch = Scratch::new("quota");
    let specs = three_nodes(&scratch.0, TOKEN);
    for spec in &specs {
        spec.write_policy(&policy());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    eprintln!("phase 1: three nodes start and agree on a leader");
    let mut nodes: Vec<Option<Running>> = specs.iter().map(|spec| Some(spec.start())).collect();
    let leader = agreed_leader(&specs.iter().collect::<Vec<_>>());
    let agents: Vec<String> = nodes
        .iter()
        .map(|node| node.as_ref().unwrap().agent.clone())
        .collect();

    eprintln!(
        "phase 2: {} clients hammer echo on all three nodes for 5 windows",
        3 * CLIENTS_PER_NODE
    );
    sleep_into_next_window(0);
    let echo = [json!({"text": "hi"})];
    let started = now_ms();
    let steady = gather(
        &runtime,
        hammer_all(
            &runtime,
            &agents,
            "echo",
            &echo,
            Instant::now() + Duration::from_millis(5 * WINDOW_MS),
        ),
    );
    let steady_end = now_ms();
    eprintln!("phase 2: denials: {:?}", denial_reasons(&steady));

    eprintln!("phase 3: a spend cap of {CAP} with charges of {AMOUNT}, every other one failing upstream");
    // A lowercase currency makes the demo server fail the call after the policy allowed it.
    let charges = [
        json!({"amount": AMOUNT, "currency": "USD"}),
        json!({"amount": AMOUNT, "currency": "usd"}),
    ];
    let spent = gather(
        &runtime,
        hammer_all(
            &runtime,
            &agents,
            "charge",
            &charges,
            Instant::now() + Duration::from_secs(4),
        ),
    );
    let charged = spent
        .iter()
        .filter(|s| matches!(s, Seen::Admitted { .. }))
        .count() as f64
        * AMOUNT;
    let failed = spent.iter().filter(|s| matches!(s, Seen::Failed)).count();
    eprintln!(
        "phase 3: charged {charged} of {CAP} cluster-wide; {failed} failed charges; denials: {:?}",
        denial_reasons(&spent)
    );
    assert!(charged <= CAP, "the cluster charged {charged} > {CAP}");
    assert!(
        charged >= 0.95 * CAP,
        "the cluster charged only {charged} of {CAP}"
    );
    assert!(
        failed > 10,
        "too few failed upstream calls to show they give quota back: {failed}"
    );

    eprintln!("phase 4: hammering again; the leader, node {leader}, is killed -9 mid-window");
    sleep_into_next_window(0);
    let kill_started = now_ms();
    let until = Instant::now() + Duration::from_millis(7 * WINDOW_MS);
    let handles = hammer_all(&runtime, &agents, "echo", &echo, until);
    sleep_into_next_window(WINDOW_MS / 2);
    let index = specs.iter().position(|spec| spec.id == leader).unwrap();
    let mut killed = nodes[index].take().unwrap();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let killed_at = now_ms();
    let survivors: Vec<&NodeSpec> = specs.iter().filter(|spec| spec.id != leader).collect();
    let deadline = Instant::now() + PATIENCE;
    let new_leader = loop {
        let agreed = agreed_leader(&survivors);
        if agreed != leader {
            break agreed;
        }
        assert!(
            Instant::now() < deadline,
            "the survivors never elected a new leader"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let recovered_at = now_ms();
    eprintln!(
        "phase 4: node {new_leader} leads {} ms after the kill",
        recovered_at - killed_at
    );
    let failover = gather(&runtime, handles);
    let failover_end = now_ms();
    eprintln!("phase 4: denials: {:?}", denial_reasons(&failover));

    eprintln!("phase 5: one survivor is frozen (SIGSTOP), so the other can't reach a quorum");
    let alive: Vec<usize> = (0..3).filter(|&i| i != index).collect();
    let (frozen, alone) = (alive[0], alive[1]);
    signal(nodes[frozen].as_ref().unwrap(), "STOP");
    let cut_off = gather(
        &runtime,
        hammer_all(
            &runtime,
            &agents[alone..=alone],
            "echo",
            &echo,
            Instant::now() + Duration::from_millis(3 * WINDOW_MS),
        ),
    );
    signal(nodes[frozen].as_ref().unwrap(), "CONT");
    let reasons = denial_reasons(&cut_off);
    eprintln!("phase 5: node {} alone: denials {reasons:?}", specs[alone].id);
    assert!(
        reasons
            .keys()
            .any(|reason| reason.contains("quota unavailable") && reason.contains("cannot reach a quorum")),
        "a node cut off from the quorum must say so: {reasons:?}"
    );

    eprintln!("phase 6: the survivors stop; their audit logs are counted");
    let entries: Vec<u64> = specs.iter().map(|spec| entries_proposed(&spec.log())).collect();
    for node in nodes.into_iter().flatten() {
        stop(node);
    }
    drop(killed);
    let audited = audited_echoes(&specs);
    let all: Vec<Seen> = steady.into_iter().chain(failover).chain(cut_off).collect();
    let seen = surely_in_window(&all);
    eprintln!("phase 6: audited per window: {audited:?}; clients saw at least: {seen:?}");
    for (window, admitted) in &audited {
        assert!(
            *admitted <= LIMIT,
            "window {window} admitted {admitted} > {LIMIT} (audit)"
        );
    }
    for (window, admitted) in &seen {
        assert!(
            *admitted <= LIMIT,
            "window {window} admitted {admitted} > {LIMIT} (clients)"
        );
    }
    let count = |window: &u64| audited.get(window).copied().unwrap_or(0);
    let steady_windows = full_windows(started, steady_end);
    let steady_counts: Vec<u64> = steady_windows.iter().map(count).collect();
    eprintln!("phase 6: admitted per window, all nodes hammered: {steady_counts:?} (limit {LIMIT})");
    assert!(steady_windows.len() >= 4, "{steady_windows:?}");
    for (window, admitted) in steady_windows.iter().zip(&steady_counts) {
        assert!(
            *admitted as f64 >= 0.95 * LIMIT as f64,
            "window {window} admitted only {admitted} of {LIMIT} while demand exceeded it"
        );
    }
    let failover_windows = full_windows(kill_started, failover_end);
    let failover_counts: Vec<(u64, u64)> = failover_windows
        .iter()
        .map(|window| (window - kill_started, count(window)))
        .collect();
    eprintln!(
        "phase 6: admitted per window around the kill at +{} ms, new leader at +{} ms: {failover_counts:?}",
        killed_at - kill_started,
        recovered_at - kill_started
    );
    // Once a new leader leads and the next window starts, the survivors admit nearly all of it again:
    // two nodes on a loaded machine measured 92-100 % here, so the bar is 90 % per window and 95 %
    // for the best one (the all-node phase above holds 95 % in every window).
    let after = full_windows(recovered_at, failover_end);
    assert!(
        after.len() >= 2,
        "too few full windows after the failover: {after:?}"
    );
    for window in after.iter().skip(1) {
        assert!(
            count(window) as f64 >= 0.90 * LIMIT as f64,
            "window {window} admitted only {} of {LIMIT} after the failover",
            count(window)
        );
    }
    assert!(
        after
            .iter()
            .any(|window| count(window) as f64 >= 0.95 * LIMIT as f64),
        "no window after the failover admitted 95 % of {LIMIT}"
    );
    eprintln!(
        "phase 6: quota entries proposed per node over the run: {entries:?} ({:.1} per second cluster-wide)",
        entries.iter().sum::<u64>() as f64 / ((failover_end - started) as f64 / 1_000.0)
    );
}

//! Per-session counters follow their session across nodes: `echo` is limited to 3 calls per session;
//! an agent makes 2 on one node, and through another node with the same `Mcp-Session-Id` only 1 more
//! is admitted, whether its first node is alive (a load balancer without stickiness) or was killed
//! with `kill -9` (failover). The calls go through a relay standing in for the balancer.
//!
//! The second node is the Raft leader: it applies a report before the report's proposer hears it
//! committed, so once the first node logs the commit, the second counts it (followers lag a little
//! more; the docs state the bound).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::net::SocketAddr;

use portcullis_bench::{Era, McpSession, Target};
use portcullis_peers::Relay;
use serde_json::{Value, json};
use support::cluster::{
    NodeSpec, PATIENCE, Running, Scratch, TOKEN, agreed_leader, free_addr, log_events, run_blocking,
    wait_for_event,
};

/// `echo` at most 3 times per session (a tool's `rate_limit` counts per session by default), in a
/// day-long window so the test never straddles two.
const POLICY: &str =
    r#"{"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": {"max": 3, "window": 86400}}}}"#;

/// Calls echo once: `Ok` when admitted, `Err(text)` when refused.
fn echo(session: &mut McpSession) -> Result<(), String> {
    let reply: Value =
        run_blocking(session.request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}})))
            .unwrap();
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if reply["result"]["isError"] == true {
        Err(text)
    } else {
        assert_eq!(text, "hi", "{reply}");
        Ok(())
    }
}

/// Opens a session on `agent` through a fresh balancer.
fn open_through_balancer(agent: SocketAddr) -> (Relay, McpSession) {
    let balancer = Relay::start("127.0.0.1:0".parse().unwrap(), agent).unwrap();
    let target = Target {
        url: format!("http://{}/mcp/demo", balancer.addr()),
        token: Some(TOKEN.into()),
        era: Era::Session,
    };
    let session = run_blocking(McpSession::open(&target)).unwrap();
    (balancer, session)
}

/// Two calls on `first`, then the rest through `second` (the leader); `kill_first` kills `first`
/// once its report committed. Returns how `second` answered the 3rd and 4th calls.
fn two_then_move(
    specs: &[NodeSpec],
    nodes: &mut [Option<Running>],
    first: usize,
    second: usize,
    kill_first: bool,
) -> (Result<(), String>, Result<(), String>) {
    let agent = |node: &Option<Running>| -> SocketAddr { node.as_ref().unwrap().agent.parse().unwrap() };
    let (balancer, mut session) = open_through_balancer(agent(&nodes[first]));
    assert_eq!(echo(&mut session), Ok(()));
    assert_eq!(echo(&mut session), Ok(()));
    // Each node serves one session as its first: its only report of 2 calls is this one.
    wait_for_event(&specs[first], PATIENCE, |e| {
        e["message"] == "session counts committed" && e["total"].as_f64() == Some(2.0)
    });
    if kill_first {
        nodes[first].take().unwrap().kill();
    }
    balancer.redirect(agent(&nodes[second]));
    let third = echo(&mut session);
    let fourth = echo(&mut session);
    (third, fourth)
}

#[test]
fn a_per_session_limit_counts_the_calls_other_nodes_admitted_also_after_a_kill() {
    let scratch = Scratch::new("session-counts");
    let seed = free_addr();
    let specs: Vec<NodeSpec> = (1..=3)
        .map(|id| {
            let raft = if id == 1 { seed.clone() } else { free_addr() };
            let mut spec = NodeSpec::new(&scratch.0, id, raft, (id != 1).then_some(seed.as_str()), POLICY);
            spec.log = "info,portcullis::replicated::session_counts=debug".to_owned();
            spec
        })
        .collect();
    let mut nodes: Vec<Option<Running>> = specs.iter().map(|spec| Some(spec.start())).collect();
    let leader = agreed_leader(&specs.iter().collect::<Vec<_>>());
    let leader = usize::try_from(leader - 1).unwrap();
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();

    eprintln!(
        "phase 1: 2 calls on node {}, then through the leader with the same session",
        others[0] + 1
    );
    let (third, fourth) = two_then_move(&specs, &mut nodes, others[0], leader, false);
    assert_eq!(third, Ok(()), "the 3rd call of the session is admitted");
    let refused = fourth.expect_err("the 4th call of the session must be refused");
    assert!(refused.contains("Rate limit of 3"), "{refused}");
    assert!(refused.starts_with("[POLICY DENIED]"), "{refused}");

    eprintln!(
        "phase 2: 2 calls on node {}, kill -9 it, then through the leader",
        others[1] + 1
    );
    let (third, fourth) = two_then_move(&specs, &mut nodes, others[1], leader, true);
    assert_eq!(third, Ok(()), "the 3rd call of the session is admitted");
    let refused = fourth.expect_err("the 4th call of the session must be refused after the kill");
    assert!(refused.contains("Rate limit of 3"), "{refused}");
    assert!(
        log_events(&specs[leader].log())
            .iter()
            .any(|event| event["message"] == "session continued from another node"),
        "the leader did not continue the sessions"
    );
    drop(nodes);
}

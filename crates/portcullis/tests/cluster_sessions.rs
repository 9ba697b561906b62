//! Session continuity: an agent's session created on node A continues on node B, with the same
//! `Mcp-Session-Id`, after A is killed with `kill -9`. The agent talks to a relay standing in for a
//! load balancer, which moves to B when A dies; B rebuilds the session from the cluster's record and
//! re-initializes the upstream with the client's original `initialize` params.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use portcullis_peers::Relay;
use serde_json::{Value, json};
use support::cluster::{
    NodeSpec, PATIENCE, Running, Scratch, TOKEN, free_addr, log_events, run_blocking, session_status,
    wait_for_event,
};

/// Allows echo; every other tool is denied by default.
const POLICY: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#;

/// Sends one request; a transport error (the balancer's connection to a dead node) is retried
/// until `PATIENCE`.
fn request(session: &mut McpSession, method: &str, params: Value) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match run_blocking(session.request(method, params.clone())) {
            Ok(reply) => return reply,
            Err(error) => {
                assert!(Instant::now() < deadline, "{method} kept failing: {error}");
                eprintln!("  {method} failed ({error}); retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn tool_names(reply: &Value) -> Vec<String> {
    reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

fn call(session: &mut McpSession, tool: &str) -> Value {
    request(
        session,
        "tools/call",
        json!({"name": tool, "arguments": {"text": "still here"}}),
    )
}

#[test]
fn a_session_created_on_a_killed_node_continues_on_another_with_the_same_id() {
    let scratch = Scratch::new("sessions");
    let seed = free_addr();
    let specs: Vec<NodeSpec> = (1..=3)
        .map(|id| {
            let raft = if id == 1 { seed.clone() } else { free_addr() };
            NodeSpec::new(&scratch.0, id, raft, (id != 1).then_some(seed.as_str()), POLICY)
        })
        .collect();
    let mut nodes: Vec<Option<Running>> = specs.iter().map(|spec| Some(spec.start())).collect();
    let agent = |index: usize| -> SocketAddr { nodes[index].as_ref().unwrap().agent.parse().unwrap() };
    // Node 2 is A; node 3 is B.
    let balancer = Relay::start("127.0.0.1:0".parse().unwrap(), agent(1)).unwrap();
    let b = agent(2);

    eprintln!("phase 1: the agent opens a session on node 2 through the balancer");
    let target = Target {
        url: format!("http://{}/mcp/demo", balancer.addr()),
        token: Some(TOKEN.into()),
        era: Era::Session,
    };
    let mut session = run_blocking(McpSession::open(&target)).unwrap();
    assert_eq!(
        tool_names(&request(&mut session, "tools/list", json!({}))),
        ["echo"]
    );
    let reply = call(&mut session, "echo");
    assert_eq!(reply["result"]["content"][0]["text"], "still here", "{reply}");
    wait_for_event(&specs[1], PATIENCE, |event| {
        event["message"] == "session record committed" && event["op"] == "put_session"
    });

    eprintln!("phase 2: kill -9 node 2; the balancer now sends the agent to node 3");
    nodes[1].take().unwrap().kill();
    balancer.redirect(b);
    let continued = Instant::now();
    let listed = request(&mut session, "tools/list", json!({}));
    eprintln!(
        "phase 2: the session answered on node 3 after {:?}",
        continued.elapsed()
    );
    assert_eq!(tool_names(&listed), ["echo"], "{listed}");
    let reply = call(&mut session, "echo");
    assert_eq!(reply["result"]["content"][0]["text"], "still here", "{reply}");
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    // The policy still holds on the continued session.
    let denied = call(&mut session, "clear_traffic");
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert!(
        log_events(&specs[2].log())
            .iter()
            .any(|event| event["message"] == "session continued from another node"),
        "node 3 did not rebuild the session"
    );

    eprintln!("phase 3: an unknown session id is still a 404 (initialize again)");
    let status = session_status(&b.to_string(), TOKEN, "0123456789abcdef0123456789abcdef");
    assert_eq!(status, 404);

    drop(session);
    drop(nodes);
}

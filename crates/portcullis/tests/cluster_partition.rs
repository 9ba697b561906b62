//! A follower cut off from the other two (both directions, through fault-injecting relays that carry
//! all Raft traffic) keeps enforcing the last state it applied, refuses writes with a clear error, and
//! converges to what the majority committed once the partition heals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::time::{Duration, Instant};

use support::cluster::{
    NodeSpec, PATIENCE, Running, Scratch, agreed_leader, deny_echo, echo, readyz, session, until_denied,
};
use support::relayed::{heal, isolate, three_relayed_nodes};

const OPEN: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#;

#[test]
fn an_isolated_follower_keeps_enforcing_refuses_writes_and_converges_after_healing() {
    let scratch = Scratch::new("partition");
    // Each node listens for Raft on its own address; peers reach it only through its relay.
    let (relays, specs) = three_relayed_nodes(&scratch.0, OPEN);

    eprintln!("phase 1: three nodes, all raft traffic through relays");
    let nodes: Vec<Running> = specs.iter().map(NodeSpec::start).collect();
    let mut sessions: Vec<_> = nodes.iter().map(session).collect();
    for session in &mut sessions {
        assert_eq!(echo(session), None);
    }
    let leader = agreed_leader(&specs.iter().collect::<Vec<_>>());
    let cut = specs.iter().position(|spec| spec.id != leader).unwrap();
    let majority: Vec<usize> = (0..3).filter(|&i| i != cut).collect();
    let cut_id = specs[cut].id;

    eprintln!("phase 2: isolate follower node {cut_id} (leader is node {leader})");
    isolate(&relays, &specs, cut);

    eprintln!("phase 3: a write through node {cut_id} and one through the leader");
    specs[cut].write_policy(&deny_echo("written on the cut-off node"));
    nodes[cut].signal("HUP");
    let leader_index = specs.iter().position(|spec| spec.id == leader).unwrap();
    specs[leader_index].write_policy(&deny_echo("the majority's version"));
    let sent = Instant::now();
    nodes[leader_index].signal("HUP");
    {
        let (first, second) = sessions.split_at_mut(majority[1]);
        let mut both = [
            (specs[majority[0]].id, &mut first[majority[0]]),
            (specs[majority[1]].id, &mut second[0]),
        ];
        until_denied(&mut both, "the majority's version", sent);
    }
    eprintln!(
        "phase 3: the majority committed its version after {:?}",
        sent.elapsed()
    );
    // The cut-off node still enforces the last state it applied.
    assert_eq!(echo(&mut sessions[cut]), None, "node {cut_id}");

    eprintln!("phase 4: node {cut_id}'s write fails with a clear error");
    // The reload retries for up to 30 s while no leader is reachable, then gives up.
    let failed = support::cluster::wait_for_event(&specs[cut], PATIENCE * 2, |event| {
        event["message"] == "reload failed; the cluster keeps its current state"
    });
    let error = failed["error"].as_str().unwrap_or_default().to_owned();
    eprintln!("phase 4: node {cut_id} said: {error}");
    assert!(
        ["could not reach the leader", "no leader is known", "no quorum"]
            .iter()
            .any(|clear| error.contains(clear)),
        "{error}"
    );
    assert_eq!(
        echo(&mut sessions[cut]),
        None,
        "node {cut_id} still enforces its last state"
    );
    let (status, body) = readyz(&nodes[cut]);
    assert_eq!(status, 503, "a cut-off node says it is not ready: {body}");

    eprintln!("phase 5: heal; node {cut_id} converges to the majority's version");
    heal(&relays);
    let healed = Instant::now();
    until_denied(
        &mut [(cut_id, &mut sessions[cut])],
        "the majority's version",
        healed,
    );
    // The cut-off node's own write never took effect anywhere.
    for (spec, session) in specs.iter().zip(&mut sessions) {
        assert_eq!(
            echo(session).as_deref(),
            Some("[POLICY DENIED] the majority's version"),
            "node {}",
            spec.id
        );
    }
    let deadline = Instant::now() + PATIENCE;
    while nodes.iter().any(|node| readyz(node).0 != 200) {
        assert!(Instant::now() < deadline, "not every node is ready after healing");
        std::thread::sleep(Duration::from_millis(100));
    }

    drop(sessions);
    drop(nodes);
}

//! Policy change to visible on all three nodes' data planes, over many changes, with real processes:
//! three `portcullis serve --data-dir` nodes on 127.0.0.1; each round edits node 2's policy file,
//! sends SIGHUP, and polls every node's data plane (one thread per node, a `tools/call` then a 1 ms
//! pause) until all three deny with the new reason. Prints min / p50 / p99 / max of the slowest node
//! per change. A sample includes up to one poll call per node of detection delay.
//!
//!     cargo bench -p portcullis --bench policy_propagation [-- ROUNDS]   (default 120)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::print_stdout,
    reason = "a benchmark program fails by panicking and prints its figures"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use portcullis_bench::McpSession;

use support::cluster::{NodeSpec, PATIENCE, Running, Scratch, deny_echo, echo, free_addr, session};

const OPEN: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#;

/// Polls every session on its own thread until it denies echo with `reason`; the slowest's time.
fn until_all_deny(sessions: &mut [McpSession], reason: &str, since: Instant) -> Duration {
    let wanted = format!("[POLICY DENIED] {reason}");
    let wanted = &wanted;
    std::thread::scope(|scope| {
        let pollers: Vec<_> = sessions
            .iter_mut()
            .map(|session| {
                scope.spawn(move || {
                    while echo(session).as_deref() != Some(wanted.as_str()) {
                        assert!(since.elapsed() < PATIENCE, "{reason:?} never arrived");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    since.elapsed()
                })
            })
            .collect();
        pollers
            .into_iter()
            .map(|poller| poller.join().unwrap())
            .max()
            .unwrap()
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map_or(120, |arg| arg.parse().expect("ROUNDS must be a number"));
    let scratch = Scratch::new("propagation-bench");
    let seed = free_addr();
    let specs: Vec<NodeSpec> = (1..=3)
        .map(|id| {
            let raft = if id == 1 { seed.clone() } else { free_addr() };
            NodeSpec::new(&scratch.0, id, raft, (id != 1).then_some(seed.as_str()), OPEN)
        })
        .collect();
    let nodes: Vec<Running> = specs.iter().map(NodeSpec::start).collect();
    let mut sessions: Vec<_> = nodes.iter().map(session).collect();
    for session in &mut sessions {
        assert_eq!(echo(session), None);
    }
    let mut slowest: Vec<Duration> = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let reason = format!("change {round}");
        specs[1].write_policy(&deny_echo(&reason));
        let sent = Instant::now();
        nodes[1].signal("HUP");
        slowest.push(until_all_deny(&mut sessions, &reason, sent));
    }
    slowest.sort();
    // Nearest rank: the value at or below which `percent` % of the samples lie.
    let at = |percent: usize| slowest[(slowest.len() * percent).div_ceil(100).saturating_sub(1)];
    println!(
        "policy change to visible on all 3 data planes over {rounds} changes: \
         min {:.1?}, p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        slowest[0],
        at(50),
        at(99),
        slowest[slowest.len() - 1]
    );
    drop(sessions);
    drop(nodes);
}

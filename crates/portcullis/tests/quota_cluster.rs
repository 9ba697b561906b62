//! Cluster-wide limits across three `portcullis serve --data-dir` processes on 127.0.0.1: clients
//! hammer every node at once, and the nodes' audit logs show that no window admitted more than the
//! limit and that nearly all of it was admitted; the same while the leader is killed with SIGKILL
//! mid-window; and a spend cap (`increment_from`) holds across the cluster while failed upstream calls
//! give back what they reserved. A node cut off by a real network partition is `quota_partition.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::cluster::{NodeSpec, PATIENCE, Running, Scratch, TOKEN, agreed_leader, three_nodes};
use support::quota::{
    CLIENTS_PER_NODE, LIMIT, Seen, WINDOW_MS, assert_never_over, audited_echoes, denial_reasons,
    entries_proposed, full_windows, gather, hammer_all, limited_echo, now_ms, runtime,
    sleep_into_next_window, stop,
};

/// The spend cap and the amount of each charge.
const CAP: f64 = 1_000.0;
const AMOUNT: f64 = 7.0;

fn policy() -> String {
    limited_echo(json!({
        "charge": {"limits": [{"counter": "spend", "max": CAP, "window": "hour", "increment_from": "args.amount"}]}
    }))
}

#[test]
fn a_cluster_wide_limit_holds_across_three_nodes_while_the_leader_dies_and_a_spend_cap_holds_too() {
    let scratch = Scratch::new("quota");
    let specs = three_nodes(&scratch.0, TOKEN);
    for spec in &specs {
        spec.write_policy(&policy());
    }
    let runtime = runtime();

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

    eprintln!("phase 5: the survivors stop; their audit logs are counted");
    let entries: Vec<u64> = specs.iter().map(|spec| entries_proposed(&spec.log())).collect();
    for node in nodes.into_iter().flatten() {
        stop(node);
    }
    drop(killed);
    let audited = audited_echoes(&specs.iter().collect::<Vec<_>>());
    let all: Vec<Seen> = steady.into_iter().chain(failover).collect();
    eprintln!("phase 5: audited per window: {audited:?}");
    assert_never_over(&audited, &all);
    let count = |window: &u64| audited.get(window).copied().unwrap_or(0);
    let steady_windows = full_windows(started, steady_end);
    let steady_counts: Vec<u64> = steady_windows.iter().map(count).collect();
    eprintln!("phase 5: admitted per window, all nodes hammered: {steady_counts:?} (limit {LIMIT})");
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
        "phase 5: admitted per window around the kill at +{} ms, new leader at +{} ms: {failover_counts:?}",
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
        "phase 5: quota entries proposed per node over the run: {entries:?} ({:.1} per second cluster-wide)",
        entries.iter().sum::<u64>() as f64 / ((failover_end - started) as f64 / 1_000.0)
    );
}

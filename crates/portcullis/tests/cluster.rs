//! Three `portcullis serve --data-dir` processes on 127.0.0.1 form a cluster in front of the demo
//! server: a policy edited on one node is enforced by every node's data plane, the cluster survives
//! `kill -9` of its leader, and the killed node restarts from its data and catches up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_bench::McpSession;

use support::EXE;
use support::cluster::{
    NodeSpec, PATIENCE, Running, SECRET, Scratch, agreed_leader, deny_echo, echo, free_addr, session,
    until_denied, write_config,
};

const V1: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#;
const V2: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {"action": "deny", "reason": "echo is off (v2)"}}}"#;
const V3: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {"action": "deny", "reason": "echo is off (v3)"}}}"#;
/// Policy changes timed in phase 3.
const PROPAGATION_ROUNDS: usize = 5;

#[test]
fn three_nodes_share_policy_survive_losing_the_leader_and_a_restarted_node_catches_up() {
    let scratch = Scratch::new("cluster");
    let base = &scratch.0;
    let seed = free_addr();
    let specs: Vec<NodeSpec> = (1..=3)
        .map(|id| {
            let raft = if id == 1 { seed.clone() } else { free_addr() };
            NodeSpec::new(base, id, raft, (id != 1).then_some(seed.as_str()), V1)
        })
        .collect();

    eprintln!("phase 1: node 1 founds the cluster and seeds it; nodes 2 and 3 join");
    let started = Instant::now();
    let mut nodes: Vec<Option<Running>> = specs.iter().map(|spec| Some(spec.start())).collect();
    eprintln!("phase 1: three nodes ready after {:?}", started.elapsed());

    eprintln!("phase 2: the seeded policy allows echo through every node");
    let mut sessions: Vec<Option<McpSession>> = nodes
        .iter()
        .map(|node| Some(session(node.as_ref().unwrap())))
        .collect();
    for (spec, session) in specs.iter().zip(&mut sessions) {
        assert_eq!(echo(session.as_mut().unwrap()), None, "node {}", spec.id);
    }

    eprintln!("phase 3: node 2's policy file changes; SIGHUP proposes it; every data plane denies echo");
    let mut all: Vec<(u64, &mut McpSession)> = specs
        .iter()
        .zip(sessions.iter_mut())
        .map(|(spec, session)| (spec.id, session.as_mut().unwrap()))
        .collect();
    // A few changes in a row, the last one V2, so the printed figure is more than one sample.
    let mut slowest = Vec::new();
    for round in 1..=PROPAGATION_ROUNDS {
        let (text, reason) = if round == PROPAGATION_ROUNDS {
            (V2.to_owned(), "echo is off (v2)".to_owned())
        } else {
            let reason = format!("echo is off (v2 draft {round})");
            (deny_echo(&reason), reason)
        };
        specs[1].write_policy(&text);
        let sent = Instant::now();
        nodes[1].as_ref().unwrap().signal("HUP");
        let took = until_denied(&mut all, &reason, sent);
        slowest.push(took.into_iter().max().unwrap());
    }
    drop(all);
    slowest.sort();
    eprintln!(
        "phase 3: propagation (SIGHUP on node 2 to denied on all three data planes) over {} changes: \
         min {:?}, median {:?}, max {:?}",
        slowest.len(),
        slowest[0],
        slowest[slowest.len() / 2],
        slowest[slowest.len() - 1]
    );

    let leader = agreed_leader(&specs.iter().collect::<Vec<_>>());
    eprintln!("phase 4: kill -9 the leader, node {leader}");
    let index = specs.iter().position(|spec| spec.id == leader).unwrap();
    sessions[index] = None;
    nodes[index].take().unwrap().kill();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != index).collect();
    for &i in &survivors {
        let denial = echo(sessions[i].as_mut().unwrap());
        assert_eq!(
            denial.as_deref(),
            Some("[POLICY DENIED] echo is off (v2)"),
            "node {}",
            specs[i].id
        );
    }
    let editor = &specs[survivors[0]];
    editor.write_policy(V3);
    let sent = Instant::now();
    nodes[survivors[0]].as_ref().unwrap().signal("HUP");
    let mut alive: Vec<(u64, &mut McpSession)> = specs
        .iter()
        .zip(sessions.iter_mut())
        .filter_map(|(spec, session)| Some((spec.id, session.as_mut()?)))
        .collect();
    until_denied(&mut alive, "echo is off (v3)", sent);
    eprintln!(
        "phase 4: the two survivors took a new version through node {} after {:?}",
        editor.id,
        sent.elapsed()
    );

    eprintln!("phase 5: node {leader} restarts from its data directory and catches up");
    let restarted = Instant::now();
    let node = specs[index].start();
    let mut back = session(&node);
    until_denied(&mut [(leader, &mut back)], "echo is off (v3)", restarted);
    nodes[index] = Some(node);
    // Its own (stale) policy file seeded nothing over the cluster's newer version.
    assert_eq!(
        echo(&mut back).as_deref(),
        Some("[POLICY DENIED] echo is off (v3)")
    );

    // Nodes stop before their directories go.
    drop(back);
    drop(sessions);
    drop(nodes);
}

#[test]
fn a_single_node_data_dir_keeps_policy_versions_across_restarts_and_the_store_wins_over_a_stale_file() {
    let scratch = Scratch::new("single");
    write_config(&scratch.0);
    let spec = NodeSpec {
        id: 1,
        dir: scratch.0.clone(),
        raft: None,
        advertise: None,
        membership: Vec::new(),
        secret: SECRET.to_owned(),
        log: "info".to_owned(),
    };
    spec.write_policy(V1);
    eprintln!("phase 1: a one-voter node seeds its store from the file");
    let node = spec.start();
    let mut one = session(&node);
    assert_eq!(echo(&mut one), None);

    eprintln!("phase 2: SIGHUP proposes the edited policy as a new version");
    spec.write_policy(V2);
    node.signal("HUP");
    until_denied(&mut [(1, &mut one)], "echo is off (v2)", Instant::now());

    eprintln!("phase 3: after SIGTERM and a restart with the old file, the store's version still rules");
    node.signal("TERM");
    let mut node = node;
    let deadline = Instant::now() + PATIENCE;
    while node.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(one);
    drop(node);
    spec.write_policy(V1);
    let node = spec.start();
    let mut one = session(&node);
    assert_eq!(
        echo(&mut one).as_deref(),
        Some("[POLICY DENIED] echo is off (v2)")
    );

    eprintln!("phase 4: a SIGHUP makes the file's text the newest version again");
    node.signal("HUP");
    let deadline = Instant::now() + PATIENCE;
    while echo(&mut one).is_some() {
        assert!(Instant::now() < deadline, "the reload never took effect");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(one);
    drop(node);
}

#[test]
fn clustered_flags_need_a_strong_secret_and_a_way_into_a_cluster() {
    let scratch = Scratch::new("flags");
    write_config(&scratch.0);
    std::fs::write(scratch.0.join("policy.json"), V1).unwrap();
    let config = scratch.0.join("portcullis.toml");
    let data = scratch.0.join("data");
    let run = |extra: &[&str], secret: Option<&str>| {
        let mut command = Command::new(EXE);
        command
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--data-dir", data.to_str().unwrap(), "--node-id", "1"])
            .args(extra)
            .args(["--log", "error"]);
        match secret {
            Some(secret) => command.env("PORTCULLIS_CLUSTER_SECRET", secret),
            None => command.env_remove("PORTCULLIS_CLUSTER_SECRET"),
        };
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let raft = free_addr();
    let (code, stderr) = run(&["--raft-addr", &raft, "--join", &raft], None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("need the cluster secret"), "{stderr}");
    let (code, stderr) = run(&["--raft-addr", &raft, "--init"], Some("short"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("too weak"), "{stderr}");
    let (code, stderr) = run(&["--raft-addr", &raft], Some(SECRET));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("pass --init to found one"), "{stderr}");
    // clap's usage errors exit 2.
    let (code, stderr) = run(&["--init", "--join", &raft], Some(SECRET));
    assert_eq!(code, Some(2), "{stderr}");
}

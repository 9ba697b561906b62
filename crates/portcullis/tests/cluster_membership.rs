//! Membership at process level: a fourth node joins and serves, a node is removed with
//! `portcullis cluster remove` (after which the smaller cluster keeps its quorum without it), a peer
//! with the wrong cluster secret is refused, and `/readyz` follows whether the store has a leader.

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

use support::EXE;
use support::cluster::{
    NodeSpec, PATIENCE, Running, SECRET, Scratch, deny_echo, echo, free_addr, log_events, readyz, session,
    until_denied,
};

const OPEN: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#;

/// `portcullis cluster remove --node-id ID --via VIA` with `secret`: exit code, stdout, stderr.
fn remove(id: u64, via: &str, secret: &str) -> (Option<i32>, String, String) {
    let output = Command::new(EXE)
        .args(["cluster", "remove", &id.to_string(), "--via", via])
        .env("PORTCULLIS_CLUSTER_SECRET", secret)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn wait_readyz(node: &Running, status: u16) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (got, body) = readyz(node);
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {got} ({body:?}), wanted {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_fourth_node_joins_a_removed_node_no_longer_counts_and_a_stranger_is_refused() {
    let scratch = Scratch::new("membership");
    let seed = free_addr();
    let spec = |id: u64| {
        let raft = if id == 1 { seed.clone() } else { free_addr() };
        NodeSpec::new(&scratch.0, id, raft, (id != 1).then_some(seed.as_str()), OPEN)
    };
    let specs: Vec<NodeSpec> = (1..=4).map(spec).collect();

    eprintln!("phase 1: three nodes form a cluster and are ready");
    let mut nodes: Vec<Option<Running>> = specs[..3].iter().map(|spec| Some(spec.start())).collect();
    for node in nodes.iter().flatten() {
        assert_eq!(wait_readyz(node, 200), "ready\n");
    }

    eprintln!("phase 2: a node with the wrong cluster secret cannot join");
    let mut stranger = spec(5);
    stranger.secret = "not-the-cluster-secret-at-all".to_owned();
    let (code, stderr) = stranger.run_to_exit();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("could not join the cluster"), "{stderr}");
    assert!(stderr.contains("present the cluster secret"), "{stderr}");
    assert!(
        log_events(&specs[0].log())
            .iter()
            .any(|event| event["message"] == "refused a raft rpc without the cluster secret"),
        "the seed did not log the refusal"
    );
    let (code, _, stderr) = remove(2, &seed, "not-the-cluster-secret-at-all");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("could not reach a cluster member"), "{stderr}");

    eprintln!("phase 3: node 4 joins, serves, and takes part in a change");
    nodes.push(Some(specs[3].start()));
    let mut sessions: Vec<_> = nodes.iter().flatten().map(session).collect();
    assert_eq!(echo(&mut sessions[3]), None);
    specs[3].write_policy(&deny_echo("set on node 4"));
    let sent = Instant::now();
    nodes[3].as_ref().unwrap().signal("HUP");
    let mut all: Vec<(u64, &mut _)> = (1..=4).zip(sessions.iter_mut()).collect();
    until_denied(&mut all, "set on node 4", sent);
    drop(all);

    eprintln!("phase 4: cluster remove takes node 3 out");
    let (code, stdout, stderr) = remove(3, specs[1].advertised().unwrap(), SECRET);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("removed node 3"), "{stdout}");
    // Removing it again is harmless.
    let (code, _, stderr) = remove(3, &seed, SECRET);
    assert_eq!(code, Some(0), "{stderr}");

    eprintln!("phase 5: with nodes 3 and 4 dead, nodes 1 and 2 are a quorum of {{1, 2, 4}}");
    // Had node 3 still been a voter, two of four could not commit.
    for index in [2, 3] {
        nodes[index].take().unwrap().kill();
    }
    sessions.truncate(2);
    specs[0].write_policy(&deny_echo("after the removal"));
    let sent = Instant::now();
    nodes[0].as_ref().unwrap().signal("HUP");
    let mut two: Vec<(u64, &mut _)> = (1..=2).zip(sessions.iter_mut()).collect();
    until_denied(&mut two, "after the removal", sent);
    drop(two);
    drop(sessions);

    eprintln!("phase 6: a node restarted alone has no leader and is not ready until a peer returns");
    for index in [0, 1] {
        nodes[index].take().unwrap().kill();
    }
    let alone = specs[0].start();
    let body = wait_readyz(&alone, 503);
    assert!(body.starts_with("not ready:"), "{body}");
    let peer = specs[1].start();
    wait_readyz(&alone, 200);
    wait_readyz(&peer, 200);
    drop(peer);
    drop(alone);
}

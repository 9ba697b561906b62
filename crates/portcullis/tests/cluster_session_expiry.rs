//! Session records do not outlive their sessions. With a 2 s idle timeout on three nodes: the record
//! of a session whose client and node both vanished is expired by the leader (another node answers
//! 404 instead of continuing it); a session left alone on a live node is closed there and its record
//! released; a session kept in use stays recorded, so another node still continues it. A node cut
//! off for longer than the timeout records the sessions it kept serving again once it is back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "tests fail by panicking and log their phases"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use serde_json::{Value, json};
use support::admin_cluster::{AGENT_TOKEN, Cluster, ClusterNode, PATIENCE};
use support::cluster::{
    NodeSpec, Running, Scratch, TOKEN, agreed_leader, echo as cluster_echo, log_events, session,
    session_status, wait_for_event,
};
use support::relayed::{heal, isolate, three_relayed_nodes};

const IDLE: &str = "\n[limits]\nidle_session_timeout_secs = 2\n";

async fn open(node: &ClusterNode) -> (McpSession, String) {
    let target = Target {
        url: node.mcp_url(),
        token: Some(AGENT_TOKEN.to_owned()),
        era: Era::Session,
    };
    let session = McpSession::open(&target).await.unwrap();
    let id = session.session_id().unwrap().to_owned();
    (session, id)
}

async fn echo(session: &mut McpSession) {
    let reply = session
        .request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "here"}}),
        )
        .await
        .unwrap();
    assert_eq!(reply["result"]["content"][0]["text"], "here", "{reply}");
}

/// Whether `node`'s log holds an event `wanted` accepts.
fn logged(node: &ClusterNode, wanted: impl Fn(&Value) -> bool) -> bool {
    node.log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|event| wanted(&event))
}

fn committed(op: &'static str) -> impl Fn(&Value) -> bool {
    move |event| event["message"] == "session record committed" && event["op"] == op
}

/// The status of a request in session `id` on `node`, off the test's runtime.
async fn status(node: &ClusterNode, id: &str) -> u16 {
    let (agent, id) = (node.agent.clone(), id.to_owned());
    tokio::task::spawn_blocking(move || session_status(&agent, AGENT_TOKEN, &id))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_vanished_sessions_expire_and_sessions_in_use_stay() {
    let mut cluster = Cluster::start_with("session-expiry", 3, IDLE);

    eprintln!("phase 1: three sessions; node 2 (holding the first) dies with its client");
    let first_opened = Instant::now();
    let (vanished, vanished_id) = open(cluster.node(2)).await;
    let (mut in_use, in_use_id) = open(cluster.node(3)).await;
    let (left_alone, left_alone_id) = open(cluster.node(3)).await;
    echo(&mut in_use).await;
    let deadline = Instant::now() + PATIENCE;
    while !logged(cluster.node(2), committed("put_session")) {
        assert!(Instant::now() < deadline, "node 2 never recorded its session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.node_mut(2).kill();
    drop((vanished, left_alone));

    eprintln!("phase 2: the agent in use keeps calling while the others go idle");
    let started = Instant::now();
    let expired = |node: &ClusterNode| logged(node, |e| e["message"] == "idle session records expired");
    loop {
        echo(&mut in_use).await;
        let swept = expired(cluster.node(1)) || expired(cluster.node(3));
        let released = logged(cluster.node(3), committed("release_session"));
        if swept && released {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no expiry ({swept}) or release ({released}) within {PATIENCE:?}; node 3's log:\n{}",
            cluster.node(3).log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("phase 2: expired and released after {:?}", started.elapsed());
    assert!(
        first_opened.elapsed() >= Duration::from_secs(2),
        "a record went before the idle timeout"
    );

    eprintln!("phase 3: the other nodes no longer continue the idle sessions, but do the one in use");
    assert_eq!(status(cluster.node(3), &vanished_id).await, 404);
    assert_eq!(status(cluster.node(1), &vanished_id).await, 404);
    assert_eq!(status(cluster.node(1), &left_alone_id).await, 404);
    assert_eq!(status(cluster.node(1), &in_use_id).await, 200);
    echo(&mut in_use).await;
}

/// While a node is cut off from the quorum for longer than the idle timeout, the leader expires the
/// record of a session the node keeps serving (its touches can't arrive); once healed, the node
/// records the session again, so another node can continue it.
#[test]
fn a_session_in_use_whose_record_expired_during_a_partition_is_recorded_again() {
    let scratch = Scratch::new("session-rerecord");
    let (relays, specs) = three_relayed_nodes(&scratch.0, support::admin_cluster::POLICY);
    for spec in &specs {
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(spec.config())
            .unwrap();
        std::io::Write::write_all(&mut config, IDLE.as_bytes()).unwrap();
    }
    let nodes: Vec<Running> = specs.iter().map(NodeSpec::start).collect();
    let leader = agreed_leader(&specs.iter().collect::<Vec<_>>());
    let cut = specs.iter().position(|spec| spec.id != leader).unwrap();
    let other = (0..3).find(|&i| i != cut && specs[i].id != leader).unwrap();
    let leader_index = specs.iter().position(|spec| spec.id == leader).unwrap();

    eprintln!(
        "phase 1: a session on node {}, then the node is cut off",
        specs[cut].id
    );
    let mut kept = session(&nodes[cut]);
    let id = kept.session_id().unwrap().to_owned();
    assert_eq!(cluster_echo(&mut kept), None);
    wait_for_event(&specs[cut], PATIENCE, |event| {
        event["message"] == "session record committed" && event["op"] == "put_session"
    });
    isolate(&relays, &specs, cut);

    eprintln!("phase 2: the agent keeps calling; the leader expires the record meanwhile");
    let started = Instant::now();
    let expired = |event: &Value| event["message"] == "idle session records expired";
    while !log_events(&specs[leader_index].log()).iter().any(expired) {
        assert_eq!(cluster_echo(&mut kept), None, "the cut-off node stopped serving");
        assert!(
            started.elapsed() < PATIENCE,
            "the leader never expired the record"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(session_status(&nodes[other].agent, TOKEN, &id), 404);

    eprintln!("phase 3: healed, the node records the session it still serves again");
    heal(&relays);
    let again = |event: &Value| {
        event["message"] == "recording a session again that the cluster expired" && event["session"] == id
    };
    let healed = Instant::now();
    while !log_events(&specs[cut].log()).iter().any(again) {
        assert_eq!(cluster_echo(&mut kept), None);
        assert!(
            healed.elapsed() < PATIENCE,
            "the node never recorded its session again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The agent stays active: a record put that was not committed (leadership settling after the
    // heal) is put again on the next round in which the session was used.
    let deadline = Instant::now() + PATIENCE;
    while session_status(&nodes[other].agent, TOKEN, &id) != 200 {
        assert_eq!(cluster_echo(&mut kept), None);
        assert!(
            Instant::now() < deadline,
            "the other node never continued the session; node {}'s log:\n{}",
            specs[cut].id,
            std::fs::read_to_string(specs[cut].log()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(cluster_echo(&mut kept), None);
}

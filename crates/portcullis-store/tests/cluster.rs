//! Nodes in-process on 127.0.0.1, talking Raft over gRPC: form the cluster (learners first, then
//! voters), replicate a policy change to every node's watch, join a fourth node, lose the leader,
//! keep writing, remove the dead node, and refuse writes without a quorum; status, leadership transfer
//! and membership changes as operators make them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use portcullis_proto::raft::RaftMessage;
use portcullis_proto::raft::raft_client::RaftClient;
use portcullis_store::{
    AppRequest, AppResponse, Applied, ApplyError, ClusterSecret, NodeId, PolicyFormat, Store, StoreConfig,
    StoreError, Timestamp,
};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &str = "test-cluster-secret-0123456789";
/// Every wait in this test is bounded by this.
const PATIENCE: Duration = Duration::from_secs(10);

struct Node {
    id: NodeId,
    addr: String,
    store: Store,
    stop_server: oneshot::Sender<()>,
    server: JoinHandle<()>,
    dir: TempDir,
}

impl Node {
    /// Stops Raft and the Raft listener; returns the data directory and address for a restart.
    async fn stop(self) -> (TempDir, String) {
        self.store.shutdown().await.unwrap();
        self.stop_server.send(()).unwrap();
        self.server.await.unwrap();
        (self.dir, self.addr)
    }
}

async fn start(id: NodeId, listener: TcpListener) -> Node {
    start_with(id, listener, tempfile::tempdir().unwrap(), 5_000).await
}

/// Starts node `id` on `listener` with its data in `dir`, snapshotting every `snapshot_every` entries.
async fn start_with(id: NodeId, listener: TcpListener, dir: TempDir, snapshot_every: u64) -> Node {
    let addr = listener.local_addr().unwrap().to_string();
    let mut config = StoreConfig::new(id, dir.path());
    config.snapshot_every = snapshot_every;
    config.keep_after_snapshot = 0;
    config.raft_addr = addr.clone();
    // Generous for a loaded 2-core CI machine: a starved follower must not depose a live leader.
    config.heartbeat = Duration::from_millis(100);
    config.election_timeout = (Duration::from_millis(500), Duration::from_millis(1_000));
    config.propose_timeout = Duration::from_secs(3);
    let store = Store::open_cluster(config, ClusterSecret::new(SECRET).unwrap())
        .await
        .unwrap();
    let (stop_server, stopped) = oneshot::channel();
    let serving = store.clone();
    let server = tokio::spawn(async move {
        let shutdown = async {
            stopped.await.ok();
        };
        serving.serve_raft(listener, shutdown).await.unwrap();
    });
    Node {
        id,
        addr,
        store,
        stop_server,
        server,
        dir,
    }
}

/// A version of the `files` policy; `tag` makes its text differ from other versions'.
fn put_policy(tag: &str) -> AppRequest {
    put_policy_at(tag, None)
}

fn put_policy_at(tag: &str, expected_revision: Option<u64>) -> AppRequest {
    AppRequest::PutPolicy {
        name: "files".to_owned(),
        text: format!(r#"{{"version": "1", "default": "deny", "hide": ["{tag}"]}}"#),
        format: PolicyFormat::Json,
        author: "ops".to_owned(),
        at: Timestamp::from_millis(1_795_651_199_500),
        expected_revision,
        shadow: false,
    }
}

/// Writes `command` through `via` (forwarded to whoever leads), retrying while leadership settles.
/// A retried policy put is safe: the same text again adds no version, so the revision still says
/// where the write landed.
async fn write(via: &Node, command: AppRequest) -> Applied {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match via.store.propose(command.clone()).await {
            Ok(response) => return response.into_result().unwrap(),
            Err(
                StoreError::NotLeader { .. }
                | StoreError::NoQuorum { .. }
                | StoreError::LeaderChanged { .. }
                | StoreError::LeaderUnreachable { .. },
            ) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(error) => panic!("write through node {} failed: {error}", via.id),
        }
    }
}

fn revision_of(applied: &Applied) -> u64 {
    match applied {
        Applied::PolicyVersion { revision, .. } => *revision,
        other => panic!("expected a policy version, got {other:?}"),
    }
}

/// Waits until `node` applied a `files` policy at `revision`.
async fn sees_revision(node: &Node, revision: u64) {
    let mut watch = node.store.subscribe();
    let seen = tokio::time::timeout(
        PATIENCE,
        watch.wait_for(|snapshot| {
            snapshot
                .state
                .policies
                .get("files")
                .is_some_and(|history| history.current_revision() >= revision)
        }),
    )
    .await;
    assert!(
        matches!(seen, Ok(Ok(_))),
        "node {} never applied revision {revision}",
        node.id
    );
}

/// Waits until `node` sees exactly `voters` as the voting members (metrics trail the log a little).
async fn voters_become(node: &Node, voters: &[NodeId]) {
    let want: BTreeSet<NodeId> = voters.iter().copied().collect();
    let deadline = Instant::now() + PATIENCE;
    while node.store.voters() != want {
        assert!(
            Instant::now() < deadline,
            "node {} sees voters {:?}, not {want:?}",
            node.id,
            node.store.voters()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn leader_among(nodes: &[&Node]) -> NodeId {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ids: BTreeSet<NodeId> = nodes.iter().map(|node| node.id).collect();
        let views: Vec<Option<NodeId>> = nodes.iter().map(|node| node.store.leader()).collect();
        if let Some(Some(leader)) = views.first()
            && ids.contains(leader)
            && views.iter().all(|view| view == &Some(*leader))
        {
            return *leader;
        }
        assert!(
            Instant::now() < deadline,
            "no agreed leader among {ids:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_forms_replicates_admits_a_fourth_node_and_survives_losing_the_leader() {
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let mut nodes = Vec::new();
    for (id, listener) in (1..).zip(listeners) {
        nodes.push(start(id, listener).await);
    }

    // phase 1: node 1 founds the cluster, the others join as learners, then all become voters.
    let started = Instant::now();
    nodes[0]
        .store
        .initialize(BTreeMap::from([(1, nodes[0].addr.clone())]))
        .await
        .unwrap();
    assert_eq!(leader_among(&[&nodes[0]]).await, 1);
    for node in &nodes[1..] {
        nodes[0]
            .store
            .add_learner(node.id, node.addr.clone())
            .await
            .unwrap();
    }
    nodes[0]
        .store
        .change_membership(BTreeSet::from([1, 2, 3]))
        .await
        .unwrap();
    let all: Vec<&Node> = nodes.iter().collect();
    assert_eq!(leader_among(&all).await, 1);
    eprintln!("phase 1: three voters after {:?}", started.elapsed());

    // phase 2: a write proposed on a follower is forwarded, committed, and applied everywhere.
    let proposed = Instant::now();
    assert_eq!(revision_of(&write(&nodes[2], put_policy("v1")).await), 1);
    let here = nodes[2].store.current();
    assert_eq!(
        here.state.policies["files"].current_revision(),
        1,
        "the proposing follower sees its own write when propose returns"
    );
    for node in &nodes {
        sees_revision(node, 1).await;
    }
    eprintln!("phase 2: revision 1 on all nodes after {:?}", proposed.elapsed());

    // phase 2b: a fourth node joins through a follower (redirected to the leader) and becomes a voter.
    let joined = Instant::now();
    let fourth = start(4, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    fourth.store.join(&nodes[2].addr).await.unwrap();
    sees_revision(&fourth, 1).await;
    voters_become(&nodes[0], &[1, 2, 3, 4]).await;
    nodes.push(fourth);
    eprintln!("phase 2b: node 4 joined as a voter after {:?}", joined.elapsed());

    // phase 3: the leader stops; the other three elect a new one, which takes writes.
    let old = nodes.remove(0);
    let killed = Instant::now();
    old.stop().await;
    let survivors: Vec<&Node> = nodes.iter().collect();
    let new_leader = leader_among(&survivors).await;
    assert_ne!(new_leader, 1);
    assert_eq!(revision_of(&write(&nodes[0], put_policy("v2")).await), 2);
    for node in &nodes {
        sees_revision(node, 2).await;
    }
    eprintln!(
        "phase 3: new leader {new_leader} committed after {:?}",
        killed.elapsed()
    );
    let leader_node = nodes.iter().find(|node| node.id == new_leader).unwrap();
    leader_node
        .store
        .change_membership(BTreeSet::from([2, 3, 4]))
        .await
        .unwrap();
    voters_become(leader_node, &[2, 3, 4]).await;

    // phase 4: a peer without the cluster secret is refused before it reaches Raft.
    let mut stranger = RaftClient::connect(format!("http://{}", nodes[0].addr))
        .await
        .unwrap();
    let refused = stranger
        .vote(RaftMessage { json: b"{}".to_vec() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let intruder_dir = tempfile::tempdir().unwrap();
    let mut intruder_config = StoreConfig::new(9, intruder_dir.path());
    intruder_config.raft_addr = "127.0.0.1:9".to_owned();
    let wrong = ClusterSecret::new("not-the-cluster-secret-42").unwrap();
    let intruder = Store::open_cluster(intruder_config, wrong).await.unwrap();
    let error = intruder.join(&nodes[0].addr).await.unwrap_err();
    assert!(matches!(error, StoreError::JoinFailed { .. }), "{error}");
    assert!(!nodes[0].store.voters().contains(&9));
    intruder.shutdown().await.unwrap();
    assert!(ClusterSecret::new("short").is_err(), "weak secrets are refused");
    let stale = nodes[0].store.propose(put_policy_at("v3", Some(1))).await;
    assert!(
        matches!(
            stale.map(AppResponse::into_result),
            Ok(Err(ApplyError::StaleRevision { actual: 2, .. }))
        ),
        "no committed version was lost"
    );

    // phase 5: alone, the last node keeps its state but refuses writes with a clear error.
    let alone = nodes.pop().unwrap();
    for node in nodes {
        node.stop().await;
    }
    let refused_at = Instant::now();
    let error = alone.store.propose(put_policy("v4")).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NoQuorum { .. } | StoreError::LeaderUnreachable { .. } | StoreError::NotLeader { .. }
        ),
        "{error}"
    );
    assert!(refused_at.elapsed() < PATIENCE);
    assert_eq!(
        alone.store.current().state.policies["files"].current_revision(),
        2
    );
    eprintln!(
        "phase 5: a write without quorum failed after {:?}: {error}",
        refused_at.elapsed()
    );
    alone.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_added_after_compaction_catches_up_from_a_snapshot_and_restarts() {
    // Voters 1 and 2 snapshot and compact every 5 entries; node 3 never snapshots by itself, so a
    // compacted log on node 3 can only come from a snapshot the leader streamed to it.
    let mut nodes = Vec::new();
    for (id, every) in [(1, 5), (2, 5), (3, 1_000)] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        nodes.push(start_with(id, listener, tempfile::tempdir().unwrap(), every).await);
    }
    let voters = BTreeMap::from([(1, nodes[0].addr.clone()), (2, nodes[1].addr.clone())]);
    nodes[0].store.initialize(voters).await.unwrap();
    leader_among(&[&nodes[0], &nodes[1]]).await;

    // phase 1: the two voters write 20 policy versions; the leader's log is compacted behind them.
    for revision in 1..=20 {
        let applied = write(&nodes[0], put_policy(&format!("v{revision}"))).await;
        assert_eq!(revision_of(&applied), revision);
    }

    // phase 2: node 3 joins (a learner until it caught up); the log it needs is gone, so the leader
    // streams it a snapshot.
    let joined = Instant::now();
    nodes[2].store.join(&nodes[0].addr).await.unwrap();
    sees_revision(&nodes[2], 20).await;
    eprintln!(
        "phase 2: snapshot installed and applied after {:?}",
        joined.elapsed()
    );
    let revisions = |node: &Node| -> Vec<u64> {
        let state = node.store.current();
        state.state.policies["files"]
            .versions
            .iter()
            .map(|v| v.revision)
            .collect()
    };
    assert_eq!(
        revisions(&nodes[2]),
        (1..=20).collect::<Vec<_>>(),
        "every version, in order"
    );

    // phase 3: node 3 restarts from its directory and comes back with the same state.
    let (dir, addr) = nodes.pop().unwrap().stop().await;
    {
        let mut log = portcullis_store::LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
        let state = openraft::storage::RaftLogStorage::get_log_state(&mut log)
            .await
            .unwrap();
        assert!(
            state.last_purged_log_id.is_some(),
            "node 3 caught up through an installed snapshot"
        );
    }
    let listener = TcpListener::bind(&addr).await.unwrap();
    let node = start_with(3, listener, dir, 1_000).await;
    assert_eq!(
        revisions(&node),
        (1..=20).collect::<Vec<_>>(),
        "recovered from its own directory"
    );
    assert_eq!(revision_of(&write(&nodes[0], put_policy("v21")).await), 21);
    sees_revision(&node, 21).await;

    node.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_member_asks_any_node_and_refuses_strangers_and_the_last_voter() {
    let one = start(1, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    one.store
        .initialize(BTreeMap::from([(1, one.addr.clone())]))
        .await
        .unwrap();
    let two = start(2, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    two.store.join(&one.addr).await.unwrap();
    voters_become(&one, &[1, 2]).await;
    let secret = || ClusterSecret::new(SECRET).unwrap();

    let stranger = ClusterSecret::new("not-the-cluster-secret-at-all").unwrap();
    let refused = portcullis_store::remove_member(&one.addr, stranger, 2, PATIENCE).await;
    assert!(
        matches!(refused, Err(StoreError::MemberUnreachable { .. })),
        "{refused:?}"
    );
    voters_become(&one, &[1, 2]).await;

    // Asked through the node being removed (a follower): redirected to the leader.
    portcullis_store::remove_member(&two.addr, secret(), 2, PATIENCE)
        .await
        .unwrap();
    voters_become(&one, &[1]).await;
    // A node that is not a member is already removed.
    portcullis_store::remove_member(&one.addr, secret(), 9, PATIENCE)
        .await
        .unwrap();
    let last = portcullis_store::remove_member(&one.addr, secret(), 1, PATIENCE).await;
    assert!(
        last.as_ref()
            .is_err_and(|error| error.to_string().contains("only voter")),
        "{last:?}"
    );
    two.stop().await;
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_leadership_transfer_and_membership_changes_for_operators() {
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start(id, TcpListener::bind("127.0.0.1:0").await.unwrap()).await);
    }
    nodes[0]
        .store
        .initialize(BTreeMap::from([(1, nodes[0].addr.clone())]))
        .await
        .unwrap();
    assert_eq!(leader_among(&[&nodes[0]]).await, 1);
    for node in &nodes[1..] {
        nodes[0]
            .store
            .add_node(node.id, node.addr.clone(), false)
            .await
            .unwrap();
    }
    let all: Vec<&Node> = nodes.iter().collect();
    assert_eq!(leader_among(&all).await, 1);
    write(&nodes[0], put_policy("v1")).await;

    // Each node describes itself: its role, its term, its progress, every member.
    for node in &nodes {
        sees_revision(node, 1).await;
        let status = node.store.status();
        assert_eq!(status.id, node.id);
        assert_eq!(status.role, if node.id == 1 { "leader" } else { "follower" });
        assert!(status.term >= 1 && status.applied_index > 0, "{status:?}");
        let members: Vec<(NodeId, &str, bool)> = status
            .members
            .iter()
            .map(|m| (m.id, m.raft_addr.as_str(), m.voter))
            .collect();
        let want: Vec<(NodeId, &str, bool)> = nodes.iter().map(|n| (n.id, n.addr.as_str(), true)).collect();
        assert_eq!(members, want);
    }

    // Only the leader transfers, and only to a voter; then the chosen node leads (not any node).
    assert!(matches!(
        nodes[1].store.transfer_leader(3).await,
        Err(StoreError::NotLeader {
            leader_hint: Some(1),
            ..
        })
    ));
    assert!(matches!(
        nodes[0].store.transfer_leader(9).await,
        Err(StoreError::NotMember { node: 9 })
    ));
    nodes[0].store.transfer_leader(3).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while nodes.iter().any(|node| node.store.leader() != Some(3)) {
        assert!(Instant::now() < deadline, "node 3 never took over");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Remove a member, add it back as a learner, then as a voter.
    assert!(matches!(
        nodes[2].store.remove_node(9).await,
        Err(StoreError::NotMember { node: 9 })
    ));
    nodes[2].store.remove_node(2).await.unwrap();
    voters_become(&nodes[0], &[1, 3]).await;
    assert!(nodes[2].store.status().members.iter().all(|m| m.id != 2));
    nodes[2]
        .store
        .add_node(2, nodes[1].addr.clone(), true)
        .await
        .unwrap();
    let learner = nodes[2].store.status();
    assert!(
        learner.members.iter().any(|m| m.id == 2 && !m.voter),
        "{learner:?}"
    );
    voters_become(&nodes[2], &[1, 3]).await;
    nodes[2]
        .store
        .add_node(2, nodes[1].addr.clone(), false)
        .await
        .unwrap();
    voters_become(&nodes[2], &[1, 2, 3]).await;
    write(&nodes[1], put_policy("v2")).await;
    for node in &nodes {
        sees_revision(node, 2).await;
    }
    for node in nodes {
        node.stop().await;
    }
}

//! Three nodes in-process on 127.0.0.1, talking Raft over gRPC: form the cluster (learners first,
//! then voters), replicate a policy change to every node's watch, lose the leader, keep writing.

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
    _dir: TempDir,
}

async fn start(id: NodeId, listener: TcpListener) -> Node {
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(id, dir.path());
    config.raft_addr = addr.clone();
    config.heartbeat = Duration::from_millis(50);
    config.election_timeout = (Duration::from_millis(200), Duration::from_millis(400));
    config.propose_timeout = Duration::from_secs(2);
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
        _dir: dir,
    }
}

fn put_policy(default: &str) -> AppRequest {
    put_policy_at(default, None)
}

fn put_policy_at(default: &str, expected_revision: Option<u64>) -> AppRequest {
    AppRequest::PutPolicy {
        name: "files".to_owned(),
        text: format!(r#"{{"version": "1", "default": "{default}"}}"#),
        format: PolicyFormat::Json,
        author: "ops".to_owned(),
        at: Timestamp::from_millis(1_795_651_199_500),
        expected_revision,
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
async fn three_nodes_replicate_and_survive_losing_the_leader() {
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
    let response = nodes[2].store.propose(put_policy("deny")).await.unwrap();
    assert!(matches!(
        response,
        AppResponse::Applied(Applied::PolicyVersion { revision: 1, .. })
    ));
    for node in &nodes {
        sees_revision(node, 1).await;
    }
    eprintln!("phase 2: revision 1 on all nodes after {:?}", proposed.elapsed());

    // phase 3: the leader stops; the other two elect a new one, which takes writes.
    let old = nodes.remove(0);
    let killed = Instant::now();
    old.store.shutdown().await.unwrap();
    old.stop_server.send(()).unwrap();
    old.server.await.unwrap();
    let survivors: Vec<&Node> = nodes.iter().collect();
    let new_leader = leader_among(&survivors).await;
    assert_ne!(new_leader, 1);
    let deadline = Instant::now() + PATIENCE;
    loop {
        match nodes[0].store.propose(put_policy("allow")).await {
            Ok(response) => {
                assert!(matches!(
                    response.into_result(),
                    Ok(Applied::PolicyVersion { revision: 2, .. })
                ));
                break;
            }
            // The survivors may still be settling on the new leader.
            Err(StoreError::NotLeader { .. } | StoreError::NoQuorum { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("write after losing the leader failed: {error}"),
        }
    }
    for node in &nodes {
        sees_revision(node, 2).await;
    }
    eprintln!(
        "phase 3: new leader {new_leader} committed after {:?}",
        killed.elapsed()
    );

    // phase 4: a peer without the cluster secret is refused before it reaches Raft.
    let mut stranger = RaftClient::connect(format!("http://{}", nodes[0].addr))
        .await
        .unwrap();
    let refused = stranger
        .vote(RaftMessage { json: b"{}".to_vec() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let stale = nodes[0].store.propose(put_policy_at("deny", Some(1))).await;
    assert!(
        matches!(
            stale.map(AppResponse::into_result),
            Ok(Err(ApplyError::StaleRevision { actual: 2, .. }))
        ),
        "no committed version was lost"
    );

    for node in nodes {
        node.store.shutdown().await.unwrap();
        node.stop_server.send(()).unwrap();
        node.server.await.unwrap();
    }
}

//! Replication figures for docs/benchmarks.md (issue #5): writes/s with 1 and 64 concurrent proposers
//! on one node and on three, write-to-every-watch propagation on three nodes, and leader loss to the
//! next committed write. Nodes run in-process on 127.0.0.1 with their data in temporary directories.
//!
//!     cargo run --release -p portcullis-store --example replication_bench

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis_store::{AppRequest, ClusterSecret, NodeId, PolicyFormat, Store, StoreConfig, Timestamp};
use tempfile::TempDir;
use tokio::net::TcpListener;

struct Node {
    store: Store,
    _dir: TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
}

fn put(name: String, n: u64) -> AppRequest {
    AppRequest::PutPolicy {
        name,
        text: format!(r#"{{"version": "1", "default": "deny", "hide": ["t{n}"]}}"#),
        format: PolicyFormat::Json,
        author: "bench".to_owned(),
        at: Timestamp::from_millis(1_795_651_199_500),
        expected_revision: None,
        shadow: false,
    }
}

async fn cluster(size: u64) -> Vec<Node> {
    let mut listeners = Vec::new();
    for _ in 0..size {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: BTreeMap<NodeId, String> = (1..)
        .zip(&listeners)
        .map(|(id, l)| (id, l.local_addr().unwrap().to_string()))
        .collect();
    let mut nodes = Vec::new();
    for (id, listener) in (1..).zip(listeners) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(id, dir.path());
        config.raft_addr = addrs[&id].clone();
        let store = Store::open_cluster(config, ClusterSecret::new("bench-cluster-secret-0123").unwrap())
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = store.clone();
        tokio::spawn(async move {
            let _ = serving
                .serve_raft(listener, async {
                    stopped.await.ok();
                })
                .await;
        });
        nodes.push(Node {
            store,
            _dir: dir,
            stop,
        });
    }
    nodes[0].store.initialize(addrs).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes.iter().any(|n| n.store.leader().is_none()) {
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes
}

fn leader(nodes: &[Node]) -> usize {
    let id = nodes[0].store.leader().unwrap();
    usize::try_from(id - 1).unwrap()
}

/// Writes/s with `proposers` tasks proposing back to back for `secs`.
async fn throughput(store: &Store, proposers: u64, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..proposers)
        .map(|p| {
            let (store, done) = (store.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < end {
                    n += 1;
                    if store.propose(put(format!("p{p}"), n)).await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs as f64
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let one = cluster(1).await;
    println!(
        "| 1 node | {:.0} writes/s | {:.0} writes/s |",
        throughput(&one[0].store, 1, 5).await,
        throughput(&one[0].store, 64, 5).await
    );

    let mut three = cluster(3).await;
    let l = leader(&three);
    println!(
        "| 3 nodes | {:.0} writes/s | {:.0} writes/s |",
        throughput(&three[l].store, 1, 5).await,
        throughput(&three[l].store, 64, 5).await
    );

    // Propagation: a policy put on the leader until every node's watch shows it.
    let mut samples = Vec::new();
    for n in 0..200 {
        let started = Instant::now();
        let applied = three[l]
            .store
            .propose(put("propagation".into(), n))
            .await
            .unwrap()
            .into_result()
            .unwrap();
        let revision = match applied {
            portcullis_store::Applied::PolicyVersion { revision, .. } => revision,
            other => panic!("{other:?}"),
        };
        for node in &three {
            let mut watch = node.store.subscribe();
            tokio::time::timeout(
                Duration::from_secs(5),
                watch.wait_for(|s| {
                    s.state
                        .policies
                        .get("propagation")
                        .is_some_and(|h| h.current_revision() >= revision)
                }),
            )
            .await
            .unwrap()
            .unwrap();
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "propagation to all 3 watches: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        samples.len()
    );

    // Leader loss: stop the leader, then time until a write through a survivor commits.
    let dead = three.remove(l);
    let killed = Instant::now();
    dead.store.shutdown().await.unwrap();
    let _ = dead.stop.send(());
    let deadline = killed + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        if three[0].store.propose(put("after-loss".into(), n)).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no write committed within 15 s of losing the leader"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "leader stopped -> first committed write: {:.0} ms",
        killed.elapsed().as_secs_f64() * 1e3
    );
}

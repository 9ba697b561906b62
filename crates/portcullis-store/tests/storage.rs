//! The redb-backed storage: openraft's own suite, restart recovery, snapshot transfer, determinism.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::entry::RaftEntry;
use openraft::storage::{
    RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use openraft::{BasicNode, Membership, RaftTypeConfig, StorageError, StorageHelper};
use portcullis_store::raft::{Entry, LogId, TypeConfig, Vote};
use portcullis_store::{
    AppRequest, CounterCeiling, CounterKey, LogStore, PolicyFormat, StateMachineStore, Timestamp,
};
use serde_json::json;
use tempfile::TempDir;

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let failed = |e: std::io::Error| StorageError::write(TypeConfig::err_from_error(&e));
        let dir = tempfile::tempdir().map_err(failed)?;
        let (log, sm) = open(dir.path()).map_err(failed)?;
        Ok((dir, log, sm))
    }
}

fn open(dir: &Path) -> std::io::Result<(LogStore, StateMachineStore)> {
    let log = LogStore::open(&dir.join("log.redb"))?;
    let sm = StateMachineStore::open(&dir.join("snapshot.redb"))?;
    Ok((log, sm))
}

fn log_id(term: u64, index: u64) -> LogId {
    let leader = <TypeConfig as RaftTypeConfig>::LeaderId::new_committed(term, 1);
    LogId::new(leader, index)
}

/// A realistic log: membership, then commands of every kind, some of which the state refuses.
fn sample_log(commands: u64) -> Vec<Entry> {
    let membership = Membership::new_with_defaults(vec![BTreeSet::from([1])], []);
    let mut entries = vec![
        Entry::new_blank(log_id(1, 1)),
        Entry::new_membership(log_id(1, 2), membership),
    ];
    for i in 0..commands {
        let at = Timestamp::from_millis(1_000 + i);
        let command = match i % 5 {
            0 => AppRequest::PutPolicy {
                name: format!("policy-{}", i % 3),
                text: r#"{"version": "1", "default": "deny"}"#.to_owned(),
                format: PolicyFormat::Json,
                author: "alice".to_owned(),
                at,
                expected_revision: None,
                shadow: false,
            },
            1 => AppRequest::PutServer {
                name: format!("server-{}", i % 4),
                upstream: json!({"type": "http", "url": format!("http://127.0.0.1:{}/mcp", 9000 + i)}),
                anonymous_policy: None,
                at,
            },
            2 => AppRequest::AddToCounter {
                key: CounterKey {
                    counter: "_global.calls".to_owned(),
                    partition: format!("g{}", i % 2),
                    window_start_ms: 0,
                    window_len_ms: 60_000,
                },
                // Sums like 0.1 + 0.07 are not exact in binary: a snapshot must carry them bit for bit.
                delta: 0.1 + (i % 7) as f64 * 0.01,
                ceiling: Some(CounterCeiling {
                    max: 20.0,
                    strict: true,
                }),
            },
            3 => AppRequest::PutSession {
                id: format!("s{i}"),
                grant: "g1".to_owned(),
                server: "server-1".to_owned(),
                upstream_session_ids: vec![format!("up{i}")],
                node: 1,
                at,
                initialize: None,
                members: vec![],
            },
            _ => AppRequest::PutGrant {
                id: format!("g{i}"),
                token_sha256: format!("{i:064x}"),
                labels: BTreeMap::new(),
                server: format!("server-{}", i % 4),
                servers: Vec::new(),
                policy: None,
                at,
            },
        };
        command.validate().unwrap();
        entries.push(Entry::new_normal(log_id(2, 3 + i), command));
    }
    entries
}

async fn apply(sm: &mut StateMachineStore, entries: Vec<Entry>) {
    let stream = futures_util::stream::iter(entries.into_iter().map(|entry| Ok((entry, None))));
    sm.apply(stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite_passes() {
    Suite::test_all(RedbBuilder).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_vote_log_snapshot_and_applied_state() {
    let dir = tempfile::tempdir().unwrap();
    let entries = sample_log(40);
    let vote = Vote::new_committed(2, 1);
    let expected_state;
    {
        let (mut log, mut sm) = open(dir.path()).unwrap();
        log.save_vote(&vote).await.unwrap();
        log.blocking_append(entries.clone()).await.unwrap();
        // Snapshot half the log, apply the rest, and record how far the cluster had committed.
        apply(&mut sm, entries[..20].to_vec()).await;
        sm.try_create_snapshot_builder(true)
            .await
            .unwrap()
            .build_snapshot()
            .await
            .unwrap();
        log.purge(log_id(2, 10)).await.unwrap();
        apply(&mut sm, entries[20..].to_vec()).await;
        log.save_committed(Some(log_id(2, 42))).await.unwrap();
        expected_state = sm.subscribe().borrow().clone();
        assert_eq!(expected_state.applied_index, Some(42));
    }

    let (mut log, mut sm) = open(dir.path()).unwrap();
    let watch = sm.subscribe();
    assert_eq!(log.get_log_reader().await.read_vote().await.unwrap(), Some(vote));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 10)));
    assert_eq!(state.last_log_id, Some(log_id(2, 42)));
    let kept = log
        .get_log_reader()
        .await
        .try_get_log_entries(11..43)
        .await
        .unwrap();
    assert_eq!(
        kept,
        entries[10..].to_vec(),
        "the unpurged log survives byte for byte"
    );
    let snapshot = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("the snapshot survives");
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 20)));

    // openraft's startup path: install the snapshot, then re-apply the committed log after it.
    let initial = StorageHelper::new(&mut log, &mut sm)
        .with_id(1)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(initial.local_committed(), Some(&log_id(2, 42)));
    assert_eq!(*watch.borrow().clone(), *expected_state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_installs_the_same_state_on_another_node() {
    let (leader_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, mut leader) = open(leader_dir.path()).unwrap();
    apply(&mut leader, sample_log(30)).await;
    let built = leader
        .try_create_snapshot_builder(true)
        .await
        .unwrap()
        .build_snapshot()
        .await
        .unwrap();

    {
        let (_, mut follower) = open(follower_dir.path()).unwrap();
        follower
            .install_snapshot(&built.meta, built.snapshot.clone())
            .await
            .unwrap();
        let ours = leader.subscribe().borrow().clone();
        let theirs = follower.subscribe().borrow().clone();
        assert_eq!(*theirs, *ours);
        let bits = |snapshot: &portcullis_store::StateSnapshot| -> Vec<u64> {
            snapshot
                .state
                .counters
                .values()
                .map(|value| value.to_bits())
                .collect()
        };
        assert!(!bits(&ours).is_empty());
        assert_eq!(
            bits(&theirs),
            bits(&ours),
            "counters survive a snapshot bit for bit"
        );
        assert_eq!(
            follower.applied_state().await.unwrap(),
            leader.applied_state().await.unwrap()
        );
    }
    // The installed snapshot is durable: a restarted follower still has it, byte for byte.
    let (_, mut follower) = open(follower_dir.path()).unwrap();
    let kept = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(kept.meta, built.meta);
    assert_eq!(kept.snapshot, built.snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_log_gives_byte_identical_snapshots() {
    let entries = sample_log(200);
    let mut snapshots = Vec::new();
    // One batch on one node, many small batches on another: the split must not matter.
    for batch in [entries.len(), 7] {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut sm) = open(dir.path()).unwrap();
        for chunk in entries.chunks(batch) {
            apply(&mut sm, chunk.to_vec()).await;
        }
        let snapshot = sm
            .try_create_snapshot_builder(true)
            .await
            .unwrap()
            .build_snapshot()
            .await
            .unwrap();
        snapshots.push(snapshot);
    }
    assert_eq!(snapshots[0].meta, snapshots[1].meta);
    assert!(snapshots[0].snapshot == snapshots[1].snapshot, "snapshots differ");
    let text = String::from_utf8(snapshots[0].snapshot.clone()).unwrap();
    assert!(
        text.contains("policy-2") && text.contains("server-3"),
        "the log was applied"
    );
}

#[test]
fn basic_node_addresses_are_kept_in_membership() {
    // Membership entries carry each voter's Raft address: the network dials what is stored here.
    let nodes = BTreeMap::from([(1, BasicNode::new("127.0.0.1:7001"))]);
    let membership = Membership::<u64, BasicNode>::new(vec![BTreeSet::from([1])], nodes).unwrap();
    let entry = Entry::new_membership(log_id(1, 1), membership);
    let text = serde_json::to_string(&entry).unwrap();
    assert!(text.contains("127.0.0.1:7001"), "{text}");
}

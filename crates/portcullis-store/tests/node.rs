//! A one-node cluster in-process: the embedded default.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::path::Path;
use std::time::Duration;

use openraft::storage::RaftLogStorage;
use portcullis_store::{
    AppRequest, AppResponse, Applied, CounterKey, LogStore, PolicyFormat, Store, StoreConfig, StoreError,
    Timestamp,
};

fn config(dir: &Path) -> StoreConfig {
    let mut config = StoreConfig::new(1, dir);
    config.raft_addr = "127.0.0.1:1".to_owned();
    config.propose_timeout = Duration::from_secs(5);
    config.election_timeout = (Duration::from_millis(150), Duration::from_millis(300));
    config.heartbeat = Duration::from_millis(50);
    config
}

fn put_policy(default: &str, expected_revision: Option<u64>) -> AppRequest {
    AppRequest::PutPolicy {
        name: "files".to_owned(),
        text: format!(r#"{{"version": "1", "default": "{default}"}}"#),
        format: PolicyFormat::Json,
        author: "alice".to_owned(),
        at: Timestamp::from_millis(1_795_651_199_500),
        expected_revision,
        shadow: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_put_is_visible_in_the_watch_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_single(config(dir.path())).await.unwrap();
        let mut watch = store.subscribe();
        let response = store.propose(put_policy("deny", Some(0))).await.unwrap();
        assert_eq!(
            response,
            AppResponse::Applied(Applied::PolicyVersion {
                name: "files".to_owned(),
                revision: 1,
                unchanged: false
            })
        );
        // The proposer's node has published the change by the time propose returns.
        let seen = watch.borrow_and_update().clone();
        let version = seen.state.policies["files"].latest().unwrap().clone();
        assert_eq!((version.revision, version.text.contains("deny")), (1, true));
        store.shutdown().await.unwrap();
    }

    let store = Store::open_single(config(dir.path())).await.unwrap();
    let recovered = store.current();
    assert_eq!(recovered.state.policies["files"].current_revision(), 1);
    let response = store.propose(put_policy("allow", Some(1))).await.unwrap();
    assert!(matches!(
        response,
        AppResponse::Applied(Applied::PolicyVersion { revision: 2, .. })
    ));
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_uninitialized_nodes_and_foreign_directories_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).await.unwrap();
    let error = store.propose(put_policy("deny", None)).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NotLeader {
                leader_hint: None,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("retry shortly"), "{error}");
    let error = store.propose(put_policy("sometimes", None)).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error}");
    store.shutdown().await.unwrap();
    drop(store);
    let mut other = config(dir.path());
    other.node_id = 2;
    let error = Store::open(other).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::WrongNode {
                owner: 1,
                configured: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_log_restarts_from_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    settings.snapshot_every = 10;
    settings.keep_after_snapshot = 0;
    let key = CounterKey {
        counter: "_global.calls".to_owned(),
        partition: "g1".to_owned(),
        window_start_ms: 0,
        window_len_ms: 60_000,
    };
    {
        let store = Store::open_single(settings.clone()).await.unwrap();
        for _ in 0..35 {
            let add = AppRequest::AddToCounter {
                key: key.clone(),
                delta: 1.0,
                ceiling: None,
            };
            store.propose(add).await.unwrap().into_result().unwrap();
        }
        store.shutdown().await.unwrap();
    }
    {
        let mut log = LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
        let purged = log.get_log_state().await.unwrap().last_purged_log_id;
        assert!(
            purged.is_some_and(|id| id.index >= 10),
            "the log was compacted: {purged:?}"
        );
    }
    let store = Store::open_single(settings).await.unwrap();
    assert_eq!(store.current().state.counters.get(&key), Some(&35.0));
    store.shutdown().await.unwrap();
}

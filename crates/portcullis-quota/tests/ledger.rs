//! Ledgers of two "nodes" leasing from one real (single-voter) store: reservations come from local
//! slices, the pair never admits more than the limit and admits nearly all of it, a rollback gives the
//! units back, a dead node's slice is lost but never spent twice, a counter reset neither lets slices
//! held before it add to the fresh budget nor loses that budget, and without the store a node spends
//! what it holds and then says why it can't admit more.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis_gateway::clock::ManualClock;
use portcullis_gateway::counters::{CounterKey, CounterStore, Exhausted, Increment, Partition};
use portcullis_policy::{Ceiling, CounterId, Window};
use portcullis_quota::{Ledger, Tuning, run};
use portcullis_store::{AppRequest, Store, StoreConfig};
use tokio::task::JoinHandle;

const NOW: u64 = 1_000_000;
const WINDOW: Window = Window {
    start_ms: 960_000,
    len_ms: 60_000,
};
/// Every wait here is bounded by this.
const PATIENCE: Duration = Duration::from_secs(20);

fn increment(max: f64, amount: f64) -> Increment {
    increment_for("agent", max, amount)
}

fn increment_for(grant: &str, max: f64, amount: f64) -> Increment {
    Increment {
        key: CounterKey {
            partition: Partition::Identity {
                grant: Arc::from(grant),
                policy: Arc::from("p"),
            },
            counter: CounterId {
                scope: Arc::from("search"),
                name: Arc::from("calls"),
            },
            window: WINDOW,
        },
        amount,
        ceiling: Some(Ceiling { max, strict: false }),
    }
}

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open_single(StoreConfig::new(1, dir.path())).await.unwrap()
}

fn node(store: &Store, id: u64) -> (Arc<Ledger>, JoinHandle<()>) {
    let ledger = Ledger::new(id, store.subscribe());
    let task = tokio::spawn(run(
        Arc::clone(&ledger),
        store.clone(),
        Arc::new(ManualClock::at(NOW)),
        Tuning::default(),
    ));
    (ledger, task)
}

/// Reserves and commits until the ledger admits one call or `patience` passes.
async fn admit_one(ledger: &Ledger, inc: &Increment) -> Result<(), Exhausted> {
    reserve_one(ledger, inc).await?;
    ledger.commit(std::slice::from_ref(inc));
    Ok(())
}

/// Reserves until the ledger admits one call, or refuses for good, or `patience` passes.
async fn reserve_one(ledger: &Ledger, inc: &Increment) -> Result<(), Exhausted> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match ledger.reserve(std::slice::from_ref(inc)) {
            Ok(()) => return Ok(()),
            Err(refused) if refused.retry_after_ms.is_some() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(refused) => return Err(refused),
        }
    }
}

/// Hammers `ledger` until it refuses with the counter full; counts admissions into `admitted`.
async fn hammer(ledger: Arc<Ledger>, inc: Increment, admitted: Arc<AtomicU64>) {
    while admit_one(&ledger, &inc).await.is_ok() {
        admitted.fetch_add(1, Ordering::Relaxed);
        // A real call waits on its upstream; let the refill task run.
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_limit_never_exceed_it_and_admit_nearly_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let limit = 2_000.0;
    let inc = increment(limit, 1.0);
    let admitted = Arc::new(AtomicU64::new(0));
    let (a, task_a) = node(&store, 1);
    let (b, task_b) = node(&store, 2);
    let hammers = [
        tokio::spawn(hammer(Arc::clone(&a), inc.clone(), Arc::clone(&admitted))),
        tokio::spawn(hammer(Arc::clone(&b), inc.clone(), Arc::clone(&admitted))),
    ];
    for hammer in hammers {
        tokio::time::timeout(PATIENCE, hammer).await.unwrap().unwrap();
    }
    let admitted = admitted.load(Ordering::Relaxed) as f64;
    let charged = store
        .current()
        .state
        .quota(&portcullis_quota::store_key(&inc.key))
        .charged;
    eprintln!(
        "admitted {admitted} of {limit}; {} + {} quota entries",
        a.entries_proposed(),
        b.entries_proposed()
    );
    assert!(admitted <= limit, "admitted {admitted} > {limit}");
    assert!(admitted >= 0.95 * limit, "admitted only {admitted} of {limit}");
    assert!(charged <= limit);
    // Far fewer log entries than calls: slices, not calls, go through Raft.
    assert!(a.entries_proposed() + b.entries_proposed() < 400);
    // Once full, the refusal is the plain ceiling, not an outage.
    let refused = a.reserve(std::slice::from_ref(&inc)).unwrap_err();
    assert_eq!(refused.unavailable, None, "{refused}");
    task_a.abort();
    task_b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_returns_units_to_the_slice_and_the_first_call_waits_for_a_lease() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (a, task) = node(&store, 1);
    let inc = increment(3.0, 1.0);
    let first = a.reserve(std::slice::from_ref(&inc)).unwrap_err();
    assert!(
        first.to_string().contains("quota unavailable") && first.to_string().contains("leasing"),
        "{first}"
    );
    for _ in 0..3 {
        admit_one(&a, &inc).await.unwrap();
    }
    let full = admit_one(&a, &inc).await.unwrap_err();
    assert_eq!(full.unavailable, None, "{full}");
    // Three committed: the cluster-wide value the engine reads is the limit.
    assert_eq!(a.current(&inc.key), 3.0);

    // Another grant's counter, on the same node.
    let inc = increment_for("other", 3.0, 1.0);
    let b = &a;
    admit_one(b, &inc).await.unwrap();
    reserve_one(b, &inc).await.unwrap();
    b.rollback(std::slice::from_ref(&inc));
    // The rolled-back unit is spendable again: two more fit.
    admit_one(b, &inc).await.unwrap();
    admit_one(b, &inc).await.unwrap();
    assert!(admit_one(b, &inc).await.is_err());
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_slice_is_lost_not_spent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let limit = 100.0;
    let inc = increment(limit, 1.0);
    let (a, task_a) = node(&store, 1);
    let admitted = Arc::new(AtomicU64::new(0));
    // Node 1 takes some quota, then dies holding whatever it leased beyond that.
    for _ in 0..10 {
        admit_one(&a, &inc).await.unwrap();
        admitted.fetch_add(1, Ordering::Relaxed);
    }
    task_a.abort();
    drop(a);
    let (b, task_b) = node(&store, 2);
    tokio::time::timeout(
        PATIENCE,
        hammer(Arc::clone(&b), inc.clone(), Arc::clone(&admitted)),
    )
    .await
    .unwrap();
    let total = admitted.load(Ordering::Relaxed) as f64;
    eprintln!("admitted {total} of {limit} with node 1 dead");
    assert!(total <= limit);
    task_b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reset_slices_held_before_it_are_not_spent_and_the_fresh_budget_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let limit = 200.0;
    let inc = increment(limit, 1.0);
    let key = portcullis_quota::store_key(&inc.key);
    let (a, task_a) = node(&store, 1);
    let (b, task_b) = node(&store, 2);
    // Node 1 admits some calls, keeps two in flight, and holds spare quota when the reset comes.
    let deadline = Instant::now() + PATIENCE;
    loop {
        admit_one(&a, &inc).await.unwrap();
        let spare = store.current().state.quota(&key).charged - a.current(&inc.key);
        if spare >= 5.0 {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 never held spare quota");
    }
    reserve_one(&a, &inc).await.unwrap();
    reserve_one(&a, &inc).await.unwrap();
    let before = store.current().state.quota(&key).charged;
    store
        .propose(AppRequest::ResetCounter { key: key.clone() })
        .await
        .unwrap()
        .into_result()
        .unwrap();
    while store.current().state.quota(&key).epoch == 0 {
        assert!(Instant::now() < deadline, "the reset never applied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let admitted = Arc::new(AtomicU64::new(0));
    let hammers = [
        tokio::spawn(hammer(Arc::clone(&a), inc.clone(), Arc::clone(&admitted))),
        tokio::spawn(hammer(Arc::clone(&b), inc.clone(), Arc::clone(&admitted))),
    ];
    for hammer in hammers {
        tokio::time::timeout(PATIENCE, hammer).await.unwrap().unwrap();
    }
    // The two calls in flight at the reset fail upstream: their units went with the old budget.
    a.rollback(std::slice::from_ref(&inc));
    a.rollback(std::slice::from_ref(&inc));
    let late = u64::from(a.reserve(std::slice::from_ref(&inc)).is_ok());
    let admitted = admitted.load(Ordering::Relaxed) as f64 + late as f64;
    eprintln!("charged {before} before the reset; admitted {admitted} of {limit} after it");
    assert!(admitted <= limit, "admitted {admitted} > {limit} after the reset");
    assert!(
        admitted >= 0.95 * limit,
        "admitted only {admitted} of {limit} after the reset"
    );
    task_a.abort();
    task_b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_cluster_a_node_spends_what_it_holds_then_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let inc = increment(1_000_000.0, 1.0);
    let (a, task) = node(&store, 1);
    admit_one(&a, &inc).await.unwrap();
    store.shutdown().await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    let refused = loop {
        match a.reserve(std::slice::from_ref(&inc)) {
            Ok(()) => a.commit(std::slice::from_ref(&inc)),
            Err(refused) if refused.to_string().contains("cannot reach a quorum") => break refused,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(refused) => panic!("never named the outage: {refused}"),
        }
    };
    assert_eq!(refused.retry_after_ms, Some(1_000), "{refused}");
    task.abort();
}

/// Calls as fast as the ledgers admit them while the clock runs through short windows, with the
/// next window's slice leased ahead: no window admits more than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_windows_never_admit_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let clock = ManualClock::at(NOW);
    let len_ms = 200;
    let limit = 50.0;
    let nodes: Vec<_> = [1, 2]
        .into_iter()
        .map(|id| {
            let ledger = Ledger::new(id, store.subscribe());
            let task = tokio::spawn(run(
                Arc::clone(&ledger),
                store.clone(),
                Arc::new(clock.clone()),
                Tuning::default(),
            ));
            (ledger, task)
        })
        .collect();
    let mut per_window: std::collections::BTreeMap<u64, f64> = Default::default();
    let deadline = Instant::now() + PATIENCE;
    let end = NOW + 8 * len_ms;
    while portcullis_gateway::clock::Clock::now(&clock).as_millis() < end {
        assert!(
            Instant::now() < deadline,
            "the clock did not get through 8 windows"
        );
        for (ledger, _) in &nodes {
            let now = portcullis_gateway::clock::Clock::now(&clock).as_millis();
            let mut inc = increment(limit, 1.0);
            inc.key.window = Window {
                start_ms: now - now % len_ms,
                len_ms,
            };
            if ledger.reserve(std::slice::from_ref(&inc)).is_ok() {
                ledger.commit(std::slice::from_ref(&inc));
                *per_window.entry(inc.key.window.start_ms).or_default() += 1.0;
            }
        }
        // The clock moves about as fast as real time, so the refill task keeps pace with the windows.
        tokio::time::sleep(Duration::from_millis(1)).await;
        clock.advance(1);
    }
    eprintln!(
        "admitted per window: {:?}",
        per_window.values().collect::<Vec<_>>()
    );
    assert!(per_window.len() > 5);
    assert!(
        per_window.values().any(|admitted| *admitted == limit),
        "no window reached the limit"
    );
    for (window, admitted) in &per_window {
        assert!(*admitted <= limit, "window {window} admitted {admitted}");
    }
    for (_, task) in nodes {
        task.abort();
    }
}

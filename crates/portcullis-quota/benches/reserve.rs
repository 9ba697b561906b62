//! `reserve`: the cluster-wide limit decision on the call path, a reserve plus a commit (or a
//! rollback) against a slice leased from a real single-voter store, with the refill task running
//! beside it. Target: p99 <= 5 µs. Run with `cargo bench -p portcullis-quota --bench reserve`.
//!
//! Criterion reports the typical cost; a plain timed loop afterwards prints the tail (p50, p99,
//! p99.9), which criterion does not.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark with a broken fixture should stop loudly, and prints its tail figures"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_gateway::clock::ManualClock;
use portcullis_gateway::counters::{CounterKey, CounterStore, Increment, Partition};
use portcullis_policy::{Ceiling, CounterId, Window};
use portcullis_quota::{Ledger, Tuning, run};
use portcullis_store::{Store, StoreConfig};

/// A limit the benchmark never reaches, so every call is admitted from the slice.
const LIMIT: f64 = 1e15;

fn increment() -> Increment {
    Increment {
        key: CounterKey {
            partition: Partition::Identity {
                grant: Arc::from("agent"),
                policy: Arc::from("p"),
            },
            counter: CounterId {
                scope: Arc::from("search"),
                name: Arc::from("calls"),
            },
            window: Window {
                start_ms: 0,
                len_ms: 3_600_000,
            },
        },
        amount: 1.0,
        ceiling: Some(Ceiling {
            max: LIMIT,
            strict: false,
        }),
    }
}

/// Reserves until a slice has arrived, so measuring starts on the steady path.
fn warm(ledger: &Ledger, inc: &[Increment]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.reserve(inc).is_err() {
        assert!(Instant::now() < deadline, "no slice was leased within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    ledger.commit(inc);
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = runtime
        .block_on(Store::open_single(StoreConfig::new(1, dir.path())))
        .unwrap_or_else(|e| panic!("{e}"));
    let ledger = Ledger::new(1, store.subscribe());
    runtime.spawn(run(
        Arc::clone(&ledger),
        store,
        Arc::new(ManualClock::at(1_000)),
        Tuning::default(),
    ));
    let inc = [increment()];
    warm(&ledger, &inc);

    c.bench_function("reserve + commit", |b| {
        b.iter(|| {
            // Waits out the rare moment a refill is still on its way (a refused reserve is cheap).
            while ledger.reserve(black_box(&inc)).is_err() {
                std::hint::spin_loop();
            }
            ledger.commit(black_box(&inc));
        });
    });
    c.bench_function("reserve + rollback", |b| {
        b.iter(|| {
            if ledger.reserve(black_box(&inc)).is_ok() {
                ledger.rollback(black_box(&inc));
            }
        });
    });
    c.bench_function("current (the engine's read)", |b| {
        b.iter(|| black_box(ledger.current(black_box(&inc[0].key))));
    });

    // The tail: each decision timed on its own, refused ones included (they are decisions too).
    let mut samples: Vec<u64> = Vec::with_capacity(200_000);
    let mut refused = 0u64;
    for _ in 0..200_000 {
        let started = Instant::now();
        let ok = ledger.reserve(&inc).is_ok();
        if ok {
            ledger.commit(&inc);
        }
        samples.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        refused += u64::from(!ok);
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "reserve + commit, {} decisions ({refused} refused while a refill was on its way): \
         p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns; {} quota entries proposed",
        samples.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        samples[samples.len() - 1],
        ledger.entries_proposed()
    );
    drop(runtime);
}

criterion_group!(benches, bench);
criterion_main!(benches);

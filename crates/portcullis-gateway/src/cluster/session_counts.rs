//! Per-session counters that follow their session across nodes.
//!
//! A session's counters live in its [`MemoryCounters`] on the node that holds it; calls are decided
//! there, in memory. In a cluster the store also keeps, per session, what each node admitted: a node
//! reports its own committed values off the call path, at most once per [`REPORT_EVERY`] per session,
//! and reads the other nodes' values from its applied state. A node that continues a session (a
//! failover, a load balancer without stickiness) therefore counts on from what the others admitted.
//! What they admitted and have not reported yet is the bound on overshoot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use portcullis_policy::{CounterId, Window};

use crate::counters::MemoryCounters;

/// How often a node reports the sessions whose counters changed.
pub const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Which session's counters: the session id and, inside an aggregate (`/mcp`) session, the member
/// server (empty otherwise), since each member counts apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShareKey {
    /// The session id the client sends.
    pub session: Arc<str>,
    /// The member server of an aggregate session; empty for a session of one server.
    pub member: Arc<str>,
}

/// One counter's value in one window.
pub type SessionCountValue = (CounterId, Window, f64);

/// Where nodes keep their per-session contributions (the replicated store, in a cluster).
///
/// Architecture invariant: none of these waits on consensus. Reads come from the node's applied
/// state; reports are sent off (a lost report only widens the overshoot bound until the next).
pub trait SessionCountBook: Send + Sync {
    /// What nodes other than this one reported for one counter of a session.
    fn others(&self, key: &ShareKey, counter: &CounterId, window: Window) -> f64;
    /// What this node itself reported for a session (it held the session before).
    fn own(&self, key: &ShareKey) -> Vec<SessionCountValue>;
    /// This node's cumulative committed values, for every session queued since the last report.
    fn report(&self, reports: Vec<(ShareKey, Vec<SessionCountValue>)>);
}

/// A session's link to the book: set once on its counters.
pub(crate) struct Share {
    pub(crate) key: ShareKey,
    pub(crate) sharing: Arc<SessionCountSharing>,
    /// Queued for the next report already.
    pub(crate) queued: AtomicBool,
}

/// Sessions whose counters changed since their last report, and the book they go to.
pub struct SessionCountSharing {
    book: Arc<dyn SessionCountBook>,
    queue: Mutex<Vec<Arc<MemoryCounters>>>,
}

impl SessionCountSharing {
    /// Sharing through `book`.
    pub fn new(book: Arc<dyn SessionCountBook>) -> Arc<Self> {
        Arc::new(Self {
            book,
            queue: Mutex::new(Vec::new()),
        })
    }

    /// Links `counters` (a session's, new on this node) to the cluster under `key`, starting from what
    /// this node reported for it before. A session's counters are linked at most once.
    pub fn attach(self: &Arc<Self>, counters: &MemoryCounters, key: ShareKey) {
        let own = self.book.own(&key);
        let share = Share {
            key,
            sharing: Arc::clone(self),
            queued: AtomicBool::new(false),
        };
        if counters.share(share) {
            counters.seed(&own);
        }
    }

    pub(crate) fn book(&self) -> &dyn SessionCountBook {
        &*self.book
    }

    /// Queues `counters` for the next report.
    pub(crate) fn enqueue(&self, counters: Arc<MemoryCounters>) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(counters);
    }

    /// Reports every queued session now, in one batch; returns how many.
    pub fn flush(&self) -> usize {
        let queued = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        let reports: Vec<_> = queued
            .iter()
            .filter_map(|counters| counters.take_report())
            .filter(|(_, counts)| !counts.is_empty())
            .map(|(key, counts)| (key.clone(), counts))
            .collect();
        if !reports.is_empty() {
            self.book.report(reports);
        }
        queued.len()
    }

    /// Reports queued sessions every `every`, for ever (abort the task to stop).
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let reported = self.flush();
            if reported > 0 {
                tracing::trace!(reported, "per-session counts reported");
            }
        }
    }
}

impl Share {
    /// Marks the session changed; the first change since the last report queues it.
    pub(crate) fn changed(&self, counters: &Arc<MemoryCounters>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.sharing.enqueue(Arc::clone(counters));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use portcullis_policy::Ceiling;

    use super::*;
    use crate::counters::{CounterKey, CounterStore, Increment, Partition, reserve};

    /// A book that holds other nodes' values and records this node's reports.
    #[derive(Default)]
    struct Fake {
        elsewhere: f64,
        own: Vec<SessionCountValue>,
        reports: Mutex<Vec<Vec<SessionCountValue>>>,
    }

    impl SessionCountBook for Fake {
        fn others(&self, _key: &ShareKey, _counter: &CounterId, _window: Window) -> f64 {
            self.elsewhere
        }
        fn own(&self, _key: &ShareKey) -> Vec<SessionCountValue> {
            self.own.clone()
        }
        fn report(&self, reports: Vec<(ShareKey, Vec<SessionCountValue>)>) {
            let mut held = self.reports.lock().unwrap();
            held.extend(reports.into_iter().map(|(_, counts)| counts));
        }
    }

    fn counter() -> CounterId {
        CounterId {
            scope: Arc::from("delete_file"),
            name: Arc::from("calls"),
        }
    }

    const WINDOW: Window = Window {
        start_ms: 0,
        len_ms: 60_000,
    };

    fn one(max: f64) -> Vec<Increment> {
        vec![Increment {
            key: CounterKey {
                partition: Partition::Session,
                counter: counter(),
                window: WINDOW,
            },
            amount: 1.0,
            ceiling: Some(Ceiling { max, strict: false }),
        }]
    }

    fn shared(book: Fake) -> (Arc<Fake>, Arc<SessionCountSharing>, Arc<MemoryCounters>) {
        let book = Arc::new(book);
        let sharing = SessionCountSharing::new(Arc::clone(&book) as Arc<dyn SessionCountBook>);
        let counters = Arc::new(MemoryCounters::new());
        let key = ShareKey {
            session: Arc::from("s1"),
            member: Arc::from(""),
        };
        sharing.attach(&counters, key);
        (book, sharing, counters)
    }

    fn nothing_shared() -> Arc<dyn CounterStore> {
        Arc::new(MemoryCounters::new())
    }

    #[test]
    fn other_nodes_calls_count_toward_the_ceiling() {
        let (_, _, counters) = shared(Fake {
            elsewhere: 2.0,
            ..Fake::default()
        });
        reserve(Arc::clone(&counters), nothing_shared(), one(3.0))
            .unwrap()
            .commit();
        assert!(reserve(Arc::clone(&counters), nothing_shared(), one(3.0)).is_err());
        let key = &one(3.0)[0].key;
        assert_eq!(counters.current(key), 3.0);
    }

    #[test]
    fn only_committed_calls_are_reported_once_per_flush() {
        let (book, sharing, counters) = shared(Fake::default());
        for _ in 0..2 {
            reserve(Arc::clone(&counters), nothing_shared(), one(9.0))
                .unwrap()
                .commit();
        }
        reserve(Arc::clone(&counters), nothing_shared(), one(9.0))
            .unwrap()
            .rollback();
        let in_flight = reserve(Arc::clone(&counters), nothing_shared(), one(9.0)).unwrap();
        assert_eq!(sharing.flush(), 1, "two commits queue the session once");
        assert_eq!(sharing.flush(), 0, "nothing changed since");
        drop(in_flight);
        assert_eq!(*book.reports.lock().unwrap(), [vec![(counter(), WINDOW, 2.0)]]);
    }

    #[test]
    fn a_report_carries_only_each_counters_latest_window() {
        let (book, sharing, counters) = shared(Fake::default());
        let mut earlier = one(9.0);
        earlier[0].key.window.start_ms = 0;
        let mut later = one(9.0);
        later[0].key.window.start_ms = 60_000;
        for increments in [earlier, later.clone(), later] {
            reserve(Arc::clone(&counters), nothing_shared(), increments)
                .unwrap()
                .commit();
        }
        sharing.flush();
        let next = Window {
            start_ms: 60_000,
            len_ms: 60_000,
        };
        assert_eq!(*book.reports.lock().unwrap(), [vec![(counter(), next, 2.0)]]);
    }

    #[test]
    fn a_session_back_on_a_node_reports_on_from_what_it_reported_before() {
        let (book, sharing, counters) = shared(Fake {
            own: vec![(counter(), WINDOW, 2.0)],
            ..Fake::default()
        });
        assert!(reserve(Arc::clone(&counters), nothing_shared(), one(2.0)).is_err());
        reserve(Arc::clone(&counters), nothing_shared(), one(3.0))
            .unwrap()
            .commit();
        sharing.flush();
        assert_eq!(*book.reports.lock().unwrap(), [vec![(counter(), WINDOW, 3.0)]]);
    }
}

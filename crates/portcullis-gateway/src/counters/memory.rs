//! Counters in one process's memory: a mutex over a map. Reservations take nanoseconds.
//!
//! A session's counters in a cluster also carry a [`Share`]: the other nodes' contributions (read from
//! the applied state) count toward every check, and committed changes are queued for a report.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use portcullis_policy::{CounterId, Window};

use super::{CounterKey, CounterStore, Exhausted, Increment, Partition};
use crate::cluster::{SessionCountValue, Share, ShareKey};

/// One counter: everything reserved (committed or in flight), and what of it is committed.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    total: f64,
    committed: f64,
}

/// An in-memory [`CounterStore`], used for per-session counters and, on a single node, for the shared
/// ones.
#[derive(Default)]
pub struct MemoryCounters {
    values: Mutex<HashMap<CounterKey, Tally>>,
    /// Boxed: most sessions (standalone nodes, stateless clients) never share, and every idle
    /// session keeps its counters.
    share: OnceLock<Box<Share>>,
}

impl std::fmt::Debug for MemoryCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCounters")
            .field("values", &self.lock().len())
            .field("shared", &self.share.get().map(|s| &s.key))
            .finish()
    }
}

impl MemoryCounters {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CounterKey, Tally>> {
        // A poisoned map still holds valid numbers: every update is a single float write.
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What other nodes admitted for `key` in this session (zero when not shared).
    fn elsewhere(&self, key: &CounterKey) -> f64 {
        match (self.share.get(), &key.partition) {
            (Some(share), Partition::Session) => {
                share.sharing.book().others(&share.key, &key.counter, key.window)
            }
            _ => 0.0,
        }
    }

    /// Links these counters to the cluster; `false` when they already were.
    pub(crate) fn share(&self, share: Share) -> bool {
        self.share.set(Box::new(share)).is_ok()
    }

    /// Starts from values this node reported earlier (it held the session before), so its reports
    /// stay cumulative.
    pub(crate) fn seed(&self, counts: &[SessionCountValue]) {
        let mut values = self.lock();
        for (counter, window, value) in counts {
            let key = CounterKey {
                partition: Partition::Session,
                counter: counter.clone(),
                window: *window,
            };
            let tally = values.entry(key).or_default();
            tally.total += value;
            tally.committed += value;
        }
    }

    /// Queues these counters for the next report, when shared.
    pub fn committed_here(self: &Arc<Self>) {
        if let Some(share) = self.share.get() {
            share.changed(self);
        }
    }

    /// The committed values to report, and where to; clears the queued mark first, so a commit that
    /// comes meanwhile queues them again. Only each counter's latest window goes: windows are
    /// calendar-aligned, so an earlier one of the same length is over, and a long session's report
    /// stays small without reading a clock here.
    pub(crate) fn take_report(&self) -> Option<(&ShareKey, Vec<SessionCountValue>)> {
        let share = self.share.get()?;
        share.queued.store(false, Ordering::Release);
        let mut latest: HashMap<(&CounterId, u64), (Window, f64)> = HashMap::new();
        let values = self.lock();
        for (key, tally) in values.iter() {
            if key.partition != Partition::Session || tally.committed <= 0.0 {
                continue;
            }
            let slot = latest
                .entry((&key.counter, key.window.len_ms))
                .or_insert((key.window, tally.committed));
            if key.window.start_ms > slot.0.start_ms {
                *slot = (key.window, tally.committed);
            }
        }
        let counts = latest
            .into_iter()
            .map(|((counter, _), (window, value))| (counter.clone(), window, value))
            .collect();
        Some((&share.key, counts))
    }
}

impl CounterStore for MemoryCounters {
    fn current(&self, key: &CounterKey) -> f64 {
        let here = self.lock().get(key).map_or(0.0, |t| t.total);
        here + self.elsewhere(key)
    }

    fn reserve(&self, increments: &[Increment]) -> Result<(), Exhausted> {
        // Read before locking: the applied state is a snapshot, and nothing here waits on it. Counters
        // that are not shared skip it (and its allocation).
        let elsewhere: Option<Vec<f64>> = self
            .share
            .get()
            .map(|_| increments.iter().map(|inc| self.elsewhere(&inc.key)).collect());
        let mut values = self.lock();
        for (i, inc) in increments.iter().enumerate() {
            let elsewhere = elsewhere.as_ref().and_then(|e| e.get(i)).copied().unwrap_or(0.0);
            let now = values.get(&inc.key).map_or(0.0, |t| t.total) + elsewhere;
            if let Some(ceiling) = inc.ceiling
                && !ceiling.admits(now + inc.amount)
            {
                return Err(Exhausted {
                    counter: inc.key.counter.clone(),
                    ceiling,
                    window: inc.key.window,
                    unavailable: None,
                    retry_after_ms: None,
                });
            }
        }
        for inc in increments {
            values.entry(inc.key.clone()).or_default().total += inc.amount;
        }
        Ok(())
    }

    fn commit(&self, increments: &[Increment]) {
        // Reserved amounts already count; only the committed part (what gets reported) moves.
        let mut values = self.lock();
        for inc in increments {
            if let Some(tally) = values.get_mut(&inc.key) {
                tally.committed += inc.amount;
            }
        }
    }

    fn rollback(&self, increments: &[Increment]) {
        let mut values = self.lock();
        for inc in increments {
            if let Some(tally) = values.get_mut(&inc.key) {
                tally.total = (tally.total - inc.amount).max(tally.committed);
            }
        }
    }

    fn prune(&self, now_ms: u64) {
        self.lock().retain(|key, _| key.window.end_ms() > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portcullis_policy::{CounterId, Window};

    use super::*;
    use crate::counters::Partition;

    fn inc(amount: f64, max: Option<f64>) -> Increment {
        let ceiling = max.map(|max| portcullis_policy::Ceiling { max, strict: false });
        Increment {
            key: CounterKey {
                partition: Partition::Session,
                counter: CounterId {
                    scope: Arc::from("t"),
                    name: Arc::from("calls"),
                },
                window: Window {
                    start_ms: 0,
                    len_ms: 60_000,
                },
            },
            amount,
            ceiling,
        }
    }

    #[test]
    fn reserve_checks_the_ceiling_and_rollback_frees_it() {
        let store = MemoryCounters::new();
        store.reserve(&[inc(1.0, Some(2.0))]).unwrap();
        store.reserve(&[inc(1.0, Some(2.0))]).unwrap();
        assert!(store.reserve(&[inc(1.0, Some(2.0))]).is_err());
        store.rollback(&[inc(1.0, Some(2.0))]);
        assert_eq!(store.current(&inc(0.0, None).key), 1.0);
        store.reserve(&[inc(1.0, Some(2.0))]).unwrap();
        store.prune(60_000);
        assert_eq!(store.current(&inc(0.0, None).key), 0.0);
    }

    #[test]
    fn a_refused_reservation_changes_nothing() {
        let store = MemoryCounters::new();
        let mut other = inc(5.0, Some(1.0));
        other.key.counter.name = Arc::from("spend");
        assert!(store.reserve(&[inc(1.0, None), other]).is_err());
        assert_eq!(store.current(&inc(0.0, None).key), 0.0);
    }
}

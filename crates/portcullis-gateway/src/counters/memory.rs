//! Counters in one process's memory: a mutex over a map. Reservations take nanoseconds.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{CounterKey, CounterStore, Exhausted, Increment};

/// An in-memory [`CounterStore`], used for per-session counters and, on a single node, for the shared
/// ones.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    values: Mutex<HashMap<CounterKey, f64>>,
}

impl MemoryCounters {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CounterKey, f64>> {
        // A poisoned map still holds valid numbers: every update is a single float write.
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CounterStore for MemoryCounters {
    fn current(&self, key: &CounterKey) -> f64 {
        self.lock().get(key).copied().unwrap_or(0.0)
    }

    fn reserve(&self, increments: &[Increment]) -> Result<(), Exhausted> {
        let mut values = self.lock();
        for inc in increments {
            let now = values.get(&inc.key).copied().unwrap_or(0.0);
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
            *values.entry(inc.key.clone()).or_insert(0.0) += inc.amount;
        }
        Ok(())
    }

    fn commit(&self, _increments: &[Increment]) {
        // Reserved amounts already count; nothing changes when they become final.
    }

    fn rollback(&self, increments: &[Increment]) {
        let mut values = self.lock();
        for inc in increments {
            if let Some(value) = values.get_mut(&inc.key) {
                *value = (*value - inc.amount).max(0.0);
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

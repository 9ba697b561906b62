//! The policy engine's view of counters for one call: session counters from the session, the rest
//! from the shared store.

use std::sync::Arc;

use portcullis_policy::{CounterId, CounterView, Per, Reservation, Window};

use super::{CounterKey, CounterStore, Increment, MemoryCounters, Partition};

/// Reads counters for one call by one grant, under one policy, in one session.
pub struct CallCounters<'a> {
    /// The session's own counters.
    pub session: &'a MemoryCounters,
    /// Identity and global counters.
    pub shared: &'a dyn CounterStore,
    /// The grant id (`anonymous` for anonymous access).
    pub grant: &'a Arc<str>,
    /// The policy's name.
    pub policy: &'a Arc<str>,
}

impl CallCounters<'_> {
    /// The key a counter is stored under for this call.
    pub fn key(&self, counter: &CounterId, per: Per, window: Window) -> CounterKey {
        let partition = match per {
            Per::Session => Partition::Session,
            Per::Identity => Partition::Identity {
                grant: Arc::clone(self.grant),
                policy: Arc::clone(self.policy),
            },
            Per::Global => Partition::Global {
                policy: Arc::clone(self.policy),
            },
        };
        CounterKey {
            partition,
            counter: counter.clone(),
            window,
        }
    }

    /// Turns the engine's reservations into store increments.
    pub fn increments(&self, reservations: &[Reservation]) -> Vec<Increment> {
        reservations
            .iter()
            .map(|r| Increment {
                key: self.key(&r.counter, r.per, r.window),
                amount: r.amount,
                ceiling: r.ceiling,
            })
            .collect()
    }
}

impl CounterView for CallCounters<'_> {
    fn current(&self, counter: &CounterId, per: Per, window: Window) -> f64 {
        let key = self.key(counter, per, window);
        match per {
            Per::Session => self.session.current(&key),
            Per::Identity | Per::Global => self.shared.current(&key),
        }
    }
}

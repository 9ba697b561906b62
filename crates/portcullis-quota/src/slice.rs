//! One node's share of one cluster-wide counter in one window: what it was granted and what it spent.

use std::sync::Arc;

use portcullis_store::{CounterCeiling, CounterKey as StoreKey, QuotaGrant};

/// The local slice of one counter. Every field changes under the ledger's lock.
#[derive(Debug)]
pub struct Slice {
    /// The store's name for the counter.
    pub key: StoreKey,
    /// The ceiling the policy gave the counter (the latest seen).
    pub ceiling: Option<CounterCeiling>,
    /// Granted to this node in this window and not given back.
    pub held: f64,
    /// Reserved or committed out of `held`.
    pub used: f64,
    /// A grant reached a strict ceiling exactly: spending must stay strictly below `held`.
    pub capped: bool,
    /// Counted without a ceiling and not yet added to the store (such counters need no escrow).
    pub unsynced: f64,
    /// Amount asked for (admitted or not) since the planner last looked.
    pub demand: f64,
    /// Demand per second, smoothed.
    pub rate: f64,
    /// The largest single increment seen: no ask is smaller.
    pub unit: f64,
    /// Reservations made, to tell an idle slice from a busy one.
    pub uses: u64,
    /// `uses` when the planner last looked, and how many looks in a row saw no new use.
    pub uses_seen: u64,
    pub idle_looks: u32,
    /// A reservation failed for want of quota since the last grant.
    pub starved: bool,
    /// An ask for this slice is on its way to the store.
    pub in_flight: bool,
    /// The store answered the last ask with less headroom than one unit: the counter is full.
    pub full: bool,
    /// How many nodes shared the counter when last seen (asks are capped at a fair share).
    pub peers: usize,
    /// The store can't name this counter (the command would not validate), so it admits nothing.
    pub unnamed: Option<Arc<str>>,
}

impl Slice {
    /// An empty slice for `key`.
    pub fn new(key: StoreKey, ceiling: Option<CounterCeiling>) -> Self {
        Self {
            key,
            ceiling,
            held: 0.0,
            used: 0.0,
            capped: false,
            unsynced: 0.0,
            demand: 0.0,
            rate: 0.0,
            unit: 0.0,
            uses: 0,
            uses_seen: 0,
            idle_looks: 0,
            starved: false,
            in_flight: false,
            full: false,
            peers: 1,
            unnamed: None,
        }
    }

    /// What this node holds and has not reserved.
    pub fn spare(&self) -> f64 {
        (self.held - self.used).max(0.0)
    }

    /// Whether `amount` more fits in the slice.
    pub fn admits(&self, amount: f64) -> bool {
        let total = self.used + amount;
        if self.capped {
            total < self.held
        } else {
            total <= self.held
        }
    }

    /// Takes a grant from the store.
    pub fn granted(&mut self, grant: &QuotaGrant) {
        self.held += grant.granted;
        self.capped |= grant.capped;
        self.full = grant.remaining < self.unit.max(f64::MIN_POSITIVE);
        if grant.granted > 0.0 {
            self.starved = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice() -> Slice {
        let key = StoreKey {
            counter: "p.calls".to_owned(),
            partition: "global:p".to_owned(),
            window_start_ms: 0,
            window_len_ms: 1_000,
        };
        Slice::new(key, None)
    }

    #[test]
    fn a_capped_slice_admits_strictly_less_than_it_holds() {
        let mut s = slice();
        s.granted(&QuotaGrant {
            granted: 2.0,
            capped: false,
            remaining: 5.0,
        });
        assert!(s.admits(2.0) && !s.admits(2.5));
        s.capped = true;
        assert!(!s.admits(2.0) && s.admits(1.0));
    }

    #[test]
    fn a_grant_with_no_headroom_left_marks_the_counter_full() {
        let mut s = slice();
        s.unit = 1.0;
        s.starved = true;
        s.granted(&QuotaGrant {
            granted: 1.0,
            capped: false,
            remaining: 0.5,
        });
        assert!(s.full && !s.starved);
        assert_eq!(s.spare(), 1.0);
    }
}

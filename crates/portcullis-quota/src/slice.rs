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
    /// The counter's epoch `held` was granted in; a reset starts the next one (`renew`).
    pub epoch: u64,
    /// Reserved and not yet committed or rolled back, whichever epoch it came from.
    pub pending: f64,
    /// Reservations from an older epoch that may still roll back: their units went with that epoch,
    /// so rollbacks are absorbed here (up to this much) instead of refilling the current slice.
    pub stale: f64,
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
            epoch: 0,
            pending: 0.0,
            stale: 0.0,
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

    /// The counter was reset into `epoch`: what this node held before belongs to the old budget,
    /// which the store already forgot, so it is dropped rather than spent on top of the new one.
    pub fn renew(&mut self, epoch: u64) {
        self.epoch = epoch;
        // Everything in flight may be from the old epoch; counting too much here only wastes a
        // rollback's units, counting too little would hand old units to the new budget.
        self.stale = self.pending;
        self.held = 0.0;
        self.used = 0.0;
        self.capped = false;
        self.full = false;
    }

    /// A reservation of `amount` became final.
    pub fn committed(&mut self, amount: f64) {
        self.pending = (self.pending - amount).max(0.0);
    }

    /// A reservation of `amount` was taken back: its units return to the slice unless they may have
    /// come from an epoch before the last reset.
    pub fn rolled_back(&mut self, amount: f64) {
        self.pending = (self.pending - amount).max(0.0);
        let absorbed = self.stale.min(amount);
        self.stale -= absorbed;
        self.used = (self.used - (amount - absorbed)).max(0.0);
    }

    /// Takes a grant from the store.
    pub fn granted(&mut self, grant: &QuotaGrant) {
        // A grant charged before a reset this slice already saw went with the old budget.
        if grant.epoch < self.epoch {
            return;
        }
        if grant.epoch > self.epoch {
            self.renew(grant.epoch);
        }
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
            epoch: 0,
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
            epoch: 0,
        });
        assert!(s.full && !s.starved);
        assert_eq!(s.spare(), 1.0);
    }

    fn grant(granted: f64, epoch: u64) -> QuotaGrant {
        QuotaGrant {
            granted,
            capped: false,
            remaining: 100.0,
            epoch,
        }
    }

    #[test]
    fn a_reset_drops_the_old_slice_and_old_rollbacks_do_not_refill_the_new_one() {
        let mut s = slice();
        s.granted(&grant(5.0, 0));
        // Three reserved (two still in flight), then the counter is reset.
        s.used = 3.0;
        s.pending = 2.0;
        s.granted(&grant(4.0, 1));
        assert_eq!((s.epoch, s.held, s.used, s.spare()), (1, 4.0, 0.0, 4.0));
        // A grant charged before the reset arrives late: it went with the old budget.
        s.granted(&grant(9.0, 0));
        assert_eq!(s.held, 4.0);
        // The new epoch's slice is spent; the two old reservations roll back: no unit comes back.
        s.used = 4.0;
        s.pending += 4.0;
        s.rolled_back(1.0);
        s.rolled_back(1.0);
        assert_eq!(s.spare(), 0.0);
        // Once the old ones are accounted for, rollbacks refill the slice again.
        s.rolled_back(1.0);
        assert_eq!(s.spare(), 1.0);
        s.committed(3.0);
        assert_eq!(s.pending, 0.0);
    }
}

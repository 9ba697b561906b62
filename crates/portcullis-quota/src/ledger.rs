//! The node's ledger of slices: the synchronous [`CounterStore`] the data plane reserves from. It
//! never waits on the network: a reservation spends from the local slice or is refused at once, and
//! the refill task (`refill.rs`) keeps slices topped up in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use portcullis_gateway::counters::{CounterKey, CounterStore, Exhausted, Increment};
use portcullis_store::{AppRequest, NodeId, StateSnapshot};
use tokio::sync::{Notify, watch};

use crate::key::store_key;
use crate::slice::Slice;

/// How soon to retry while this node is leasing its first slice of a window.
const RETRY_WHILE_LEASING_MS: u64 = 100;
/// How soon to retry while the cluster can't be reached.
const RETRY_WITHOUT_QUORUM_MS: u64 = 1_000;

/// Cluster-wide counters on one node: local slices of quota leased from the replicated store.
pub struct Ledger {
    node: NodeId,
    slices: Mutex<HashMap<CounterKey, Slice>>,
    applied: watch::Receiver<Arc<StateSnapshot>>,
    wake: Notify,
    /// Why the last exchange with the cluster failed; `None` while it works.
    outage: Mutex<Option<Arc<str>>>,
    /// Quota entries this node proposed (for the operator's logs and the benchmarks).
    pub(crate) entries: AtomicU64,
}

impl Ledger {
    /// A ledger for node `node`, reading counter values from the store's applied state.
    pub fn new(node: NodeId, applied: watch::Receiver<Arc<StateSnapshot>>) -> Arc<Self> {
        Arc::new(Self {
            node,
            slices: Mutex::new(HashMap::new()),
            applied,
            wake: Notify::new(),
            outage: Mutex::new(None),
            entries: AtomicU64::new(0),
        })
    }

    /// The node the slices are leased to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// How many quota entries this node proposed so far.
    pub fn entries_proposed(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    pub(crate) fn slices(&self) -> MutexGuard<'_, HashMap<CounterKey, Slice>> {
        // A poisoned map still holds valid numbers: each update is a few float writes.
        self.slices.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn applied(&self) -> Arc<StateSnapshot> {
        Arc::clone(&self.applied.borrow())
    }

    pub(crate) fn wake(&self) -> &Notify {
        &self.wake
    }

    /// Records whether the cluster answered; returns whether that changed.
    pub(crate) fn set_outage(&self, outage: Option<Arc<str>>) -> bool {
        let mut current = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = current.is_some() != outage.is_some();
        *current = outage;
        changed
    }

    fn outage(&self) -> Option<Arc<str>> {
        self.outage.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn charged(&self, key: &portcullis_store::CounterKey) -> f64 {
        self.applied
            .borrow()
            .state
            .counters
            .get(key)
            .copied()
            .unwrap_or(0.0)
    }

    /// Why `inc` can't be had from `slice` right now.
    fn refusal(&self, inc: &Increment, slice: &Slice, ceiling: portcullis_policy::Ceiling) -> Exhausted {
        let (unavailable, retry_after_ms) = if let Some(why) = &slice.unnamed {
            (Some(Arc::clone(why)), None)
        } else if slice.full {
            (None, None)
        } else if let Some(outage) = self.outage() {
            let why = format!(
                "this node cannot reach a quorum of the cluster ({outage}) and has spent the quota it held"
            );
            (Some(why.into()), Some(RETRY_WITHOUT_QUORUM_MS))
        } else {
            let why = "this node is leasing its share of the cluster-wide quota; retry shortly";
            (Some(why.into()), Some(RETRY_WHILE_LEASING_MS))
        };
        Exhausted {
            counter: inc.key.counter.clone(),
            ceiling,
            window: inc.key.window,
            unavailable,
            retry_after_ms,
        }
    }
}

/// A new slice for `inc`, with a reason to admit nothing when the store can't name its counter.
fn new_slice(inc: &Increment) -> Slice {
    let key = store_key(&inc.key);
    let unnamed = AppRequest::ResetCounter { key: key.clone() }
        .validate()
        .err()
        .map(|error| Arc::from(format!("the replicated store cannot name this counter: {error}")));
    let mut slice = Slice::new(key, inc.ceiling.map(Into::into));
    slice.unnamed = unnamed;
    slice
}

impl CounterStore for Ledger {
    fn current(&self, key: &CounterKey) -> f64 {
        // What the cluster charged, less what this node holds unspent: other nodes' unspent slices
        // still count, since only they can spend them.
        let local = self
            .slices()
            .get(key)
            .map(|slice| (slice.key.clone(), slice.spare() - slice.unsynced));
        match local {
            Some((stored, mine)) => (self.charged(&stored) - mine).max(0.0),
            None => self.charged(&store_key(key)),
        }
    }

    fn reserve(&self, increments: &[Increment]) -> Result<(), Exhausted> {
        // Taken before the slices' lock, so the lock is never held while reading the watch.
        let applied = self.applied();
        let mut slices = self.slices();
        let mut refused = None;
        let mut low = false;
        for inc in increments {
            if !slices.contains_key(&inc.key) {
                slices.insert(inc.key.clone(), new_slice(inc));
            }
            let Some(slice) = slices.get_mut(&inc.key) else {
                continue;
            };
            slice.demand += inc.amount;
            slice.unit = slice.unit.max(inc.amount);
            if let Some(ceiling) = inc.ceiling {
                // Never spend a slice from before a reset this node has applied.
                let epoch = applied.state.quota_epoch(&slice.key);
                if epoch > slice.epoch {
                    slice.renew(epoch);
                }
                slice.ceiling = Some(ceiling.into());
                if refused.is_none() && (slice.unnamed.is_some() || !slice.admits(inc.amount)) {
                    slice.starved = true;
                    // Refused calls are demand too: a slice that had gone idle (and gave its quota
                    // back) must keep the grant this starvation asks for, not return it at once.
                    slice.idle_looks = 0;
                    refused = Some(self.refusal(inc, slice, ceiling));
                }
            }
        }
        if let Some(refused) = refused {
            drop(slices);
            self.wake.notify_one();
            return Err(refused);
        }
        for inc in increments {
            if let Some(slice) = slices.get_mut(&inc.key) {
                slice.uses += 1;
                if inc.ceiling.is_some() {
                    slice.used += inc.amount;
                    slice.pending += inc.amount;
                    low |= slice.spare() < slice.unit;
                } else {
                    slice.unsynced += inc.amount;
                }
            }
        }
        drop(slices);
        if low {
            self.wake.notify_one();
        }
        Ok(())
    }

    fn commit(&self, increments: &[Increment]) {
        // The slice was charged to the cluster when it was granted; spending it is final locally,
        // and only the count of reservations in flight changes.
        let mut slices = self.slices();
        for inc in increments {
            if inc.ceiling.is_some()
                && let Some(slice) = slices.get_mut(&inc.key)
            {
                slice.committed(inc.amount);
            }
        }
    }

    fn rollback(&self, increments: &[Increment]) {
        let mut slices = self.slices();
        for inc in increments {
            if let Some(slice) = slices.get_mut(&inc.key) {
                if inc.ceiling.is_some() {
                    slice.rolled_back(inc.amount);
                } else {
                    slice.unsynced -= inc.amount;
                }
            }
        }
    }

    fn prune(&self, now_ms: u64) {
        // A slice dies with its window: nothing to give back, the store prunes the counter.
        self.slices().retain(|key, _| key.window.end_ms() > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_gateway::counters::Partition;
    use portcullis_policy::{Ceiling, CounterId, Window};
    use portcullis_store::QuotaGrant;

    use super::*;
    use crate::plan::{Tuning, plan};

    fn increment() -> Increment {
        Increment {
            key: CounterKey {
                partition: Partition::Identity {
                    grant: Arc::from("agent"),
                    policy: Arc::from("p"),
                },
                counter: CounterId {
                    scope: Arc::from("echo"),
                    name: Arc::from("calls"),
                },
                window: Window {
                    start_ms: 0,
                    len_ms: 60_000,
                },
            },
            amount: 1.0,
            ceiling: Some(Ceiling {
                max: 1e9,
                strict: false,
            }),
        }
    }

    #[test]
    fn a_slice_that_went_idle_keeps_the_grant_its_refused_calls_asked_for() {
        let (_publish, applied) = watch::channel(Arc::new(StateSnapshot::default()));
        let ledger = Ledger::new(1, applied);
        let inc = increment();
        let tuning = Tuning::default();
        let state = portcullis_store::State::default();
        assert!(ledger.reserve(std::slice::from_ref(&inc)).is_err());
        // The slice sat idle long enough to give its quota back; then calls come and are refused.
        if let Some(slice) = ledger.slices().get_mut(&inc.key) {
            slice.idle_looks = tuning.idle_looks * 10;
        }
        assert!(ledger.reserve(std::slice::from_ref(&inc)).is_err());
        let asked = plan(&mut ledger.slices(), &state, 1, 1_000, 0, &tuning, Duration::ZERO);
        assert_eq!(asked.asks.len(), 1);
        // The grant arrives and the planner, woken by the refusals, looks again at once.
        if let Some(slice) = ledger.slices().get_mut(&inc.key) {
            slice.in_flight = false;
            slice.granted(&QuotaGrant {
                granted: 100.0,
                capped: false,
                remaining: 1e9,
                epoch: 0,
            });
        }
        let next = plan(&mut ledger.slices(), &state, 1, 1_000, 0, &tuning, Duration::ZERO);
        assert!(next.returns.is_empty(), "the grant went straight back: {next:?}");
        assert!(ledger.reserve(std::slice::from_ref(&inc)).is_ok());
    }
}

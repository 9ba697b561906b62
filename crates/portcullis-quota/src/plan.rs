//! What a node asks the cluster for at one moment: the planner looks at every slice and batches the
//! refills, the returns and the plain counts into one exchange.

use std::collections::HashMap;
use std::time::Duration;

use portcullis_gateway::counters::CounterKey;
use portcullis_store::{CounterKey as StoreKey, NodeId, QuotaAsk, QuotaReturn, State};

use crate::key::next_window;
use crate::slice::Slice;

/// The longest a slice is sized to last, however slow exchanges are.
const MAX_HORIZON: Duration = Duration::from_secs(1);
/// The earliest a slice is refilled before it would run out, however slow exchanges are.
const MAX_LOW: Duration = Duration::from_millis(500);

/// How slices are sized and when they move.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// How often the planner looks at the slices (a starved reservation wakes it sooner).
    pub tick: Duration,
    /// A refill aims to cover this much of the recent demand.
    pub horizon: Duration,
    /// A slice is refilled when what it has left covers less than this much demand.
    pub low: Duration,
    /// A slice unused for this many looks gives its spare quota back.
    pub idle_looks: u32,
    /// How long before a window ends a busy slice leases for the next window.
    pub lead: Duration,
    /// How long an exchange with the cluster may take before the node counts it as unreachable.
    pub exchange_timeout: Duration,
    /// How long to wait after a failed exchange before the next.
    pub backoff: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(10),
            horizon: Duration::from_millis(300),
            low: Duration::from_millis(150),
            idle_looks: 50,
            lead: Duration::from_millis(500),
            exchange_timeout: Duration::from_secs(3),
            backoff: Duration::from_millis(200),
        }
    }
}

/// One exchange with the cluster.
#[derive(Debug, Default)]
pub struct Batch {
    /// Refills, with the local slice each one is for.
    pub asks: Vec<(CounterKey, QuotaAsk)>,
    /// Spare quota given back.
    pub returns: Vec<QuotaReturn>,
    /// Counts without a ceiling, added to the store as they are.
    pub adds: Vec<(CounterKey, StoreKey, f64)>,
}

impl Batch {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.asks.is_empty() && self.returns.is_empty() && self.adds.is_empty()
    }
}

/// Plans one exchange for node `node` at `now_ms`, `elapsed_ms` after the last plan, when an
/// exchange has lately taken `exchange` to answer. Marks the slices it asks for as in flight and takes
/// returned quota out of them.
pub fn plan(
    slices: &mut HashMap<CounterKey, Slice>,
    state: &State,
    node: NodeId,
    now_ms: u64,
    elapsed_ms: u64,
    tuning: &Tuning,
    exchange: Duration,
) -> Batch {
    // A slice must last while its refill is on the way: on a slow cluster, refill sooner and more.
    // Bounded, so one slow exchange doesn't make a node hoard.
    let low_s = tuning.low.max(exchange * 2).min(MAX_LOW).as_secs_f64();
    let horizon_s = tuning.horizon.max(exchange * 4).min(MAX_HORIZON).as_secs_f64();
    slices.retain(|key, _| key.window.end_ms() > now_ms);
    let mut batch = Batch::default();
    let mut upcoming = Vec::new();
    for (key, slice) in slices.iter_mut() {
        observe(slice, elapsed_ms);
        if slice.unsynced != 0.0 {
            batch.adds.push((key.clone(), slice.key.clone(), slice.unsynced));
            slice.unsynced = 0.0;
        }
        let Some(ceiling) = slice.ceiling else {
            continue;
        };
        if slice.in_flight || slice.unnamed.is_some() {
            continue;
        }
        let view = state.quota(&slice.key);
        if view.epoch > slice.epoch {
            slice.renew(view.epoch);
        }
        let sharing = view
            .by_node
            .map_or(0, |nodes| nodes.len() + usize::from(!nodes.contains_key(&node)));
        slice.peers = slice.peers.max(sharing);
        if slice.idle_looks >= tuning.idle_looks && !slice.capped && slice.spare() > 0.0 {
            let amount = slice.spare();
            slice.held -= amount;
            batch.returns.push(QuotaReturn {
                key: slice.key.clone(),
                amount,
                epoch: slice.epoch,
            });
            continue;
        }
        if slice.rate > 0.0 && now_ms.saturating_add(millis(tuning.lead)) >= key.window.end_ms() {
            let next = next_window(key);
            let slice = carried(slice, &next);
            upcoming.push((next, slice));
        }
        let unit = slice.unit.max(f64::MIN_POSITIVE);
        let remaining = (ceiling.max - view.charged).max(0.0);
        // Full as far as the applied state shows (a return elsewhere may open it again).
        slice.full = remaining < unit;
        let low = (slice.rate * low_s).max(unit);
        if slice.full || !(slice.starved || (slice.rate > 0.0 && slice.spare() < low)) {
            continue;
        }
        // Enough for the horizon's demand, but never more than a fair share of what is left, so
        // slices shrink to single units near the limit and a dying node strands little.
        // Counting one more node than seen: a node that asks first must not take everything.
        let share = (remaining / (slice.peers.max(1) as f64 + 1.0)).max(unit);
        // A slice without measured demand (new, or idle long enough for its rate to fade) starts
        // with an eighth of its share, so the calls right behind the first don't each wait for a lease.
        let opening = if slice.rate * horizon_s < unit {
            share / 8.0
        } else {
            0.0
        };
        let target = (slice.rate * horizon_s).max(unit).max(opening);
        let want = ((target - slice.spare()).min(share) / unit).floor().max(1.0) * unit;
        slice.in_flight = true;
        batch.asks.push((
            key.clone(),
            QuotaAsk {
                key: slice.key.clone(),
                want,
                ceiling,
            },
        ));
    }
    for (next, slice) in upcoming {
        slices.entry(next).or_insert(slice);
    }
    batch
}

/// Folds the demand since the last look into the smoothed rate, and counts idle looks. A look sooner
/// than a tick (woken by a starved reservation) leaves both alone: too short to measure. While the
/// counter is full the policy engine refuses calls before they reach the slice, so demand can't be
/// seen: the rate stays as it was, and the next window's slice is sized by it.
fn observe(slice: &mut Slice, elapsed_ms: u64) {
    if elapsed_ms == 0 {
        return;
    }
    if !slice.full {
        let rate = slice.demand * 1_000.0 / elapsed_ms as f64;
        slice.rate = if slice.rate == 0.0 {
            rate
        } else {
            0.7 * slice.rate + 0.3 * rate
        };
    }
    slice.demand = 0.0;
    if slice.uses == slice.uses_seen {
        slice.idle_looks = slice.idle_looks.saturating_add(1);
    } else {
        slice.idle_looks = 0;
        slice.uses_seen = slice.uses;
    }
}

/// The next window's slice, sized like this one, asked for on the next look.
fn carried(current: &Slice, next: &CounterKey) -> Slice {
    let mut slice = Slice::new(crate::key::store_key(next), current.ceiling);
    slice.rate = current.rate;
    slice.unit = current.unit;
    slice.peers = current.peers;
    slice.unnamed.clone_from(&current.unnamed);
    slice
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

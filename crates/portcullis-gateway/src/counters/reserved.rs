//! A reservation in flight: committed when the upstream succeeds, rolled back otherwise (also when
//! dropped, so a lost call never keeps its reservation).

use std::sync::Arc;

use super::{CounterStore, Exhausted, Increment, MemoryCounters, Partition};

/// Increments reserved for one forwarded call.
#[must_use = "a reservation is rolled back when dropped"]
pub struct Reserved {
    session: Arc<MemoryCounters>,
    shared: Arc<dyn CounterStore>,
    session_items: Vec<Increment>,
    shared_items: Vec<Increment>,
    settled: bool,
}

/// Reserves `increments`, session ones in the session store and the rest in the shared store, all or
/// nothing.
///
/// # Errors
/// [`Exhausted`] when a counter is full; nothing stays reserved then.
pub fn reserve(
    session: Arc<MemoryCounters>,
    shared: Arc<dyn CounterStore>,
    increments: Vec<Increment>,
) -> Result<Reserved, Exhausted> {
    let (session_items, shared_items): (Vec<_>, Vec<_>) = increments
        .into_iter()
        .partition(|inc| inc.key.partition == Partition::Session);
    session.reserve(&session_items)?;
    if let Err(full) = shared.reserve(&shared_items) {
        session.rollback(&session_items);
        return Err(full);
    }
    Ok(Reserved {
        session,
        shared,
        session_items,
        shared_items,
        settled: false,
    })
}

impl Reserved {
    /// Makes the reservation final.
    pub fn commit(mut self) {
        self.session.commit(&self.session_items);
        self.shared.commit(&self.shared_items);
        self.settled = true;
        if !self.session_items.is_empty() {
            self.session.committed_here();
        }
    }

    /// Gives the reservation back.
    pub fn rollback(mut self) {
        self.undo();
    }

    fn undo(&mut self) {
        if !self.settled {
            self.session.rollback(&self.session_items);
            self.shared.rollback(&self.shared_items);
            self.settled = true;
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.undo();
    }
}

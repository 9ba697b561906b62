//! How a gateway counter key is named in the replicated store.

use portcullis_gateway::counters::{CounterKey, Partition};
use portcullis_store::CounterKey as StoreKey;

/// The store's key for a gateway counter: `scope.name`, a partition string that says whose calls it
/// counts (`identity:<policy>:<grant>` or `global:<policy>`), and the window.
pub fn store_key(key: &CounterKey) -> StoreKey {
    let partition = match &key.partition {
        Partition::Identity { grant, policy } => format!("identity:{policy}:{grant}"),
        Partition::Global { policy } => format!("global:{policy}"),
        // Session counters never reach the shared store; named anyway so nothing here can fail.
        Partition::Session => "session".to_owned(),
    };
    StoreKey {
        counter: key.counter.to_string(),
        partition,
        window_start_ms: key.window.start_ms,
        window_len_ms: key.window.len_ms,
    }
}

/// The same counter in the window that follows `key`'s.
pub fn next_window(key: &CounterKey) -> CounterKey {
    let mut next = key.clone();
    next.window.start_ms = key.window.end_ms();
    next
}

//! Cluster-wide rate limits and spend caps: escrowed quota slices leased from the replicated store.
//!
//! The authoritative headroom of each identity or global counter, per window, lives in the store
//! (`LeaseQuota` charges a slice to a node when it grants it). A node decides every call from its own
//! slice, synchronously and without a network round trip ([`Ledger`], the gateway's
//! [`CounterStore`](portcullis_gateway::counters::CounterStore)); a background task ([`run`]) leases
//! more before a slice runs dry, sized by recent demand and capped by a fair share of what is left,
//! leases the next window's slice shortly before it starts, and gives idle slices back. Since every
//! slice is charged before it is spent, the cluster never admits more than the limit: a node that dies
//! loses its slice for the window, and a node cut off from the quorum spends what it holds, then
//! refuses with "quota unavailable" and the cause.
//!
//! Reserve, commit and roll back stay local: a rolled-back reservation returns to the node's slice,
//! and consumption becomes final when the call commits.

mod key;
mod ledger;
mod plan;
mod refill;
mod slice;

pub use key::store_key;
pub use ledger::Ledger;
pub use plan::Tuning;
pub use refill::run;

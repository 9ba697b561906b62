//! `/readyz` for a clustered node: ready once it has applied state from the log and is in touch with a working leader.

use portcullis_gateway::cluster::Readiness;
use portcullis_store::Store;

/// Asks the store whether the node can serve.
pub struct StoreReadiness(pub Store);

impl Readiness for StoreReadiness {
    fn not_ready(&self) -> Option<String> {
        // A node that never applied an entry would enforce an empty state: every call denied.
        if self.0.current().applied_index.is_none() {
            return Some("the store has applied no state yet".to_owned());
        }
        if !self.0.in_touch() {
            return Some(
                "not in touch with a raft leader (an election is running, or this node is cut off from the quorum)"
                    .to_owned(),
            );
        }
        None
    }
}

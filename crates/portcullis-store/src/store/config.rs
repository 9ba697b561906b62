//! How a store node runs: where its data lives, who it is, and its Raft timings.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use openraft::SnapshotPolicy;

use crate::{NodeId, StoreError};

/// Settings for one store node.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// This node's id; stable across restarts.
    pub node_id: NodeId,
    /// The data directory (the Raft log and the last snapshot live here).
    pub dir: PathBuf,
    /// The address other nodes reach this node's Raft service at.
    pub raft_addr: String,
    /// Outbound Raft connections leave from this address when set (usually the Raft listener's), so
    /// peers and firewalls see one address per node in both directions.
    pub source_ip: Option<IpAddr>,
    /// How long [`crate::Store::propose`] waits for a commit before reporting no quorum.
    pub propose_timeout: Duration,
    /// How often the leader sends heartbeats.
    pub heartbeat: Duration,
    /// A follower starts an election after hearing nothing for a random time in this range.
    pub election_timeout: (Duration, Duration),
    /// Take a snapshot after this many entries since the last one (then the log before it is purged).
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot, so a briefly lagging follower needs no snapshot.
    pub keep_after_snapshot: u64,
}

impl StoreConfig {
    /// Defaults for node `node_id` with data in `dir`.
    pub fn new(node_id: NodeId, dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id,
            dir: dir.into(),
            raft_addr: String::new(),
            source_ip: None,
            propose_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(400), Duration::from_millis(800)),
            snapshot_every: 5_000,
            keep_after_snapshot: 1_000,
        }
    }

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, StoreError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = openraft::Config {
            cluster_name: "portcullis".to_owned(),
            heartbeat_interval: millis(self.heartbeat),
            election_timeout_min: millis(self.election_timeout.0),
            election_timeout_max: millis(self.election_timeout.1),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_after_snapshot,
            ..openraft::Config::default()
        };
        config
            .validate()
            .map_err(|error| StoreError::Raft(format!("invalid raft timing settings: {error}")))
    }
}

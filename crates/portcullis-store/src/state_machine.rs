//! The state machine: [`State`] in memory, snapshots durable in redb.
//!
//! This is openraft's "transient state machine" layout. Applying touches no disk; a snapshot (the
//! serialized state) is written to redb when built or installed, and the committed log id is kept by
//! the log store. On restart openraft installs the last snapshot and re-applies the committed log
//! after it, so the node comes back with exactly the state it had applied.
//!
//! After each batch of entries the new state is published on a `watch` channel, before the
//! proposers' responses are sent, so a proposer that sees its response also sees its change.

mod snapshot_file;

use std::io;
use std::path::Path;
use std::sync::Arc;

use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use tokio::sync::watch;

use crate::codec::{decode, encode};
use crate::raft::{LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};
use crate::{AppResponse, Applied, State, StateSnapshot};
use snapshot_file::SnapshotFile;

/// The Raft state machine over [`State`].
pub struct StateMachineStore {
    applied: Option<LogId>,
    membership: StoredMembership,
    state: State,
    snapshots: SnapshotFile,
    publisher: watch::Sender<Arc<StateSnapshot>>,
}

impl std::fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore")
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

impl StateMachineStore {
    /// Opens (or creates) the snapshot database at `path`. The state starts empty: openraft restores
    /// it from the last snapshot and the committed log when the Raft node starts.
    ///
    /// # Errors
    /// When the file can't be created or opened, or is not a redb database.
    pub fn open(path: &Path) -> io::Result<Self> {
        let (publisher, _) = watch::channel(Arc::new(StateSnapshot::default()));
        Ok(Self {
            applied: None,
            membership: StoredMembership::default(),
            state: State::default(),
            snapshots: SnapshotFile::open(path)?,
            publisher,
        })
    }

    /// A receiver of the applied state, updated after every batch of applied entries.
    pub fn subscribe(&self) -> watch::Receiver<Arc<StateSnapshot>> {
        self.publisher.subscribe()
    }

    /// Becomes `true` once the snapshot database is closed.
    pub(crate) fn closed(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.snapshots.closed()
    }

    fn publish(&self) {
        self.publisher.send_replace(Arc::new(StateSnapshot {
            applied_index: self.applied.as_ref().map(|id| id.index),
            state: self.state.clone(),
        }));
    }
}

/// Builds a snapshot from a copy of the state taken when the builder was made.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    state: State,
    snapshots: SnapshotFile,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let data = encode(&self.state)?;
        self.snapshots.save(&self.meta, &data).await?;
        tracing::info!(last_log_id = ?self.meta.last_log_id, bytes = data.len(), "snapshot built");
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: data,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut replies = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let index = entry.log_id.index;
            let response = match entry.payload {
                EntryPayload::Blank => AppResponse::Applied(Applied::Nothing),
                EntryPayload::Normal(command) => self.state.apply(index, command),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    AppResponse::Applied(Applied::Nothing)
                }
            };
            self.applied = Some(entry.log_id);
            if let Some(responder) = responder {
                replies.push((responder, response));
            }
        }
        self.publish();
        for (responder, response) in replies {
            responder.send(response);
        }
        Ok(())
    }

    async fn try_create_snapshot_builder(&mut self, _force: bool) -> Option<Self::SnapshotBuilder> {
        Some(self.get_snapshot_builder().await)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            meta: SnapshotMeta {
                last_log_id: self.applied,
                last_membership: self.membership.clone(),
            },
            state: self.state.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotData) -> io::Result<()> {
        let state: State = decode(&snapshot)?;
        self.snapshots.save(meta, &snapshot).await?;
        self.state = state;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.publish();
        tracing::info!(last_log_id = ?meta.last_log_id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        self.snapshots.load()
    }
}

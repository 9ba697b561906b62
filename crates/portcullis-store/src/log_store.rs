//! The Raft log and vote, durable in a redb database.
//!
//! Every write is one redb write transaction committed with immediate durability (redb fsyncs before
//! `commit` returns), run on the blocking pool. An append is acknowledged to openraft only after its
//! commit returned, and openraft issues writes one at a time, so they reach disk in order.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::codec::{blocking, decode, encode, io_err};
use crate::db_file::DbFile;
use crate::raft::{Entry, LogId, TypeConfig, Vote};

/// Log entries by index.
const LOGS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("logs");
/// The vote, the last purged log id and the committed log id.
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

const VOTE: &str = "vote";
const NODE_ID: &str = "node_id";
const PURGED: &str = "last_purged";
const COMMITTED: &str = "committed";

/// The Raft log store. Cheap to clone: clones share the database (and serve as log readers).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DbFile>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens (or creates) the log database at `path`.
    ///
    /// # Errors
    /// When the file can't be created or opened, or is not a redb database.
    pub fn open(path: &Path) -> io::Result<Self> {
        let db = DbFile::create(path)?;
        let txn = db.begin_write().map_err(io_err)?;
        txn.open_table(LOGS).map_err(io_err)?;
        txn.open_table(META).map_err(io_err)?;
        txn.commit().map_err(io_err)?;
        Ok(Self { db })
    }

    /// Becomes `true` once every clone of this store is gone and the file is closed.
    pub(crate) fn closed(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.db.closed()
    }

    /// Records `node_id` as the owner of this log, or returns the other node id it already belongs to.
    /// A node's id must never change under its data: Raft's votes and log are that node's.
    pub(crate) async fn claim(&self, node_id: crate::NodeId) -> io::Result<Option<crate::NodeId>> {
        match self.read_meta::<crate::NodeId>(NODE_ID)? {
            Some(owner) if owner != node_id => Ok(Some(owner)),
            Some(_) => Ok(None),
            None => {
                self.write_meta(NODE_ID, &node_id, Durability::Immediate).await?;
                Ok(None)
            }
        }
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(META).map_err(io_err)?;
        match table.get(key).map_err(io_err)? {
            Some(bytes) => decode(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
        durability: Durability,
    ) -> io::Result<()> {
        let bytes = encode(value)?;
        let db = Arc::clone(&self.db);
        blocking(move || {
            let mut txn = db.begin_write().map_err(io_err)?;
            txn.set_durability(durability).map_err(io_err)?;
            txn.open_table(META)
                .map_err(io_err)?
                .insert(key, bytes.as_slice())
                .map_err(io_err)?;
            txn.commit().map_err(io_err)
        })
        .await
    }

    fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(LOGS).map_err(io_err)?;
        match table.last().map_err(io_err)? {
            Some((_, bytes)) => decode::<Entry>(bytes.value()).map(|entry| Some(entry.log_id)),
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        if is_empty(bounds) {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(LOGS).map_err(io_err)?;
        let mut entries = Vec::new();
        for item in table.range::<u64>(bounds).map_err(io_err)? {
            let (_, bytes) = item.map_err(io_err)?;
            entries.push(decode(bytes.value())?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.read_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.read_meta(PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.write_meta(VOTE, vote, Durability::Immediate).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        // Not fsynced on its own: it becomes durable with the next append or vote. Losing the last
        // few commits of it in a crash only means re-applying them once the cluster commits again.
        self.write_meta(COMMITTED, &committed, Durability::None).await
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let encoded = entries
            .into_iter()
            .map(|entry| Ok((entry.log_id.index, encode(&entry)?)))
            .collect::<io::Result<Vec<_>>>()?;
        let db = Arc::clone(&self.db);
        blocking(move || {
            let txn = db.begin_write().map_err(io_err)?;
            {
                let mut table = txn.open_table(LOGS).map_err(io_err)?;
                for (index, bytes) in &encoded {
                    table.insert(*index, bytes.as_slice()).map_err(io_err)?;
                }
            }
            txn.commit().map_err(io_err)
        })
        .await?;
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let first_removed = last_log_id.map_or(0, |id| id.index.saturating_add(1));
        let db = Arc::clone(&self.db);
        blocking(move || {
            let txn = db.begin_write().map_err(io_err)?;
            txn.open_table(LOGS)
                .map_err(io_err)?
                .retain_in::<u64, _>(first_removed.., |_, _| false)
                .map_err(io_err)?;
            txn.commit().map_err(io_err)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let last_removed = log_id.index;
        let purged = encode(&log_id)?;
        let db = Arc::clone(&self.db);
        blocking(move || {
            let txn = db.begin_write().map_err(io_err)?;
            // Record the purge point first, in the same transaction: the log never has a hole.
            txn.open_table(META)
                .map_err(io_err)?
                .insert(PURGED, purged.as_slice())
                .map_err(io_err)?;
            txn.open_table(LOGS)
                .map_err(io_err)?
                .retain_in::<u64, _>(..=last_removed, |_, _| false)
                .map_err(io_err)?;
            txn.commit().map_err(io_err)
        })
        .await
    }
}

fn is_empty(bounds: (Bound<u64>, Bound<u64>)) -> bool {
    let start = match bounds.0 {
        Bound::Included(start) => Some(start),
        Bound::Excluded(start) => start.checked_add(1),
        Bound::Unbounded => Some(0),
    };
    let Some(start) = start else { return true };
    match bounds.1 {
        Bound::Included(end) => end < start,
        Bound::Excluded(end) => end <= start,
        Bound::Unbounded => false,
    }
}

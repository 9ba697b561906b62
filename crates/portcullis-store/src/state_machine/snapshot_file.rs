//! The last snapshot (metadata and data), durable in its own redb database so that building one
//! never waits on the log's write lock.

use std::io;
use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::codec::{blocking, decode, encode, io_err};
use crate::db_file::DbFile;
use crate::raft::{Snapshot, SnapshotMeta};

const SNAPSHOT: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("snapshot");
const META: &str = "meta";
const DATA: &str = "data";

#[derive(Clone)]
pub(super) struct SnapshotFile {
    db: Arc<DbFile>,
}

impl SnapshotFile {
    pub(super) fn open(path: &Path) -> io::Result<Self> {
        let db = DbFile::create(path)?;
        let txn = db.begin_write().map_err(io_err)?;
        txn.open_table(SNAPSHOT).map_err(io_err)?;
        txn.commit().map_err(io_err)?;
        Ok(Self { db })
    }

    /// Keeps `meta` and `data` as the current snapshot, unless a newer one is already kept (a
    /// builder may finish after a newer snapshot was installed). Returns after the fsync.
    pub(super) async fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        let meta_bytes = encode(meta)?;
        let last_log_id = meta.last_log_id;
        let data = data.to_vec();
        let db = Arc::clone(&self.db);
        blocking(move || {
            let txn = db.begin_write().map_err(io_err)?;
            {
                let mut table = txn.open_table(SNAPSHOT).map_err(io_err)?;
                let kept = match table.get(META).map_err(io_err)? {
                    Some(bytes) => Some(decode::<SnapshotMeta>(bytes.value())?),
                    None => None,
                };
                if let Some(kept) = kept
                    && kept.last_log_id >= last_log_id
                {
                    return Ok(());
                }
                table.insert(META, meta_bytes.as_slice()).map_err(io_err)?;
                table.insert(DATA, data.as_slice()).map_err(io_err)?;
            }
            txn.commit().map_err(io_err)
        })
        .await
    }

    pub(super) fn closed(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.db.closed()
    }

    pub(super) fn load(&self) -> io::Result<Option<Snapshot>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(SNAPSHOT).map_err(io_err)?;
        let (Some(meta), Some(data)) = (table.get(META).map_err(io_err)?, table.get(DATA).map_err(io_err)?)
        else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            meta: decode(meta.value())?,
            snapshot: data.value().to_vec(),
        }))
    }
}

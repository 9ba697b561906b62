//! A redb database that says when it has been closed.
//!
//! redb refuses to open a file that is still open in this process, and the last `Arc` of a database
//! may be dropped on one of Raft's tasks while the node restarts. The flag is set only after the
//! database's own drop (which finishes writing the file) has returned.

use std::io;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::Database;

use crate::codec::io_err;

pub(crate) struct DbFile {
    // Fields drop in declaration order: the database first, then the flag is raised.
    db: Database,
    closed: ClosedFlag,
}

struct ClosedFlag(Arc<AtomicBool>);

impl Drop for ClosedFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl DbFile {
    pub(crate) fn create(path: &Path) -> io::Result<Arc<Self>> {
        let db = Database::create(path).map_err(io_err)?;
        Ok(Arc::new(Self {
            db,
            closed: ClosedFlag(Arc::new(AtomicBool::new(false))),
        }))
    }

    /// Becomes `true` once the file is closed.
    pub(crate) fn closed(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.closed.0)
    }
}

impl Deref for DbFile {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.db
    }
}

//! The batching writer: many tasks append, one task sequences, writes and syncs.

mod batch;
mod line;

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    sync::Arc,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use crate::{
    error::AuditError,
    record::AuditEntry,
    tail::{ChainHead, TailError, read_head},
};

/// When the writer asks the OS to put a batch on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Write and flush to the OS only; a power loss may lose the last batches.
    Never,
    /// `fdatasync` after every batch before any of its appends return `Ok`.
    #[default]
    PerBatch,
}

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    pub fsync: FsyncPolicy,
    /// Records that may wait for the writer; beyond this `append` fails with
    /// [`AuditError::QueueFull`] instead of waiting.
    pub queue_capacity: usize,
    /// Most records written by one write call.
    pub max_batch: usize,
    /// Shortest time from the start of one batch to the start of the next (group commit): records
    /// that arrive meanwhile share the next write and sync. Zero (the default) writes each batch as
    /// soon as it is queued. Each append still returns only once its own batch is synced; what a
    /// longer interval costs is that much more latency for appenders that wait, and what it saves is
    /// a sync (and a blocking-thread hand-off) per batch, which under steady load is most of the
    /// writer's CPU.
    pub min_batch_interval: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::PerBatch,
            queue_capacity: 8192,
            max_batch: 512,
            min_batch_interval: Duration::ZERO,
        }
    }
}

/// Opens audit logs.
#[derive(Debug)]
pub struct AuditLog;

impl AuditLog {
    /// Opens (or creates) the log at `path` and continues its chain. Returns the handle to append
    /// with and the writer, which the caller runs on its runtime (`tokio::spawn(writer.run())`).
    ///
    /// This reads the end of the file synchronously; call it at startup.
    ///
    /// # Errors
    /// [`AuditError::Open`] if the file can't be opened or read, [`AuditError::CorruptTail`] if its
    /// last line is cut off or its last record doesn't match its own hash, and
    /// [`AuditError::InvalidOptions`] for a zero queue capacity or batch size.
    pub fn open(
        path: impl AsRef<Path>,
        options: AuditOptions,
    ) -> Result<(AuditHandle, AuditWriter), AuditError> {
        if options.queue_capacity == 0 {
            return Err(AuditError::InvalidOptions("queue_capacity must be at least 1"));
        }
        if options.max_batch == 0 {
            return Err(AuditError::InvalidOptions("max_batch must be at least 1"));
        }
        let path = path.as_ref().to_path_buf();
        let mut file = open_file(&path).map_err(|e| AuditError::Open {
            path: path.clone(),
            source: Arc::new(e),
        })?;
        let head = read_head(&mut file).map_err(|e| match e {
            TailError::Io(e) => AuditError::Open {
                path: path.clone(),
                source: Arc::new(e),
            },
            TailError::Corrupt(reason) => AuditError::CorruptTail {
                path: path.clone(),
                reason,
            },
        })?;
        tracing::debug!(path = %path.display(), last_seq = head.last_seq, "audit log opened");
        let (tx, rx) = mpsc::channel(options.queue_capacity);
        let poisoned = Arc::new(AtomicBool::new(false));
        let handle = AuditHandle {
            tx,
            capacity: options.queue_capacity,
            poisoned: Arc::clone(&poisoned),
        };
        let writer = AuditWriter {
            path,
            file: Some(file),
            head,
            rx,
            options,
            poisoned,
        };
        Ok((handle, writer))
    }
}

fn open_file(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

pub(crate) struct Pending {
    pub entry: AuditEntry,
    pub reply: Reply,
}

/// How the writer tells an appender how its record fared.
pub(crate) enum Reply {
    /// The appender waits for the outcome.
    Wait(oneshot::Sender<Result<u64, AuditError>>),
    /// Nobody waits; a failure sets the appender's flag.
    Detached(Arc<AtomicBool>),
}

impl Reply {
    pub(crate) fn send(self, outcome: Result<u64, AuditError>) {
        match self {
            // The appender may have given up waiting; the record's fate is in the log either way.
            Self::Wait(reply) => {
                let _ = reply.send(outcome);
            }
            Self::Detached(failed) => {
                if let Err(error) = outcome {
                    failed.store(true, Ordering::Relaxed);
                    tracing::error!(%error, "a detached audit append failed");
                }
            }
        }
    }
}

/// Appends records; cheap to clone, one per task is fine.
#[derive(Debug, Clone)]
pub struct AuditHandle {
    tx: mpsc::Sender<Pending>,
    capacity: usize,
    /// Set by the writer once it refuses every append, so callers can fail closed before acting.
    poisoned: Arc<AtomicBool>,
}

impl AuditHandle {
    /// Appends one record and returns its `seq` once it is written (and synced, under
    /// [`FsyncPolicy::PerBatch`]).
    ///
    /// # Errors
    /// Any [`AuditError`] means the record is not in the log: the queue is full, the writer has
    /// stopped, or the write failed.
    pub async fn append(&self, entry: AuditEntry) -> Result<u64, AuditError> {
        let (reply, done) = oneshot::channel();
        self.enqueue(Pending {
            entry,
            reply: Reply::Wait(reply),
        })?;
        done.await.map_err(|_| AuditError::WriterStopped)?
    }

    /// Queues one record without waiting for it to be written: for callers that answer before the
    /// disk does and must still learn of a loss. If the record cannot be written later, the writer
    /// sets `failed` (and logs why); the caller is expected to fail closed from then on.
    ///
    /// # Errors
    /// The record was not queued: the queue is full or the writer has stopped (`failed` is untouched).
    pub fn append_detached(&self, entry: AuditEntry, failed: Arc<AtomicBool>) -> Result<(), AuditError> {
        self.enqueue(Pending {
            entry,
            reply: Reply::Detached(failed),
        })
    }

    fn enqueue(&self, pending: Pending) -> Result<(), AuditError> {
        self.tx.try_send(pending).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => AuditError::QueueFull {
                capacity: self.capacity,
            },
            mpsc::error::TrySendError::Closed(_) => AuditError::WriterStopped,
        })
    }

    /// Whether an append could succeed now: the writer runs, is not refusing appends after a failed
    /// write, and has room in its queue. A caller that must not act unaudited checks this first.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        !self.poisoned.load(Ordering::Relaxed) && !self.tx.is_closed() && self.tx.capacity() > 0
    }

    /// Records waiting for the writer right now (for metrics: near `queue_capacity` means appends
    /// are about to fail with [`AuditError::QueueFull`]).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.capacity.saturating_sub(self.tx.capacity())
    }
}

/// The single task that owns the file. It ends when every [`AuditHandle`] is dropped, after
/// writing what was queued.
#[derive(Debug)]
pub struct AuditWriter {
    path: PathBuf,
    file: Option<File>,
    head: ChainHead,
    rx: mpsc::Receiver<Pending>,
    options: AuditOptions,
    poisoned: Arc<AtomicBool>,
}

impl AuditWriter {
    /// `seq` of the last record written so far (0 for an empty log).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.head.last_seq
    }

    /// Runs until all handles are dropped and the queue is drained.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.options.max_batch);
        while self.rx.recv_many(&mut batch, self.options.max_batch).await > 0 {
            let started = tokio::time::Instant::now();
            self.write_batch(&mut batch).await;
            if !self.options.min_batch_interval.is_zero() {
                // Records queue meanwhile and go out together in the next batch.
                tokio::time::sleep_until(started + self.options.min_batch_interval).await;
            }
        }
        tracing::debug!(path = %self.path.display(), last_seq = self.head.last_seq, "audit writer stopped");
    }
}

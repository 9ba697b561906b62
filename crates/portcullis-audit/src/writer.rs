//! The batching writer: many tasks append, one thread sequences, writes and syncs.
//!
//! The writer is a plain thread on a bounded channel rather than a task that hands each batch to the
//! blocking pool: one record costs the appender a channel send (and at most one wake-up of the
//! writer), where a task cost a task wake, a timer and two blocking-pool hand-offs, each a futex
//! round trip between threads on the data plane's cores.

mod batch;
mod line;

use std::{
    fs::{File, OpenOptions},
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    sync::mpsc::{self, Receiver, SyncSender, TrySendError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

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
    /// a sync (and a wake-up of the writer thread) per batch, which under steady load is most of the
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
    /// with and the writer, which the caller starts ([`AuditWriter::start`]).
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
        let (tx, rx) = mpsc::sync_channel(options.queue_capacity);
        let poisoned = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        let handle = AuditHandle {
            tx,
            capacity: options.queue_capacity,
            queued: Arc::clone(&queued),
            poisoned: Arc::clone(&poisoned),
            stopped: Arc::new(AtomicBool::new(false)),
        };
        let writer = AuditWriter {
            path,
            file,
            head,
            rx,
            queued,
            stopped: Arc::clone(&handle.stopped),
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
    /// Boxed: the std channel allocates every slot up front, so slots stay a pointer wide.
    tx: SyncSender<Box<Pending>>,
    capacity: usize,
    /// Records sent and not yet taken by the writer (the std channel does not say).
    queued: Arc<AtomicUsize>,
    /// Set by the writer once it refuses every append, so callers can fail closed before acting.
    poisoned: Arc<AtomicBool>,
    /// Set when the writer has ended (or was dropped without being started).
    stopped: Arc<AtomicBool>,
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
        // Counted before the send so the writer's decrement can never come first.
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(Box::new(pending)).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => AuditError::QueueFull {
                    capacity: self.capacity,
                },
                TrySendError::Disconnected(_) => AuditError::WriterStopped,
            }
        })
    }

    /// Whether an append could succeed now: the writer runs, is not refusing appends after a failed
    /// write, and has room in its queue. A caller that must not act unaudited checks this first.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        !self.poisoned.load(Ordering::Relaxed)
            && !self.stopped.load(Ordering::Relaxed)
            && self.queued() < self.capacity
    }

    /// Records waiting for the writer right now (for metrics: near `queue_capacity` means appends
    /// are about to fail with [`AuditError::QueueFull`]).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed).min(self.capacity)
    }
}

/// The single thread that owns the file. It ends when every [`AuditHandle`] is dropped, after
/// writing what was queued.
#[derive(Debug)]
pub struct AuditWriter {
    path: PathBuf,
    file: File,
    head: ChainHead,
    rx: Receiver<Box<Pending>>,
    queued: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
    options: AuditOptions,
    poisoned: Arc<AtomicBool>,
}

impl AuditWriter {
    /// `seq` of the last record written so far (0 for an empty log).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.head.last_seq
    }

    /// Runs the writer on its own thread (`portcullis-audit`). The returned future resolves once
    /// every handle is dropped and the queue is written; it need not be polled for the writer to run.
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn start(self) -> std::io::Result<WriterStopped> {
        let (done, stopped) = oneshot::channel();
        std::thread::Builder::new()
            .name("portcullis-audit".to_owned())
            .spawn(move || {
                self.run();
                let _ = done.send(());
            })?;
        Ok(WriterStopped(stopped))
    }

    /// Writes batches until all handles are dropped and the queue is drained; blocks the thread.
    pub fn run(mut self) {
        let mut batch = Vec::with_capacity(self.options.max_batch);
        while let Ok(first) = self.rx.recv() {
            let started = Instant::now();
            batch.push(*first);
            batch.extend(self.rx.try_iter().take(self.options.max_batch - 1).map(|p| *p));
            self.queued.fetch_sub(batch.len(), Ordering::Relaxed);
            self.write_batch(&mut batch);
            // Records queue meanwhile and go out together in the next batch.
            std::thread::sleep(self.options.min_batch_interval.saturating_sub(started.elapsed()));
        }
        tracing::debug!(path = %self.path.display(), last_seq = self.head.last_seq, "audit writer stopped");
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        // Appends fail from now on rather than queue for nobody (also for a writer never started).
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Resolves when the writer thread has ended (everything queued is written).
#[derive(Debug)]
pub struct WriterStopped(oneshot::Receiver<()>);

impl Future for WriterStopped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A sender dropped without a send means the thread died (a panic): it has stopped all the same.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

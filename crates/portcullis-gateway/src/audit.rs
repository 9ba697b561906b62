//! The audit seam: every decision becomes one [`AuditEntry`] handed to an [`AuditSink`]. The
//! hash-chained JSON-lines log ([`portcullis_audit::AuditHandle`]) is the production sink;
//! [`MemoryAuditSink`] serves tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use portcullis_audit::{AuditEntry, Decision, Outcome, ShadowVerdict};

/// The sink could not take a record; the caller decides whether to fail closed.
#[derive(Debug, thiserror::Error)]
#[error("audit log unavailable: {0}")]
pub struct AuditError(pub String);

/// What [`AuditSink::append`] returns.
pub type AppendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send + 'a>>;

/// Where audit entries go.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends one entry; resolves once it is durable as the sink defines it.
    fn append(&self, entry: AuditEntry) -> AppendFuture<'_>;

    /// Whether an append could succeed now. Allowed calls are refused up front while it is false, so
    /// nothing runs that cannot be audited.
    fn is_healthy(&self) -> bool {
        true
    }

    /// Hands an entry over without waiting for it to be durable; if it is lost, now or later, this
    /// sets `failed` and logs why. The default appends in a background task; a sink with its own queue
    /// can skip the task.
    fn append_detached(self: Arc<Self>, entry: AuditEntry, failed: Arc<AtomicBool>) {
        tokio::spawn(async move {
            if let Err(error) = self.append(entry).await {
                lost(&failed, &error);
            }
        });
    }
}

fn lost(failed: &AtomicBool, error: &AuditError) {
    failed.store(true, Ordering::Relaxed);
    tracing::error!(%error, "audit append failed; refusing calls from now on");
}

/// How the data plane hands entries to its sink: waiting for each to be durable, or not.
pub struct AuditTrail {
    sink: Arc<dyn AuditSink>,
    wait: bool,
    /// Set when an append that nobody waited for failed: the node then fails closed.
    failed: Arc<AtomicBool>,
}

impl AuditTrail {
    /// A trail over `sink`; with `wait`, [`AuditTrail::record`] resolves only once the entry is durable.
    pub fn new(sink: Arc<dyn AuditSink>, wait: bool) -> Self {
        Self {
            sink,
            wait,
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Records an entry. Waiting, the result is the sink's. Not waiting, the entry is handed over in
    /// the background so the answer does not pay for the disk; a failure there is logged and makes
    /// [`AuditTrail::is_healthy`] false for good, so later calls are refused (fail closed) and the
    /// operator must look. A crash can lose the last unsynced batch; it can never forge or reorder.
    ///
    /// # Errors
    /// When the sink refuses the entry (waiting), or an earlier background append failed.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), AuditError> {
        if self.wait {
            return self.sink.append(entry).await;
        }
        if self.failed.load(Ordering::Relaxed) {
            return Err(AuditError(
                "an earlier audit write failed; restart the node once the log is fixed".to_owned(),
            ));
        }
        Arc::clone(&self.sink).append_detached(entry, Arc::clone(&self.failed));
        Ok(())
    }

    /// Whether recording can succeed now.
    pub fn is_healthy(&self) -> bool {
        !self.failed.load(Ordering::Relaxed) && self.sink.is_healthy()
    }
}

impl AuditSink for portcullis_audit::AuditHandle {
    fn append(&self, entry: AuditEntry) -> AppendFuture<'_> {
        Box::pin(async move {
            portcullis_audit::AuditHandle::append(self, entry)
                .await
                .map(|_seq| ())
                .map_err(|e| AuditError(e.to_string()))
        })
    }

    fn is_healthy(&self) -> bool {
        portcullis_audit::AuditHandle::is_healthy(self)
    }

    /// Straight onto the writer's queue: no task per record.
    fn append_detached(self: Arc<Self>, entry: AuditEntry, failed: Arc<AtomicBool>) {
        let queued = portcullis_audit::AuditHandle::append_detached(&self, entry, Arc::clone(&failed));
        if let Err(e) = queued {
            lost(&failed, &AuditError(e.to_string()));
        }
    }
}

/// Keeps entries in memory, and can be told to fail: for tests.
#[derive(Debug, Default)]
pub struct MemoryAuditSink {
    entries: Mutex<Vec<AuditEntry>>,
    failing: AtomicBool,
}

impl MemoryAuditSink {
    /// An empty, healthy sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every entry so far.
    pub fn records(&self) -> Vec<AuditEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes appends fail (true) or succeed again (false).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }
}

impl AuditSink for MemoryAuditSink {
    fn is_healthy(&self) -> bool {
        !self.failing.load(Ordering::Relaxed)
    }

    fn append(&self, entry: AuditEntry) -> AppendFuture<'_> {
        Box::pin(async move {
            if self.failing.load(Ordering::Relaxed) {
                return Err(AuditError("memory sink set to fail".to_owned()));
            }
            self.entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(entry);
            Ok(())
        })
    }
}

/// Discards entries: for nodes run with auditing switched off.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullAuditSink;

impl AuditSink for NullAuditSink {
    fn append(&self, _entry: AuditEntry) -> AppendFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    /// Nothing to hand over: no task per call (a spawn costs a worker wake-up).
    fn append_detached(self: Arc<Self>, _entry: AuditEntry, _failed: Arc<AtomicBool>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks healthy, then refuses every append: a disk that fills up between calls.
    struct Refusing;

    impl AuditSink for Refusing {
        fn append(&self, _entry: AuditEntry) -> AppendFuture<'_> {
            Box::pin(async { Err(AuditError("disk full".to_owned())) })
        }
    }

    fn entry() -> AuditEntry {
        AuditEntry::new(0, "n", Decision::Allow, 0)
    }

    #[tokio::test]
    async fn waiting_reports_the_failure_to_the_call() {
        let trail = AuditTrail::new(Arc::new(Refusing), true);
        assert!(trail.record(entry()).await.is_err());
    }

    #[tokio::test]
    async fn a_background_failure_makes_the_trail_refuse_later_calls() {
        let trail = AuditTrail::new(Arc::new(Refusing), false);
        assert!(trail.is_healthy());
        assert!(trail.record(entry()).await.is_ok(), "handed over without waiting");
        for _ in 0..200 {
            if !trail.is_healthy() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(
            !trail.is_healthy(),
            "the failed append must turn the node fail-closed"
        );
        assert!(trail.record(entry()).await.is_err());
    }

    #[tokio::test]
    async fn memory_sink_keeps_entries_in_order() {
        let sink = Arc::new(MemoryAuditSink::new());
        let trail = AuditTrail::new(sink.clone(), true);
        for decision in [Decision::Allow, Decision::Deny] {
            trail.record(AuditEntry::new(0, "n", decision, 0)).await.unwrap();
        }
        let decisions: Vec<Decision> = sink.records().iter().map(|e| e.decision).collect();
        assert_eq!(decisions, [Decision::Allow, Decision::Deny]);
    }
}

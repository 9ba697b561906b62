//! The audit seam: every decision becomes one [`AuditEntry`] handed to an [`AuditSink`]. The
//! hash-chained JSON-lines log ([`portcullis_audit::AuditHandle`]) is the production sink;
//! [`MemoryAuditSink`] serves tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

pub use portcullis_audit::{AuditEntry, Decision, Outcome};

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
}

//! The audit seam: every decision becomes one [`AuditRecord`] handed to an [`AuditSink`]. The
//! hash-chained JSON-lines log (crate `portcullis-audit`) implements the sink; [`MemoryAuditSink`] serves
//! tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// One decision about one call, as the audit trail keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// When the decision was made, in ms since the Unix epoch.
    pub time_ms: u64,
    /// The node that decided.
    pub node: String,
    /// The downstream session (`Mcp-Session-Id`, or the stateless session key).
    pub session: String,
    /// The grant id, or `anonymous`.
    pub grant: String,
    /// The upstream server.
    pub server: String,
    /// The tool called.
    pub tool: String,
    /// `allow`, `deny`, `hide`, `rate_limited` or `require_approval`.
    pub decision: &'static str,
    /// The rule that decided (JSONPath, with its name when it has one).
    pub rule: String,
    /// The revision of the policy that decided.
    pub policy_revision: u64,
    /// The policy's name, if one applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// SHA-256 (hex) of the call's `arguments` as received.
    pub args_sha256: String,
    /// The arguments themselves, only when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// Microseconds the upstream took, for forwarded calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_latency_us: Option<u64>,
    /// What happened: `denied`, `ok`, `tool_error`, `upstream_error`, `timeout`, `counter_exhausted`.
    pub outcome: &'static str,
    /// The message the agent was given, for denials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why a record could not be appended.
#[derive(Debug, thiserror::Error)]
#[error("audit log unavailable: {0}")]
pub struct AuditError(pub String);

/// A boxed future, so sinks can be trait objects.
pub type AppendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send + 'a>>;

/// Where audit records go. `append` resolves once the record is durable (or batched durably).
pub trait AuditSink: Send + Sync + 'static {
    /// Appends one record.
    fn append(&self, record: AuditRecord) -> AppendFuture<'_>;

    /// Whether appends are currently expected to succeed (the last write worked). Checked before an
    /// allowed call is forwarded, so a fail-closed node refuses calls it could not audit instead of
    /// running them and withholding the result.
    fn is_healthy(&self) -> bool {
        true
    }
}

/// Keeps records in memory; can be told to fail, to test fail-closed behaviour.
#[derive(Debug, Default)]
pub struct MemoryAuditSink {
    records: Mutex<Vec<AuditRecord>>,
    failing: std::sync::atomic::AtomicBool,
}

impl MemoryAuditSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record appended so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes every later append fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AuditSink for MemoryAuditSink {
    fn is_healthy(&self) -> bool {
        !self.failing.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn append(&self, record: AuditRecord) -> AppendFuture<'_> {
        Box::pin(async move {
            if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(AuditError("memory sink set to fail".to_owned()));
            }
            self.records
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(record);
            Ok(())
        })
    }
}

/// Discards records: for nodes run with audit switched off.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullAuditSink;

impl AuditSink for NullAuditSink {
    fn append(&self, _record: AuditRecord) -> AppendFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

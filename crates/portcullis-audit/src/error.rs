//! Errors of the writer and of the verifier.

use std::{path::PathBuf, sync::Arc};

/// Why an audit record was not written. Every variant means "not durably recorded": a caller that
/// fails closed refuses the request it was auditing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open audit log {path}: {source}")]
    Open {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("audit log {path} has a corrupt last record: {reason}; refusing to continue the chain")]
    CorruptTail { path: PathBuf, reason: String },
    #[error("cannot write audit log {path}: {source}")]
    Write {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("audit log {path} is unusable after an earlier write failure that could not be rolled back")]
    Poisoned { path: PathBuf },
    #[error("audit queue is full ({capacity} records waiting)")]
    QueueFull { capacity: usize },
    #[error("audit writer has stopped")]
    WriterStopped,
    #[error("audit record could not be serialized: {0}")]
    Serialize(String),
    #[error("invalid audit options: {0}")]
    InvalidOptions(&'static str),
}

/// Why a log could not be read at all. A log that reads but fails a check is not an error: the
/// [`crate::VerifyReport`] says where it breaks.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read audit log {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

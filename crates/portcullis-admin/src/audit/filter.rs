//! Which audit records a caller asked for, and reading them from the file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use portcullis_proto::admin as pb;
use serde_json::Value;
use tonic::Status;

const DECISIONS: [&str; 6] = [
    "allow",
    "deny",
    "hide",
    "rate_limited",
    "require_approval",
    "error",
];

/// A record filter: equal fields (empty: any) and a time range.
#[derive(Clone, Debug)]
pub struct Filter {
    fields: pb::AuditFilter,
    from_ms: u64,
    to_ms: u64,
}

impl Filter {
    /// # Errors
    /// `INVALID_ARGUMENT` for a decision that no record can have.
    pub fn new(fields: pb::AuditFilter, from_ms: u64, to_ms: u64) -> Result<Self, Status> {
        if !fields.decision.is_empty() && !DECISIONS.contains(&fields.decision.as_str()) {
            return Err(Status::invalid_argument(format!(
                "decision {:?} is not one of {}",
                fields.decision,
                DECISIONS.join(", ")
            )));
        }
        Ok(Self {
            fields,
            from_ms,
            to_ms,
        })
    }

    /// The record on `line`, when it is one and matches.
    pub fn record(&self, line: &str) -> Option<pb::AuditRecord> {
        let value: Value = serde_json::from_str(line).ok()?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("");
        let wanted = |name: &str, want: &str| want.is_empty() || field(name) == want;
        let time_ms = value.get("time_ms").and_then(Value::as_u64).unwrap_or(0);
        let fits = (self.from_ms..=self.to_ms).contains(&time_ms)
            && wanted("grant", &self.fields.grant)
            && wanted("server", &self.fields.server)
            && wanted("tool", &self.fields.tool)
            && wanted("decision", &self.fields.decision);
        fits.then(|| pb::AuditRecord {
            seq: value.get("seq").and_then(Value::as_u64).unwrap_or(0),
            time_ms,
            json: line.to_owned(),
        })
    }
}

/// What a query found.
pub struct Found {
    pub records: Vec<pb::AuditRecord>,
    pub truncated: bool,
}

/// The first `limit` records in `path` that match.
pub fn query(path: &Path, filter: &Filter, limit: usize) -> std::io::Result<Found> {
    let mut records = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        if let Some(record) = filter.record(&line?) {
            if records.len() == limit {
                return Ok(Found {
                    records,
                    truncated: true,
                });
            }
            records.push(record);
        }
    }
    Ok(Found {
        records,
        truncated: false,
    })
}

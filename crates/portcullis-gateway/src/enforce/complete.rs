//! Settling a forwarded call: commit or roll back its reservation, record latency, audit the outcome.

use std::time::Duration;

use serde_json::Value;

use crate::audit::{AuditEntry, Outcome};
use crate::counters::Reserved;
use crate::jsonrpc;
use crate::node::Node;

/// What is left to do once the upstream answers an allowed call.
pub struct CallCompletion {
    /// The call's reservation, if it counted anything.
    pub reserved: Option<Reserved>,
    /// The audit record, completed with latency and outcome.
    pub record: AuditEntry,
    /// The input rounds the upstream asked for so far (a 2026-07-28 upstream's call held between
    /// them stays one call: see `relay::held_calls`).
    pub rounds: u32,
}

impl CallCompletion {
    /// Counts `took`, an earlier round's time upstream, into the call's latency.
    pub fn add_latency(&mut self, took: Duration) {
        let so_far = self.record.upstream_latency_us.unwrap_or(0);
        self.record.upstream_latency_us = Some(so_far.saturating_add(micros(took)));
    }

    /// Settles the call; returns what the client should see.
    pub async fn finish(mut self, node: &Node, response: Value, took: Duration) -> Value {
        self.add_latency(took);
        let Self {
            reserved,
            mut record,
            rounds,
        } = self;
        let code = response.pointer("/error/code").and_then(Value::as_i64);
        let outcome = if code == Some(jsonrpc::REQUEST_CANCELLED) {
            Outcome::Cancelled
        } else if response.get("error").is_some() {
            Outcome::UpstreamError
        } else if jsonrpc::is_failure(&response) {
            Outcome::ToolError
        } else {
            Outcome::Ok
        };
        // A failed call gives its reservation back: it did not spend what it reserved.
        if let Some(reserved) = reserved {
            if outcome == Outcome::Ok {
                reserved.commit();
            } else {
                reserved.rollback();
            }
        }
        node.metrics.upstream_latency(took);
        record.outcome = Some(outcome);
        if rounds > 0 {
            let note = format!("{rounds} input round(s) with the client, decided and charged once");
            record.message = Some(match record.message.take() {
                Some(message) => format!("{message}; {note}"),
                None => note,
            });
        }
        if let Err(e) = node.audit.record(record).await {
            node.metrics.error("audit");
            tracing::error!(error = %e, "cannot audit a completed call");
            if node.settings.audit_fail_closed {
                let id = response.get("id").cloned().unwrap_or(Value::Null);
                return jsonrpc::error(
                    id,
                    jsonrpc::INTERNAL_ERROR,
                    "the call could not be audited, so its result is withheld",
                );
            }
        }
        response
    }
}

fn micros(took: Duration) -> u64 {
    u64::try_from(took.as_micros()).unwrap_or(u64::MAX)
}

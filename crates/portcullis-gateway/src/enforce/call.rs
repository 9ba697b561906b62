//! Deciding a `tools/call` before it is forwarded.

use portcullis_policy::{CallContext, Outcome, Reservation, Timestamp, evaluate};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::approval::{Parked, park};
use super::complete::CallCompletion;
use super::denial::denial_response;
use super::heartbeat::Heartbeat;
use crate::approvals::ApprovalTicket;
use crate::audit::{AuditEntry, Decision as AuditDecision, Outcome as AuditOutcome, ShadowVerdict};
use crate::counters::{CallCounters, reserve};
use crate::http::Caller;
use crate::jsonrpc;
use crate::node::Node;
use crate::session::{SessionHandle, SessionInfo};
use crate::state::to_hex;

/// What to do with a call.
pub enum CallPlan {
    /// Answer the client now (denied, malformed, or unauditable).
    Respond(Value),
    /// Forward it, then settle.
    Forward(Box<CallCompletion>),
}

/// Decides `message` (a `tools/call` request) for `caller` in `session`. A call parked for approval
/// sends its progress notifications to `heartbeats` when it carries a progress token.
pub async fn plan_call(
    node: &Node,
    caller: &Caller,
    session: &SessionHandle,
    message: &Value,
    heartbeats: Option<mpsc::Sender<Value>>,
) -> CallPlan {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let params = jsonrpc::params(message);
    let Some(tool) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return CallPlan::Respond(jsonrpc::error(
            id,
            jsonrpc::INVALID_PARAMS,
            "tools/call needs params.name, a string",
        ));
    };
    let args = params.and_then(|p| p.get("arguments")).unwrap_or(&Value::Null);
    let now = node.clock.now();
    let info = session.info();
    let mut record = AuditEntry {
        session: Some(info.id.to_string()),
        grant: Some(caller.grant_id.to_string()),
        server: Some(info.server.to_string()),
        tool: Some(tool.to_owned()),
        rule: Some("$".to_owned()),
        args_sha256: Some(args_digest(args)),
        args: node.settings.audit_payloads.then(|| args.clone()),
        outcome: Some(AuditOutcome::Denied),
        ..AuditEntry::new(
            now.as_millis(),
            node.settings.node_id.clone(),
            AuditDecision::Deny,
            0,
        )
    };
    let Some(policy) = &caller.grant.policy else {
        let message = "no policy is attached to this grant, so every call is denied";
        return deny(node, record, id, message, None).await;
    };
    record.policy = Some(policy.name.to_string());
    let view = CallCounters {
        session: &info.counters,
        shared: &*node.counters,
        grant: &caller.grant_id,
        policy: &policy.name,
    };
    let call = CallContext {
        tool,
        args,
        identity: &caller.grant.identity,
    };
    let decision = evaluate(&policy.policy, &call, &view, now);
    tracing::debug!(
        session = %info.id,
        grant = %caller.grant_id,
        tool,
        decision = decision.outcome.kind(),
        rule = %decision.rule,
        "policy decision"
    );
    node.metrics.decision(&info.server, tool, decision.outcome.kind());
    record.decision = audit_decision(&decision.outcome);
    record.rule = Some(decision.rule.to_string());
    record.policy_revision = decision.policy_revision;
    if let Some(shadow) = &policy.shadow {
        // Same call, same counters, nothing reserved or enforced: only recorded.
        let verdict = evaluate(shadow, &call, &view, now);
        record.shadow = Some(ShadowVerdict {
            decision: audit_decision(&verdict.outcome),
            rule: verdict.rule.to_string(),
            revision: verdict.policy_revision,
        });
    }
    match decision.outcome {
        Outcome::Allow { reservations } => admit(node, &view, info, reservations, record, id).await,
        Outcome::Hide | Outcome::Deny => deny(node, record, id, &decision.message, None).await,
        Outcome::RateLimited { retry_after_ms } => {
            let message = format!(
                "{} (rate limited: retry in {})",
                decision.message,
                seconds(retry_after_ms)
            );
            deny(node, record, id, &message, Some(retry_after_ms)).await
        }
        Outcome::RequireApproval {
            timeout_ms,
            allowance_ms,
            reservations,
        } => {
            let Some(approvals) = node.approvals.get() else {
                let message = format!(
                    "{}: this call needs human approval, which this gateway cannot obtain without a replicated store, so it is denied",
                    decision.message
                );
                return deny(node, record, id, &message, None).await;
            };
            // Only a rule that still grants allowances honours one: removing it ends them at once.
            let standing =
                allowance_ms.and_then(|_| approvals.allowance(&caller.grant_id, &info.server, tool, now));
            if let Some(allowance) = standing {
                tracing::debug!(approval = %allowance.approval, tool, "call admitted by an allowance");
                record.decision = AuditDecision::Allow;
                record.actor = Some(allowance.by.clone());
                record.message = Some(format!(
                    "admitted by the allowance of approval {} approved by {} (until {} ms since the epoch)",
                    allowance.approval,
                    allowance.by,
                    allowance.until.as_millis()
                ));
                return admit(node, &view, info, reservations, record, id).await;
            }
            let ticket = ApprovalTicket {
                grant: caller.grant_id.to_string(),
                session: Some(info.id.to_string()),
                server: info.server.to_string(),
                tool: tool.to_owned(),
                args_sha256: record.args_sha256.clone().unwrap_or_default(),
                arguments: record.args.clone(),
                policy: policy.name.to_string(),
                policy_revision: decision.policy_revision,
                requested_at: now,
                expires_at: Timestamp(now.as_millis().saturating_add(timeout_ms)),
                allowance_ms,
            };
            let heartbeat = heartbeats
                .and_then(|sink| Heartbeat::for_request(message, node.settings.approval_heartbeat, sink));
            match park(approvals.as_ref(), ticket, &mut record, heartbeat).await {
                Parked::Forward => admit(node, &view, info, reservations, record, id).await,
                Parked::Refuse(message) => deny(node, record, id, &message, None).await,
            }
        }
    }
}

/// Reserves what an allowed (or approved) call counts and hands it on to be forwarded.
async fn admit(
    node: &Node,
    view: &CallCounters<'_>,
    info: &SessionInfo,
    reservations: Vec<Reservation>,
    mut record: AuditEntry,
    id: Value,
) -> CallPlan {
    if node.settings.audit_fail_closed && !node.audit.is_healthy() {
        node.metrics.error("audit");
        return CallPlan::Respond(jsonrpc::error(
            id,
            jsonrpc::INTERNAL_ERROR,
            "the audit log is unavailable, so calls are refused",
        ));
    }
    // Read again: an approved call may have waited minutes since it was decided.
    let now = node.clock.now();
    let increments = view.increments(&reservations);
    let reserved = if increments.is_empty() {
        None
    } else {
        match reserve(info.counters.clone(), node.counters.clone(), increments) {
            Ok(reserved) => Some(reserved),
            Err(full) => {
                // Another call took the last of the limit between the engine's read and now.
                let retry = full
                    .retry_after_ms
                    .unwrap_or_else(|| full.window.end_ms().saturating_sub(now.as_millis()));
                record.decision = AuditDecision::RateLimited;
                let message = format!("{full}; retry in {}", seconds(retry));
                return deny(node, record, id, &message, Some(retry)).await;
            }
        }
    };
    // Settled when the upstream answers.
    record.outcome = None;
    CallPlan::Forward(Box::new(CallCompletion {
        reserved,
        record,
        rounds: 0,
    }))
}

/// The audit record's digest of a call's arguments, which a retry's arguments must match too.
pub fn args_digest(args: &Value) -> String {
    to_hex(&Sha256::digest(serde_json::to_vec(args).unwrap_or_default()))
}

async fn deny(node: &Node, mut record: AuditEntry, id: Value, message: &str, retry: Option<u64>) -> CallPlan {
    record.message = Some(message.to_owned());
    if let Err(e) = node.audit.record(record).await {
        node.metrics.error("audit");
        tracing::error!(error = %e, "cannot audit a denial");
        if node.settings.audit_fail_closed {
            return CallPlan::Respond(jsonrpc::error(
                id,
                jsonrpc::INTERNAL_ERROR,
                "the audit log is unavailable, so calls are refused",
            ));
        }
    }
    CallPlan::Respond(denial_response(node.settings.denial, id, message, retry))
}

fn audit_decision(outcome: &Outcome) -> AuditDecision {
    match outcome {
        Outcome::Hide => AuditDecision::Hide,
        Outcome::Deny => AuditDecision::Deny,
        Outcome::RateLimited { .. } => AuditDecision::RateLimited,
        Outcome::RequireApproval { .. } => AuditDecision::RequireApproval,
        Outcome::Allow { .. } => AuditDecision::Allow,
    }
}

fn seconds(ms: u64) -> String {
    format!("{} s", ms.div_ceil(1000))
}

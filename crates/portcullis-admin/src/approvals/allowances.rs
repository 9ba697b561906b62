//! `ListAllowances`: the standing allowances approvals granted, read from this node's applied
//! state. The store decided each deadline when the approval applied; only whether it is still
//! ahead depends on this node's clock.

use portcullis_proto::admin as pb;
use portcullis_store::{ApprovalRecord, ApprovalState, State, Timestamp};

/// The allowances in `state` (of `grant`, unless empty), soonest to end first; with
/// `include_expired`, those that ran out too.
pub fn list(state: &State, now: Timestamp, grant: &str, include_expired: bool) -> Vec<pb::Allowance> {
    let mut allowances: Vec<pb::Allowance> = state
        .approvals
        .values()
        .filter(|record| grant.is_empty() || record.grant == grant)
        .filter_map(|record| allowance(record, now))
        .filter(|allowance| include_expired || allowance.active)
        .collect();
    allowances.sort_by(|a, b| (a.until_ms, &a.approval_id).cmp(&(b.until_ms, &b.approval_id)));
    allowances
}

/// The allowance `record` granted, if it was approved with one.
fn allowance(record: &ApprovalRecord, now: Timestamp) -> Option<pb::Allowance> {
    let until = record.allowance_until?;
    let ApprovalState::Approved { by, at, .. } = &record.state else {
        return None;
    };
    Some(pb::Allowance {
        approval_id: record.id.clone(),
        grant: record.grant.clone(),
        server: record.server.clone(),
        tool: record.tool.clone(),
        approved_by: by.clone(),
        approved_at_ms: at.as_millis(),
        until_ms: until.as_millis(),
        active: now < until,
    })
}

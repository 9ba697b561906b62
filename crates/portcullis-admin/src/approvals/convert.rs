//! Approval records as the API shows them.

use portcullis_proto::admin as pb;
use portcullis_store::{ApprovalRecord, ApprovalState, Timestamp};

/// Whether nobody has decided `record` yet.
pub fn is_pending(record: &ApprovalRecord) -> bool {
    record.state == ApprovalState::Pending
}

/// `record` as a message.
pub fn approval(record: &ApprovalRecord) -> pb::Approval {
    let (state, decided_by, reason, decided_at) = match &record.state {
        ApprovalState::Pending => (pb::ApprovalState::Pending, "", "", 0),
        ApprovalState::Approved { by, reason, at } => {
            (pb::ApprovalState::Approved, by.as_str(), reason.as_str(), at.0)
        }
        ApprovalState::Denied { by, reason, at } => {
            (pb::ApprovalState::Denied, by.as_str(), reason.as_str(), at.0)
        }
        ApprovalState::Expired { at } => (pb::ApprovalState::Expired, "", "", at.0),
    };
    pb::Approval {
        id: record.id.clone(),
        grant: record.grant.clone(),
        session: record.session.clone().unwrap_or_default(),
        server: record.server.clone(),
        tool: record.tool.clone(),
        args_sha256: record.args_sha256.clone(),
        arguments_json: record
            .arguments
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        policy: record.policy.name.clone(),
        policy_revision: record.policy.revision.unwrap_or(0),
        requested_at_ms: record.requested_at.0,
        expires_at_ms: record.expires_at.0,
        state: state.into(),
        decided_by: decided_by.to_owned(),
        reason: reason.to_owned(),
        decided_at_ms: decided_at,
        allowance_ms: record.allowance_ms.unwrap_or(0),
        allowance_until_ms: record.allowance_until.map_or(0, Timestamp::as_millis),
    }
}

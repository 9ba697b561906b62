//! A call that policy sends to a human: recorded, parked until an approver decides or its deadline
//! passes, then forwarded once or denied. The client's request stays open meanwhile.

use std::time::Duration;

use super::heartbeat::Heartbeat;
use crate::approvals::{ApprovalTicket, Approvals, Verdict};
use crate::audit::AuditEntry;

/// How a parked call ends.
pub enum Parked {
    /// Approved: forward it (this request holds the approval's one forward).
    Forward,
    /// Refused, with the message for the agent (without the `[POLICY DENIED]` prefix).
    Refuse(String),
}

/// Requests approval for `ticket` and waits for the verdict. `record` gains the approval's id, the
/// approver (`actor`) and the verdict's message, so every outcome is audited with who decided. With a
/// `heartbeat`, progress notifications name the approval while the call waits.
pub async fn park(
    approvals: &dyn Approvals,
    ticket: ApprovalTicket,
    record: &mut AuditEntry,
    heartbeat: Option<Heartbeat>,
) -> Parked {
    let timeout_ms = ticket
        .expires_at
        .as_millis()
        .saturating_sub(ticket.requested_at.as_millis());
    let tool = ticket.tool.clone();
    let id = match approvals.request(ticket).await {
        Ok(id) => id,
        Err(error) => {
            tracing::warn!(%error, tool, "cannot request approval");
            return Parked::Refuse(format!(
                "this call needs human approval, which cannot be requested now ({error})"
            ));
        }
    };
    tracing::info!(approval = %id, tool, timeout_ms, "call parked for approval");
    let outcome = approvals.outcome(id.clone());
    let verdict = match heartbeat {
        Some(heartbeat) => {
            heartbeat
                .beat_while(&id, Duration::from_millis(timeout_ms), outcome)
                .await
        }
        None => outcome.await,
    };
    let (parked, message) = match verdict {
        Ok(Verdict::Approved { by, reason }) => {
            record.actor = Some(by.clone());
            (
                Parked::Forward,
                format!("approval {id} approved by {by}: {reason}"),
            )
        }
        Ok(Verdict::Denied { by, reason }) => {
            record.actor = Some(by.clone());
            let message = format!("approval denied by {by}: {reason}");
            (Parked::Refuse(message.clone()), message)
        }
        Ok(Verdict::Expired { .. }) => {
            let message = format!(
                "approval {id} timed out: nobody decided within the rule's timeout of {}",
                duration(timeout_ms)
            );
            (Parked::Refuse(message.clone()), message)
        }
        Ok(Verdict::Spent { by }) => {
            record.actor = Some(by.clone());
            let message = format!(
                "approval {id} (approved by {by}) was already used: the approved call was forwarded once, ask again to repeat it"
            );
            (Parked::Refuse(message.clone()), message)
        }
        Err(error) => {
            tracing::warn!(approval = %id, %error, "cannot follow an approval");
            let message = format!("approval {id} could not be followed ({error})");
            (Parked::Refuse(message.clone()), message)
        }
    };
    tracing::info!(approval = %id, tool, actor = ?record.actor, "approval settled");
    record.message = Some(message);
    parked
}

/// A timeout as people write it: `90 s`, `5 min`.
fn duration(ms: u64) -> String {
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else {
        format!("{} s", ms.div_ceil(1000))
    }
}

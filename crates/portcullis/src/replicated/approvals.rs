//! The gateway's approvals over the replicated store: a parked call becomes a `RequestApproval`
//! command, its decision arrives through the applied state, and an approval's one forward is taken
//! with `ClaimApproval`, so any node (or a retry on another node) sees the same record.

use std::sync::Arc;
use std::time::Duration;

use portcullis_gateway::approvals::{
    Allowance, ApprovalError, ApprovalFuture, ApprovalTicket, Approvals, Verdict,
};
use portcullis_gateway::clock::Clock as _;
use portcullis_policy::Timestamp;
use portcullis_store::{
    AppRequest, ApplyError, ApprovalRecord, ApprovalState, PolicyRef, StateSnapshot, Store,
};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::clock::SystemClock;

/// How long a node waits to see a record it (or another node) committed in its own applied state.
const CATCH_UP: Duration = Duration::from_secs(5);

/// Approvals kept in `store`.
pub struct StoreApprovals {
    store: Store,
}

impl StoreApprovals {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn request_in_store(&self, ticket: ApprovalTicket) -> Result<String, ApprovalError> {
        // Two tries: a concurrent request for the same call (another node, a retry) takes the id this
        // node derived; after seeing it applied, the second look reuses it.
        for _ in 0..2 {
            let snapshot = self.store.current();
            let same: Vec<&ApprovalRecord> = snapshot
                .state
                .approvals
                .values()
                .filter(|record| binds(record, &ticket))
                .collect();
            if let Some(open) = same
                .iter()
                .filter(|record| stands(record, ticket.requested_at))
                .max_by_key(|record| record.requested_at)
            {
                return Ok(open.id.clone());
            }
            let id = approval_id(&ticket, same.len());
            let command = AppRequest::RequestApproval {
                id: id.clone(),
                grant: ticket.grant.clone(),
                session: ticket.session.clone(),
                server: ticket.server.clone(),
                tool: ticket.tool.clone(),
                args_sha256: ticket.args_sha256.clone(),
                arguments: ticket.arguments.clone(),
                policy: PolicyRef {
                    name: ticket.policy.clone(),
                    revision: Some(ticket.policy_revision),
                },
                requested_at: ticket.requested_at,
                expires_at: ticket.expires_at,
                allowance_ms: ticket.allowance_ms,
            };
            match self.store.propose(command).await.map(|r| r.into_result()) {
                Ok(Ok(_)) => return Ok(id),
                Ok(Err(ApplyError::ApprovalExists { .. })) => {
                    seen(self.store.subscribe(), &id).await?;
                }
                Ok(Err(refused)) => return Err(ApprovalError::Unavailable(refused.to_string())),
                Err(error) => return Err(ApprovalError::Unavailable(error.to_string())),
            }
        }
        Err(ApprovalError::Unavailable(
            "another request for the same call kept taking its id".to_owned(),
        ))
    }

    async fn follow(&self, id: String) -> Result<Verdict, ApprovalError> {
        let mut applied = self.store.subscribe();
        let mut expiring = false;
        loop {
            let current = applied.borrow_and_update().state.approvals.get(&id).cloned();
            let record = match current {
                Some(record) => record,
                None => seen(applied.clone(), &id).await?,
            };
            match record.state {
                ApprovalState::Pending => {
                    let now = SystemClock.now();
                    if now >= record.expires_at {
                        if expiring {
                            // The expiry is committed; wait (bounded) for this node to apply it, or a
                            // decision that beat the deadline.
                            match tokio::time::timeout(CATCH_UP, applied.changed()).await {
                                Ok(Ok(())) => continue,
                                _ => {
                                    return Ok(Verdict::Expired {
                                        at: record.expires_at,
                                    });
                                }
                            }
                        }
                        expiring = true;
                        // The proposer's clock says the deadline passed; a decision committed before
                        // this wins, since the store refuses decisions stamped after the deadline.
                        if let Err(error) = self.store.propose(AppRequest::ExpireApprovals { at: now }).await
                        {
                            tracing::warn!(approval = %id, %error, "could not expire an approval");
                            return Ok(Verdict::Expired {
                                at: record.expires_at,
                            });
                        }
                        continue;
                    }
                    let left = Duration::from_millis(record.expires_at.as_millis() - now.as_millis());
                    tokio::select! {
                        changed = applied.changed() => if changed.is_err() {
                            return Err(ApprovalError::Unavailable("the store stopped".to_owned()));
                        },
                        () = tokio::time::sleep(left) => {}
                    }
                }
                ApprovalState::Approved { by, reason, .. } => {
                    if record.forwarded_at.is_some() {
                        return Ok(Verdict::Spent { by });
                    }
                    let claim = AppRequest::ClaimApproval {
                        id: id.clone(),
                        at: SystemClock.now(),
                    };
                    return match self.store.propose(claim).await.map(|r| r.into_result()) {
                        Ok(Ok(_)) => Ok(Verdict::Approved { by, reason }),
                        Ok(Err(_)) => Ok(Verdict::Spent { by }),
                        Err(error) => Err(ApprovalError::Unavailable(error.to_string())),
                    };
                }
                ApprovalState::Denied { by, reason, .. } => return Ok(Verdict::Denied { by, reason }),
                ApprovalState::Expired { at } => return Ok(Verdict::Expired { at }),
            }
        }
    }
}

impl Approvals for StoreApprovals {
    fn request(&self, ticket: ApprovalTicket) -> ApprovalFuture<'_, Result<String, ApprovalError>> {
        Box::pin(self.request_in_store(ticket))
    }

    fn outcome(&self, id: String) -> ApprovalFuture<'_, Result<Verdict, ApprovalError>> {
        Box::pin(self.follow(id))
    }

    fn allowance(&self, grant: &str, server: &str, tool: &str, now: Timestamp) -> Option<Allowance> {
        // This node's applied state: a decision reaches it with the log, never by asking the leader.
        let snapshot = self.store.current();
        snapshot
            .state
            .approvals
            .values()
            .filter(|record| record.allows(grant, server, tool, now))
            .filter_map(|record| match (&record.state, record.allowance_until) {
                (ApprovalState::Approved { by, .. }, Some(until)) => Some(Allowance {
                    approval: record.id.clone(),
                    by: by.clone(),
                    until,
                }),
                _ => None,
            })
            .max_by_key(|allowance| allowance.until)
    }
}

/// Whether `record` is a request for the same call: grant, server, tool, arguments, policy version.
fn binds(record: &ApprovalRecord, ticket: &ApprovalTicket) -> bool {
    record.grant == ticket.grant
        && record.server == ticket.server
        && record.tool == ticket.tool
        && record.args_sha256 == ticket.args_sha256
        && record.policy.name == ticket.policy
        && record.policy.revision == Some(ticket.policy_revision)
}

/// Whether a request still answers a new ask for the same call at `now`: pending before its
/// deadline, approved and not yet forwarded, or denied (the denial stands until the request's own
/// deadline, so a retry hears it instead of asking again at once).
fn stands(record: &ApprovalRecord, now: Timestamp) -> bool {
    match record.state {
        ApprovalState::Pending | ApprovalState::Denied { .. } => now < record.expires_at,
        ApprovalState::Approved { .. } => record.forwarded_at.is_none(),
        ApprovalState::Expired { .. } => false,
    }
}

/// The id of the `nth` request for one call: every node derives the same one, so concurrent
/// requests for the same call (a retry racing its original) collide instead of doubling.
fn approval_id(ticket: &ApprovalTicket, nth: usize) -> String {
    let mut hash = Sha256::new();
    for part in [
        ticket.grant.as_str(),
        ticket.server.as_str(),
        ticket.tool.as_str(),
        ticket.args_sha256.as_str(),
        ticket.policy.as_str(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.update(ticket.policy_revision.to_be_bytes());
    hash.update((nth as u64).to_be_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(10).map(|byte| format!("{byte:02x}")).collect();
    format!("apr-{hex}")
}

/// Waits until this node's applied state holds approval `id`, and returns it.
async fn seen(
    mut applied: watch::Receiver<Arc<StateSnapshot>>,
    id: &str,
) -> Result<ApprovalRecord, ApprovalError> {
    let found = tokio::time::timeout(CATCH_UP, async {
        loop {
            if let Some(record) = applied.borrow_and_update().state.approvals.get(id) {
                return Some(record.clone());
            }
            if applied.changed().await.is_err() {
                return None;
            }
        }
    })
    .await;
    match found {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(ApprovalError::Unavailable("the store stopped".to_owned())),
        Err(_) => Err(ApprovalError::Unavailable(format!(
            "approval {id} did not reach this node within {} s",
            CATCH_UP.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(args: &str) -> ApprovalTicket {
        ApprovalTicket {
            grant: "g".to_owned(),
            session: Some("s1".to_owned()),
            server: "demo".to_owned(),
            tool: "clear_flows".to_owned(),
            args_sha256: args.to_owned(),
            arguments: None,
            policy: "p".to_owned(),
            policy_revision: 1,
            requested_at: Timestamp(1_000),
            expires_at: Timestamp(61_000),
            allowance_ms: None,
        }
    }

    #[test]
    fn the_id_binds_the_call_not_the_session() {
        let mut other_session = ticket("aa");
        other_session.session = Some("s2".to_owned());
        other_session.requested_at = Timestamp(5_000);
        assert_eq!(approval_id(&ticket("aa"), 0), approval_id(&other_session, 0));
        assert_ne!(approval_id(&ticket("aa"), 0), approval_id(&ticket("ab"), 0));
        assert_ne!(approval_id(&ticket("aa"), 0), approval_id(&ticket("aa"), 1));
        let mut revised = ticket("aa");
        revised.policy_revision = 2;
        assert_ne!(approval_id(&ticket("aa"), 0), approval_id(&revised, 0));
    }
}

//! The replicated state: plain data in ordered maps, changed only by [`State::apply`].
//!
//! Each map sits behind an `Arc`, so publishing the state to subscribers is a handful of reference
//! counts, and a change copies only the map it touches (copy-on-write with `Arc::make_mut`).
//!
//! Architecture invariant: `apply` is a pure function of the state, the command and the entry's log
//! index. It reads no clock and no randomness, iterates only ordered maps, and never panics; the same
//! log applied to two fresh states gives byte-identical snapshots.

mod admin;
mod approval;
mod counter;
mod grant;
mod policy;
mod quota;
mod server;
mod session;
mod session_counts;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use admin::{AdminRole, AdminTokenRecord, NodeRecord};
pub use approval::{ApprovalRecord, ApprovalState};
pub use counter::{CounterCeiling, CounterKey};
pub use grant::GrantRecord;
pub use policy::{PolicyHistory, PolicyRef, PolicyVersion};
pub use quota::{NodeCharges, QuotaAsk, QuotaGrant, QuotaReturn, QuotaView};
pub use server::ServerRecord;
pub use session::SessionRecord;
pub use session_counts::{NodeSessionCount, SessionCount, SessionCountKey, SessionReport, SessionTally};

use crate::{AppRequest, AppResponse};

/// Everything the cluster agrees on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Upstream servers by name.
    pub servers: Arc<BTreeMap<String, ServerRecord>>,
    /// Policies by name, each with its full version history.
    pub policies: Arc<BTreeMap<String, PolicyHistory>>,
    /// Grants by id.
    pub grants: Arc<BTreeMap<String, GrantRecord>>,
    /// Counter values by counter, partition and window.
    #[serde(with = "crate::pairs")]
    pub counters: Arc<BTreeMap<CounterKey, f64>>,
    /// Escrowed quota: per counter, how much of its value each node leased (consumed or still holds).
    #[serde(with = "crate::pairs", default)]
    pub quota_leases: Arc<BTreeMap<CounterKey, NodeCharges>>,
    /// How many times each counter was reset in its window: slices leased before a reset belong to
    /// an older epoch, which nodes stop spending and the store stops taking back.
    #[serde(with = "crate::pairs", default)]
    pub quota_epochs: Arc<BTreeMap<CounterKey, u64>>,
    /// Approvals by id.
    pub approvals: Arc<BTreeMap<String, ApprovalRecord>>,
    /// Agent sessions by id.
    pub sessions: Arc<BTreeMap<String, SessionRecord>>,
    /// Per-session counters by session id: what each node admitted (kept apart from the records,
    /// removed with them).
    #[serde(default)]
    pub session_counts: Arc<BTreeMap<String, SessionTally>>,
    /// Admin API tokens by name.
    #[serde(default)]
    pub admin_tokens: Arc<BTreeMap<String, AdminTokenRecord>>,
    /// Nodes' admin addresses by node id.
    #[serde(default, with = "crate::pairs")]
    pub nodes: Arc<BTreeMap<crate::NodeId, NodeRecord>>,
}

/// The applied state as the data plane sees it: the state and the log index it reflects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateSnapshot {
    /// The index of the last applied log entry; `None` before anything was applied.
    pub applied_index: Option<u64>,
    /// The state after that entry.
    pub state: State,
}

impl State {
    /// Applies one committed command found at log index `index`.
    pub fn apply(&mut self, index: u64, command: AppRequest) -> AppResponse {
        let result = match command {
            AppRequest::PutServer {
                name,
                upstream,
                anonymous_policy,
                at,
            } => server::put(self, name, upstream, anonymous_policy, at),
            AppRequest::RemoveServer { name } => server::remove(self, &name),
            AppRequest::PutPolicy {
                name,
                text,
                format,
                author,
                at,
                expected_revision,
                shadow,
            } => policy::put(
                self,
                policy::NewVersion {
                    name,
                    text,
                    format,
                    author,
                    at,
                    expected_revision,
                    shadow,
                    log_index: index,
                },
            ),
            AppRequest::PutGrant {
                id,
                token_sha256,
                labels,
                server,
                servers,
                policy,
                at,
            } => grant::put(
                self,
                GrantRecord {
                    id,
                    token_sha256,
                    labels,
                    server,
                    servers,
                    policy,
                    created_at: at,
                    revoked_at: None,
                },
            ),
            AppRequest::RevokeGrant { id, at } => grant::revoke(self, &id, at),
            AppRequest::UpdateGrant {
                id,
                labels,
                policy,
                token_sha256,
            } => grant::update(self, &id, labels, policy, token_sha256),
            AppRequest::PutAdminToken {
                name,
                token_sha256,
                role,
                at,
            } => admin::put_token(
                self,
                AdminTokenRecord {
                    name,
                    token_sha256,
                    role,
                    created_at: at,
                    revoked_at: None,
                },
            ),
            AppRequest::RevokeAdminToken { name, at } => admin::revoke_token(self, &name, at),
            AppRequest::PutNode { id, admin_addr, at } => Ok(admin::put_node(
                self,
                id,
                NodeRecord {
                    admin_addr,
                    updated_at: at,
                },
            )),
            AppRequest::AddToCounter { key, delta, ceiling } => counter::add(self, key, delta, ceiling),
            AppRequest::ResetCounter { key } => counter::reset(self, &key),
            AppRequest::PruneCounters { before_ms } => counter::prune(self, before_ms),
            AppRequest::LeaseQuota {
                node,
                at,
                asks,
                returns,
            } => quota::lease(self, node, at, asks, returns),
            AppRequest::RequestApproval {
                id,
                grant,
                session,
                server,
                tool,
                args_sha256,
                arguments,
                policy,
                requested_at,
                expires_at,
                allowance_ms,
            } => approval::request(
                self,
                ApprovalRecord {
                    id,
                    grant,
                    session,
                    server,
                    tool,
                    args_sha256,
                    arguments,
                    policy,
                    requested_at,
                    expires_at,
                    state: ApprovalState::Pending,
                    forwarded_at: None,
                    allowance_ms,
                    allowance_until: None,
                },
            ),
            AppRequest::DecideApproval {
                id,
                approve,
                by,
                reason,
                at,
            } => approval::decide(self, &id, approve, by, reason, at),
            AppRequest::ExpireApprovals { at } => approval::expire(self, at),
            AppRequest::ClaimApproval { id, at } => approval::claim(self, &id, at),
            AppRequest::PutSession {
                id,
                grant,
                server,
                upstream_session_ids,
                node,
                at,
                initialize,
                members,
            } => session::put(
                self,
                SessionRecord {
                    id,
                    grant,
                    server,
                    upstream_session_ids,
                    node,
                    created_at: at,
                    initialize,
                    members,
                    touched_at: None,
                    touched_by: None,
                },
            ),
            AppRequest::SetSessionUpstream {
                id,
                upstream_session_ids,
            } => session::set_upstream(self, &id, upstream_session_ids),
            AppRequest::RemoveSession { id } => session::remove(self, &id),
            AppRequest::TouchSessions { node, at, ids } => Ok(session::touch(self, node, at, &ids)),
            AppRequest::ExpireSessions {
                at,
                idle_ms,
                after,
                scan,
            } => Ok(session::expire(self, at, idle_ms, after.as_deref(), scan)),
            AppRequest::ReleaseSession { id, node } => Ok(session::release(self, &id, node)),
            AppRequest::ReportSessionCounts { node, at, sessions } => {
                Ok(session_counts::report(self, node, at, sessions))
            }
        };
        match result {
            Ok(applied) => AppResponse::Applied(applied),
            Err(error) => AppResponse::Rejected(error),
        }
    }
}

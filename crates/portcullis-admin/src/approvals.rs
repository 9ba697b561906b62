//! `ApprovalService`: the calls parked for a human, and their decisions. Reads answer from this
//! node's applied state; a decision is a store command stamped with this node's clock, so an approver
//! may decide on any node, whichever node holds the parked call.

mod allowances;
mod convert;
mod watch;

use portcullis_proto::admin as pb;
use portcullis_proto::admin::approval_service_server::ApprovalService;
use portcullis_store::{AdminRole, AppRequest, Applied, ApprovalState};
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use crate::status;

/// The approval service of one node.
pub struct Approvals {
    context: AdminContext,
}

impl Approvals {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    /// Approves or denies `request.id` as `caller`, audited with the caller as the actor.
    async fn decide(
        &self,
        caller: &Caller,
        request: pb::DecideRequest,
        approve: bool,
    ) -> Result<pb::Approval, Status> {
        if request.id.is_empty() {
            return Err(Status::invalid_argument("an approval id is required"));
        }
        if !approve && request.reason.trim().is_empty() {
            return Err(Status::invalid_argument(
                "a denial needs a reason (the agent is told it): pass --reason",
            ));
        }
        let command = AppRequest::DecideApproval {
            id: request.id.clone(),
            approve,
            by: caller.name.clone(),
            reason: request.reason.clone(),
            at: self.context.now(),
        };
        let Applied::Approval { state } = status::applied(self.context.store.propose(command).await)? else {
            return Err(Status::internal(
                "the store answered an approval decision with another change",
            ));
        };
        let action = if approve { "approve" } else { "deny" };
        self.context.audit(
            &caller.name,
            action,
            &format!("approval {}", request.id),
            (!request.reason.is_empty()).then(|| request.reason.clone()),
        );
        // This node may apply the decision a moment after the leader committed it.
        let mut record = self
            .context
            .store
            .current()
            .state
            .approvals
            .get(&request.id)
            .cloned()
            .ok_or_else(|| status::not_found("approval", &request.id))?;
        if let ApprovalState::Approved { at, .. } = &state {
            record.allowance_until = record.allowance_end(*at);
        }
        record.state = state;
        Ok(convert::approval(&record))
    }
}

#[tonic::async_trait]
impl ApprovalService for Approvals {
    async fn list_approvals(
        &self,
        request: Request<pb::ListApprovalsRequest>,
    ) -> Result<Response<pb::ListApprovalsResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let include_decided = request.into_inner().include_decided;
        let snapshot = self.context.store.current();
        let now = self.context.now();
        // A pending record past its deadline can no longer be approved (its node may have died
        // before sweeping it), so it is not listed as pending.
        let mut approvals: Vec<pb::Approval> = snapshot
            .state
            .approvals
            .values()
            .filter(|record| include_decided || (convert::is_pending(record) && record.expires_at > now))
            .map(convert::approval)
            .collect();
        approvals.sort_by_key(|approval| approval.requested_at_ms);
        Ok(Response::new(pb::ListApprovalsResponse { approvals }))
    }

    async fn get_approval(
        &self,
        request: Request<pb::GetApprovalRequest>,
    ) -> Result<Response<pb::Approval>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let id = request.into_inner().id;
        let snapshot = self.context.store.current();
        let record = snapshot
            .state
            .approvals
            .get(&id)
            .ok_or_else(|| status::not_found("approval", &id))?;
        Ok(Response::new(convert::approval(record)))
    }

    async fn approve(&self, request: Request<pb::DecideRequest>) -> Result<Response<pb::Approval>, Status> {
        let caller = Caller::of(&request, AdminRole::Approver)?;
        let approval = self.decide(&caller, request.into_inner(), true).await?;
        Ok(Response::new(approval))
    }

    async fn deny(&self, request: Request<pb::DecideRequest>) -> Result<Response<pb::Approval>, Status> {
        let caller = Caller::of(&request, AdminRole::Approver)?;
        let approval = self.decide(&caller, request.into_inner(), false).await?;
        Ok(Response::new(approval))
    }

    async fn list_allowances(
        &self,
        request: Request<pb::ListAllowancesRequest>,
    ) -> Result<Response<pb::ListAllowancesResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let ask = request.into_inner();
        let snapshot = self.context.store.current();
        let allowances = allowances::list(
            &snapshot.state,
            self.context.now(),
            &ask.grant,
            ask.include_expired,
        );
        Ok(Response::new(pb::ListAllowancesResponse { allowances }))
    }

    type WatchApprovalsStream = watch::ApprovalStream;

    async fn watch_approvals(
        &self,
        request: Request<pb::WatchApprovalsRequest>,
    ) -> Result<Response<Self::WatchApprovalsStream>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        Ok(Response::new(watch::stream(self.context.store.subscribe())))
    }
}

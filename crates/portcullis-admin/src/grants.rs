//! `GrantService`: create (the token is shown once, only its hash is stored), inspect, relabel,
//! repolicy, rotate and revoke the grants agents present.

use std::collections::BTreeMap;

use portcullis_proto::admin as pb;
use portcullis_proto::admin::grant_service_server::GrantService;
use portcullis_store::{AdminRole, AppRequest, GrantRecord, PolicyChange, PolicyRef};
use tonic::{Request, Response, Status};

use crate::auth::{Caller, hash_token, mint_token};
use crate::context::AdminContext;
use crate::status;

/// Grant tokens start with this, so a leaked one is recognisable in logs and scanners.
const TOKEN_PREFIX: &str = "pcg_";

/// The grant service of one node.
pub struct Grants {
    context: AdminContext,
}

impl Grants {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    /// Grant `id` as this node has applied it.
    fn grant(&self, id: &str) -> Result<pb::Grant, Status> {
        self.context
            .store
            .current()
            .state
            .grants
            .get(id)
            .map(to_proto)
            .ok_or_else(|| status::not_found("grant", id))
    }

    async fn propose(&self, command: AppRequest) -> Result<(), Status> {
        status::applied(self.context.store.propose(command).await).map(|_| ())
    }
}

/// A grant as the API shows it: never the token, only the start of its hash.
fn to_proto(record: &GrantRecord) -> pb::Grant {
    pb::Grant {
        id: record.id.clone(),
        server: record.server.clone(),
        policy: record.policy.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        policy_revision: record.policy.as_ref().and_then(|p| p.revision),
        labels: record.labels.clone().into_iter().collect(),
        created_at_ms: record.created_at.0,
        revoked_at_ms: record.revoked_at.map(|at| at.0),
        token_sha256_prefix: record.token_sha256.chars().take(8).collect(),
        servers: record.covered().map(str::to_owned).collect(),
    }
}

/// A policy reference from the request's fields; an empty name is no policy.
fn policy_ref(name: &str, revision: Option<u64>) -> Result<Option<PolicyRef>, Status> {
    if name.is_empty() {
        if revision.is_some() {
            return Err(Status::invalid_argument("policy_revision needs a policy name"));
        }
        return Ok(None);
    }
    Ok(Some(PolicyRef {
        name: name.to_owned(),
        revision,
    }))
}

#[tonic::async_trait]
impl GrantService for Grants {
    async fn create_grant(
        &self,
        request: Request<pb::CreateGrantRequest>,
    ) -> Result<Response<pb::CreateGrantResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let request = request.into_inner();
        let id = if request.id.is_empty() {
            // 8 random hex digits: short enough to type, and a collision is refused, not merged.
            let random = mint_token("")?;
            format!("grant-{}", random.chars().take(8).collect::<String>())
        } else {
            request.id
        };
        let mut servers: Vec<String> = Vec::new();
        for name in std::iter::once(request.server).chain(request.servers) {
            if !name.is_empty() && !servers.contains(&name) {
                servers.push(name);
            }
        }
        let Some(server) = servers.first().cloned() else {
            return Err(Status::invalid_argument("a grant needs a server"));
        };
        // One server is stored as before, so older readers see the same record.
        if servers.len() == 1 {
            servers.clear();
        }
        let policy = policy_ref(&request.policy, request.policy_revision)?;
        let token = mint_token(TOKEN_PREFIX)?;
        self.propose(AppRequest::PutGrant {
            id: id.clone(),
            token_sha256: hash_token(&token),
            labels: request.labels.into_iter().collect::<BTreeMap<_, _>>(),
            server,
            servers,
            policy,
            at: self.context.now(),
        })
        .await?;
        self.context
            .audit(&caller.name, "CreateGrant", &format!("grant {id}"), None);
        Ok(Response::new(pb::CreateGrantResponse {
            grant: Some(self.grant(&id)?),
            token,
        }))
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let snapshot = self.context.store.current();
        let grants = snapshot
            .state
            .grants
            .values()
            .filter(|g| request.server.is_empty() || g.covered().any(|s| s == request.server))
            .filter(|g| request.include_revoked || g.revoked_at.is_none())
            .map(to_proto)
            .collect();
        Ok(Response::new(pb::ListGrantsResponse { grants }))
    }

    async fn get_grant(&self, request: Request<pb::GetGrantRequest>) -> Result<Response<pb::Grant>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        Ok(Response::new(self.grant(&request.into_inner().id)?))
    }

    async fn update_grant(
        &self,
        request: Request<pb::UpdateGrantRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let request = request.into_inner();
        let policy = match request.policy.as_deref() {
            None if request.policy_revision.is_some() => {
                return Err(Status::invalid_argument("policy_revision needs a policy name"));
            }
            None => PolicyChange::Keep,
            Some(name) => match policy_ref(name, request.policy_revision)? {
                Some(policy) => PolicyChange::Set(policy),
                None => PolicyChange::Clear,
            },
        };
        if !request.set_labels && policy == PolicyChange::Keep {
            return Err(Status::invalid_argument(
                "nothing to update: set the labels (set_labels) or a policy",
            ));
        }
        self.propose(AppRequest::UpdateGrant {
            id: request.id.clone(),
            labels: request.set_labels.then(|| request.labels.into_iter().collect()),
            policy,
            token_sha256: None,
        })
        .await?;
        self.context.audit(
            &caller.name,
            "UpdateGrant",
            &format!("grant {}", request.id),
            None,
        );
        Ok(Response::new(self.grant(&request.id)?))
    }

    async fn rotate_grant(
        &self,
        request: Request<pb::RotateGrantRequest>,
    ) -> Result<Response<pb::CreateGrantResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let id = request.into_inner().id;
        let token = mint_token(TOKEN_PREFIX)?;
        self.propose(AppRequest::UpdateGrant {
            id: id.clone(),
            labels: None,
            policy: PolicyChange::Keep,
            token_sha256: Some(hash_token(&token)),
        })
        .await?;
        self.context
            .audit(&caller.name, "RotateGrant", &format!("grant {id}"), None);
        Ok(Response::new(pb::CreateGrantResponse {
            grant: Some(self.grant(&id)?),
            token,
        }))
    }

    async fn revoke_grant(
        &self,
        request: Request<pb::RevokeGrantRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let id = request.into_inner().id;
        self.propose(AppRequest::RevokeGrant {
            id: id.clone(),
            at: self.context.now(),
        })
        .await?;
        self.context
            .audit(&caller.name, "RevokeGrant", &format!("grant {id}"), None);
        Ok(Response::new(self.grant(&id)?))
    }
}

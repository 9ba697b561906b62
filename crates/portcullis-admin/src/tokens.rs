//! `TokenService`: the admin tokens themselves (create, list, revoke) and who the caller is.

use portcullis_proto::admin as pb;
use portcullis_proto::admin::token_service_server::TokenService;
use portcullis_store::{AdminRole, AdminTokenRecord, AppRequest};
use tonic::{Request, Response, Status};

use crate::auth::{Caller, hash_token, mint_token};
use crate::context::AdminContext;
use crate::status;

/// Admin tokens start with this, so they can't be mistaken for grant tokens.
const TOKEN_PREFIX: &str = "pca_";

/// The token service of one node.
pub struct Tokens {
    context: AdminContext,
}

impl Tokens {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    fn token(&self, name: &str) -> Result<pb::AdminToken, Status> {
        self.context
            .store
            .current()
            .state
            .admin_tokens
            .get(name)
            .map(to_proto)
            .ok_or_else(|| status::not_found("admin token", name))
    }
}

fn to_proto(record: &AdminTokenRecord) -> pb::AdminToken {
    pb::AdminToken {
        name: record.name.clone(),
        role: role_to_proto(record.role).into(),
        created_at_ms: record.created_at.0,
        revoked_at_ms: record.revoked_at.map(|at| at.0),
    }
}

fn role_to_proto(role: AdminRole) -> pb::Role {
    match role {
        AdminRole::Viewer => pb::Role::Viewer,
        AdminRole::Approver => pb::Role::Approver,
        AdminRole::Admin => pb::Role::Admin,
    }
}

fn role_from_proto(role: i32) -> Result<AdminRole, Status> {
    match pb::Role::try_from(role) {
        Ok(pb::Role::Viewer) => Ok(AdminRole::Viewer),
        Ok(pb::Role::Approver) => Ok(AdminRole::Approver),
        Ok(pb::Role::Admin) => Ok(AdminRole::Admin),
        Ok(pb::Role::Unspecified) | Err(_) => Err(Status::invalid_argument(
            "role must be ROLE_VIEWER, ROLE_APPROVER or ROLE_ADMIN",
        )),
    }
}

#[tonic::async_trait]
impl TokenService for Tokens {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let request = request.into_inner();
        let role = role_from_proto(request.role)?;
        let secret = mint_token(TOKEN_PREFIX)?;
        let command = AppRequest::PutAdminToken {
            name: request.name.clone(),
            token_sha256: hash_token(&secret),
            role,
            at: self.context.now(),
        };
        status::applied(self.context.store.propose(command).await)?;
        self.context.audit(
            &caller.name,
            "CreateToken",
            &format!("admin token {}", request.name),
            Some(format!("role {}", role.as_str())),
        );
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(self.token(&request.name)?),
            secret,
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        Caller::of(&request, AdminRole::Admin)?;
        let snapshot = self.context.store.current();
        let tokens = snapshot.state.admin_tokens.values().map(to_proto).collect();
        Ok(Response::new(pb::ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::AdminToken>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let name = request.into_inner().name;
        let command = AppRequest::RevokeAdminToken {
            name: name.clone(),
            at: self.context.now(),
        };
        status::applied(self.context.store.propose(command).await)?;
        self.context
            .audit(&caller.name, "RevokeToken", &format!("admin token {name}"), None);
        Ok(Response::new(self.token(&name)?))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::AdminToken>, Status> {
        let caller = Caller::of(&request, AdminRole::Viewer)?;
        Ok(Response::new(self.token(&caller.name)?))
    }
}

//! Who is calling: the bearer token's SHA-256 looked up among the replicated admin tokens.

use std::sync::Arc;

use portcullis_store::{AdminRole, StateSnapshot};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Status};

/// An authenticated caller, put into each request's extensions by [`Authenticator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (the actor in audit records).
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
}

impl Caller {
    /// The caller of `request`, if it may act as `needed`.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when the request went around the authenticator; `PERMISSION_DENIED` when
    /// the caller's role is below `needed`.
    pub fn of<T>(request: &Request<T>, needed: AdminRole) -> Result<Self, Status> {
        let Some(caller) = request.extensions().get::<Self>() else {
            return Err(Status::unauthenticated("no admin token"));
        };
        if caller.role < needed {
            return Err(Status::permission_denied(format!(
                "token {:?} has role {}; this call needs {}",
                caller.name,
                caller.role.as_str(),
                needed.as_str()
            )));
        }
        Ok(caller.clone())
    }
}

/// A tonic interceptor that authenticates every call against the node's applied state.
#[derive(Clone)]
pub struct Authenticator {
    state: watch::Receiver<Arc<StateSnapshot>>,
}

impl Authenticator {
    /// Authenticates against the tokens in `state`.
    pub fn new(state: watch::Receiver<Arc<StateSnapshot>>) -> Self {
        Self { state }
    }

    /// `service` with every call authenticated first.
    pub fn wrap<S>(&self, service: S) -> InterceptedService<S, Self> {
        InterceptedService::new(service, self.clone())
    }

    /// Finds the caller of `request` and attaches it.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when the token is missing, malformed, unknown or revoked.
    pub fn authenticate(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").ok_or_else(|| {
            Status::unauthenticated("missing authorization: send `authorization: Bearer <admin token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <admin token>`"))?;
        let hash = hash_token(token);
        let caller = {
            let snapshot = self.state.borrow();
            snapshot
                .state
                .admin_tokens
                .values()
                .find(|record| record.revoked_at.is_none() && record.token_sha256 == hash)
                .map(|record| Caller {
                    name: record.name.clone(),
                    role: record.role,
                })
        };
        let caller = caller.ok_or_else(|| Status::unauthenticated("unknown or revoked admin token"))?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.authenticate(request)
    }
}

/// The hex SHA-256 of a token, as the store keeps it.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A fresh random token: `prefix` and 32 random bytes in hex.
///
/// # Errors
/// When the operating system has no randomness to give.
pub fn mint_token(prefix: &str) -> Result<String, Status> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| Status::internal(format!("no randomness: {error}")))?;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("{prefix}{hex}"))
}

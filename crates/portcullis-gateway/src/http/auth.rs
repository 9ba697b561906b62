//! Bearer tokens to grants. Tokens are compared by their SHA-256 only.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use portcullis_policy::Identity;

use super::Reject;
use crate::node::Node;
use crate::session::SessionHandle;
use crate::state::{GatewayState, Grant, ServerEntry, hash_token};

/// The grant id anonymous callers get.
pub const ANONYMOUS: &str = "anonymous";

/// Who is calling, resolved against the current snapshot.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The grant id (sessions and counters are keyed by it).
    pub grant_id: Arc<str>,
    /// The grant (for anonymous callers, one made from the server's anonymous policy).
    pub grant: Arc<Grant>,
}

/// Admits a request for `server`: the Origin/Host guard, a server by that name in the current snapshot,
/// and a caller whose grant covers it. Every route starts here.
///
/// # Errors
/// 403 from the guard, 404 for an unknown server, and [`authenticate`]'s 401/403.
pub fn admit(node: &Node, server: &str, headers: &HeaderMap) -> Result<(Arc<ServerEntry>, Caller), Reject> {
    super::guard::check(headers, &node.settings)?;
    let state = node.state.borrow().clone();
    let entry = state
        .servers
        .get(server)
        .cloned()
        .ok_or_else(|| Reject::status(StatusCode::NOT_FOUND, format!("no server named {server:?}")))?;
    let caller = authenticate(headers, &state, &entry)?;
    Ok((entry, caller))
}

/// The session `id` if it exists and belongs to `caller` on `server`; else a 404 that tells the client
/// to initialize again (another grant's session must look exactly like a missing one).
pub fn owned_session(
    node: &Node,
    id: &str,
    caller: &Caller,
    server: &ServerEntry,
) -> Result<SessionHandle, Reject> {
    node.sessions
        .get(id)
        .filter(|s| s.info().grant == caller.grant_id && s.info().server == server.name)
        .ok_or_else(|| Reject::status(StatusCode::NOT_FOUND, "unknown session: initialize again"))
}

/// The grant behind a request's bearer token, whatever server it names (the aggregate endpoint).
///
/// # Errors
/// 403 from the guard; 401 for a missing or unknown token.
pub fn admit_bearer(node: &Node, headers: &HeaderMap) -> Result<Caller, Reject> {
    super::guard::check(headers, &node.settings)?;
    let state = node.state.borrow().clone();
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Reject::unauthorized(
            "a bearer token is required",
            "Bearer realm=\"portcullis\"",
        ));
    };
    let grant = bearer_grant(value, &state)?;
    Ok(Caller {
        grant_id: Arc::from(grant.identity.id.as_str()),
        grant: Arc::clone(grant),
    })
}

/// Resolves the caller of `server`.
///
/// # Errors
/// 401 with `WWW-Authenticate: Bearer` for a missing or unknown token, 403 for a grant for another
/// server.
pub fn authenticate(
    headers: &HeaderMap,
    state: &GatewayState,
    server: &ServerEntry,
) -> Result<Caller, Reject> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return match &server.anonymous {
            Some(policy) => Ok(Caller {
                grant_id: Arc::from(ANONYMOUS),
                grant: Arc::new(Grant {
                    identity: Identity {
                        id: ANONYMOUS.to_owned(),
                        labels: Default::default(),
                    },
                    server: Arc::clone(&server.name),
                    servers: Vec::new(),
                    policy: Some(policy.clone()),
                }),
            }),
            None => Err(Reject::unauthorized(
                "a bearer token is required",
                "Bearer realm=\"portcullis\"",
            )),
        };
    };
    let grant = bearer_grant(value, state)?;
    if !grant.covers(&server.name) {
        return Err(Reject::status(
            StatusCode::FORBIDDEN,
            format!("this token is not granted access to server {:?}", &*server.name),
        ));
    }
    Ok(Caller {
        grant_id: Arc::from(grant.identity.id.as_str()),
        grant: Arc::clone(grant),
    })
}

/// The grant whose token is in an `Authorization` header.
fn bearer_grant<'a>(value: &HeaderValue, state: &'a GatewayState) -> Result<&'a Arc<Grant>, Reject> {
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    token
        .and_then(|t| state.grants.get(&hash_token(t)))
        .ok_or_else(|| {
            Reject::unauthorized(
                "the bearer token is not valid",
                "Bearer realm=\"portcullis\", error=\"invalid_token\"",
            )
        })
}

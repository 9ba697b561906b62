//! Store errors as gRPC statuses: the code says what kind of failure, the message what to do.

use portcullis_store::{AppResponse, Applied, ApplyError, StoreError};
use tonic::Status;

/// A store error as a status a client can act on.
pub fn from_store(error: StoreError) -> Status {
    let message = error.to_string();
    match error {
        StoreError::Invalid(_) => Status::invalid_argument(message),
        StoreError::NotMember { .. } => Status::not_found(message),
        StoreError::NotLeader { .. }
        | StoreError::LeaderChanged { .. }
        | StoreError::NoQuorum { .. }
        | StoreError::LeaderUnreachable { .. }
        | StoreError::MemberUnreachable { .. } => Status::unavailable(message),
        StoreError::Forwarded(_) | StoreError::JoinFailed { .. } => Status::aborted(message),
        StoreError::Storage { .. }
        | StoreError::WrongNode { .. }
        | StoreError::Stopped(_)
        | StoreError::Raft(_) => Status::internal(message),
    }
}

/// A refused command as a status.
pub fn from_apply(error: &ApplyError) -> Status {
    let message = error.to_string();
    match error {
        ApplyError::StaleRevision { .. } => Status::failed_precondition(message),
        ApplyError::UnknownServer { .. }
        | ApplyError::UnknownPolicy { .. }
        | ApplyError::UnknownGrant { .. }
        | ApplyError::UnknownApproval { .. }
        | ApplyError::UnknownSession { .. }
        | ApplyError::UnknownToken { .. } => Status::not_found(message),
        ApplyError::GrantExists { .. }
        | ApplyError::DuplicateToken { .. }
        | ApplyError::ApprovalExists { .. }
        | ApplyError::SessionExists { .. }
        | ApplyError::TokenExists { .. } => Status::already_exists(message),
        ApplyError::ServerInUse { .. }
        | ApplyError::GrantRevoked { .. }
        | ApplyError::ApprovalClosed { .. }
        | ApplyError::ApprovalExpired { .. }
        | ApplyError::CeilingExceeded { .. } => Status::failed_precondition(message),
    }
}

/// The change a committed command made, or its refusal as a status.
pub fn applied(response: Result<AppResponse, StoreError>) -> Result<Applied, Status> {
    response
        .map_err(from_store)?
        .into_result()
        .map_err(|error| from_apply(&error))
}

/// `NOT_FOUND` naming what is missing.
pub fn not_found(what: &str, name: &str) -> Status {
    Status::not_found(format!("no {what} {name:?}"))
}

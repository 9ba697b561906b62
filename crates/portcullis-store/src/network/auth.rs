//! The cluster's shared secret: every Raft RPC carries it as a bearer token, and a call without it
//! is refused before it reaches Raft, so a stranger can neither vote nor append.

use std::fmt;
use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

/// A secret shared by the nodes of one cluster.
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

/// Why a cluster secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cluster secret must be {MIN_LEN} to 256 printable ASCII characters without spaces")]
pub struct WeakSecret;

const MIN_LEN: usize = 16;

impl ClusterSecret {
    /// Checks and wraps a secret.
    ///
    /// # Errors
    /// When it is shorter than 16 characters, longer than 256, or not printable ASCII.
    pub fn new(secret: impl Into<String>) -> Result<Self, WeakSecret> {
        let secret = secret.into();
        let printable = secret.bytes().all(|b| b.is_ascii_graphic());
        if secret.len() < MIN_LEN || secret.len() > 256 || !printable {
            return Err(WeakSecret);
        }
        Ok(Self(secret.into()))
    }

    /// Adds the secret to an outgoing call.
    pub(crate) fn attach<T>(&self, request: &mut Request<T>) -> Result<(), Status> {
        let value = MetadataValue::try_from(format!("Bearer {}", self.0))
            .map_err(|_| Status::internal("cluster secret is not a valid header value"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(())
    }

    /// Refuses an incoming call that doesn't carry the secret.
    pub(crate) fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if constant_time_eq(presented.as_bytes(), self.0.as_bytes()) {
            Ok(())
        } else {
            tracing::warn!("refused a raft rpc without the cluster secret");
            Err(Status::unauthenticated(
                "this node only talks Raft to members of its cluster: present the cluster secret",
            ))
        }
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Compares without an early exit, so timing says nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

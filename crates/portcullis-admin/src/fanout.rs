//! Asking the other nodes' admin APIs: for their own view (cluster status, sessions) or to forward
//! a call only the leader can make. The caller's token goes along, so every node checks it itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use portcullis_store::NodeId;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::context::AdminContext;

/// Marks a call from another node: answer with this node's own view only (no further fan-out).
pub const LOCAL_SCOPE: &str = "x-portcullis-scope";

/// How long one peer may take to connect and answer before it counts as unreachable.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a forwarded call may take (membership changes wait for a learner to catch up).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// Carries the original caller's `authorization`, and the local-scope mark when asked for.
#[derive(Clone)]
pub struct Forward {
    authorization: Option<MetadataValue<Ascii>>,
    local: bool,
}

impl Interceptor for Forward {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.authorization {
            request.metadata_mut().insert("authorization", value.clone());
        }
        if self.local {
            request
                .metadata_mut()
                .insert(LOCAL_SCOPE, MetadataValue::from_static("local"));
        }
        Ok(request)
    }
}

/// A channel to a peer's admin API whose calls carry the original caller's token.
pub type PeerChannel = InterceptedService<Channel, Forward>;

/// Whether `request` came from another node asking for this node's own view.
pub fn is_local_scope<T>(request: &Request<T>) -> bool {
    request.metadata().get(LOCAL_SCOPE).is_some()
}

/// The caller's credentials, to pass on.
pub fn authorization<T>(request: &Request<T>) -> Option<MetadataValue<Ascii>> {
    request.metadata().get("authorization").cloned()
}

/// The other members' admin addresses, as they announced them (nodes removed from the cluster are
/// not asked).
pub fn peers(context: &AdminContext) -> BTreeMap<NodeId, String> {
    let raft = context.store.status();
    let me = raft.id;
    context
        .store
        .current()
        .state
        .nodes
        .iter()
        .filter(|(id, _)| **id != me && raft.members.iter().any(|member| member.id == **id))
        .map(|(id, record)| (*id, record.admin_addr.clone()))
        .collect()
}

/// A channel to the admin API at `addr` (`host:port`) carrying `authorization`.
///
/// # Errors
/// `INTERNAL` when the announced address is not a valid URI.
pub fn channel(
    addr: &str,
    authorization: Option<MetadataValue<Ascii>>,
    local: bool,
    timeout: Duration,
) -> Result<PeerChannel, Status> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|error| Status::internal(format!("bad admin address {addr:?}: {error}")))?
        .connect_timeout(timeout)
        .timeout(timeout);
    Ok(InterceptedService::new(
        endpoint.connect_lazy(),
        Forward { authorization, local },
    ))
}

/// Asks every peer with `ask` at once (each bounded by the peer timeout) and collects each answer
/// or why it failed, by node id.
pub async fn ask_peers<T, F, Fut>(
    context: &AdminContext,
    authorization: Option<MetadataValue<Ascii>>,
    ask: F,
) -> BTreeMap<NodeId, Result<T, String>>
where
    F: Fn(PeerChannel) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let calls = peers(context).into_iter().map(|(id, addr)| {
        let channel = channel(&addr, authorization.clone(), true, PEER_TIMEOUT);
        let call = channel.map(&ask);
        async move {
            let answer = match call {
                Ok(call) => match tokio::time::timeout(PEER_TIMEOUT, call).await {
                    Ok(Ok(answer)) => Ok(answer),
                    Ok(Err(status)) => Err(format!("node {id} at {addr}: {}", status.message())),
                    Err(_) => Err(format!("node {id} at {addr}: no answer within {PEER_TIMEOUT:?}")),
                },
                Err(status) => Err(status.message().to_owned()),
            };
            (id, answer)
        }
    });
    futures_util::future::join_all(calls).await.into_iter().collect()
}

/// A channel to the leader's admin API, to forward a call only the leader can make.
///
/// # Errors
/// `UNAVAILABLE` when no leader is known or it never announced its admin address.
pub fn leader_channel(
    context: &AdminContext,
    leader: Option<NodeId>,
    authorization: Option<MetadataValue<Ascii>>,
) -> Result<PeerChannel, Status> {
    let Some(leader) = leader.filter(|leader| *leader != context.store.node_id()) else {
        return Err(Status::unavailable(
            "no leader is known yet (an election may be running): retry shortly",
        ));
    };
    let Some(addr) = peers(context).remove(&leader) else {
        return Err(Status::unavailable(format!(
            "node {leader} leads but its admin address is unknown: send the call to it directly"
        )));
    };
    channel(&addr, authorization, false, FORWARD_TIMEOUT)
}

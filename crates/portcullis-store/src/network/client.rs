//! The gRPC side that calls other nodes: one cached channel per peer, the cluster secret on every
//! call, and openraft's errors mapped so that an unreachable peer backs off.

mod membership;

pub use membership::remove_member;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, RaftNetworkV2};
use portcullis_proto::raft::raft_client::RaftClient;
use portcullis_proto::raft::snapshot_chunk::Part;
use portcullis_proto::raft::{RaftMessage, SnapshotChunk};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use super::auth::ClusterSecret;
use super::wire::{ForwardError, from_message, to_message};
use crate::raft::{Snapshot, SnapshotData, TypeConfig, Vote};
use crate::{AppRequest, AppResponse, NodeId, StoreError};

/// Snapshots travel in chunks this large (well under gRPC's message limit).
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// The Raft network over gRPC. Cheap to clone: clones share the channel cache.
#[derive(Clone, Debug)]
pub(crate) struct GrpcNetwork {
    secret: ClusterSecret,
    /// Outbound connections leave from this address when set (the Raft listener's own).
    source_ip: Option<IpAddr>,
    /// One lazily connected channel per peer, with the address it was made for.
    channels: Arc<Mutex<BTreeMap<NodeId, (String, Channel)>>>,
}

impl GrpcNetwork {
    pub(crate) fn new(secret: ClusterSecret, source_ip: Option<IpAddr>) -> Self {
        Self {
            secret,
            source_ip,
            channels: Arc::default(),
        }
    }

    pub(crate) fn secret(&self) -> &ClusterSecret {
        &self.secret
    }

    /// The cached channel to `target`, made anew only when its address changed.
    fn channel(&self, target: NodeId, addr: &str) -> Result<Channel, Status> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((known, channel)) = channels.get(&target)
            && known == addr
        {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|error| Status::invalid_argument(format!("bad raft address {addr:?}: {error}")))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .local_address(self.source_ip)
            .connect_lazy();
        channels.insert(target, (addr.to_owned(), channel.clone()));
        Ok(channel)
    }

    fn request<T>(&self, message: T, timeout: Duration) -> Result<Request<T>, Status> {
        let mut request = Request::new(message);
        request.set_timeout(timeout);
        self.secret.attach(&mut request)?;
        Ok(request)
    }

    /// Sends a command to the leader at `addr`; returns its outcome and log index.
    pub(crate) async fn forward(
        &self,
        leader: NodeId,
        addr: &str,
        command: &AppRequest,
        timeout: Duration,
    ) -> Result<(AppResponse, u64), StoreError> {
        let failed = |status: Status| match status.code() {
            _ if unreachable(&status) => StoreError::LeaderUnreachable {
                leader,
                addr: addr.to_owned(),
                reason: status.message().to_owned(),
            },
            _ => StoreError::Forwarded(format!("node {leader} at {addr}: {}", status.message())),
        };
        let channel = self.channel(leader, addr).map_err(failed)?;
        let request = self
            .request(to_message(command).map_err(failed)?, timeout)
            .map_err(failed)?;
        let reply = RaftClient::new(channel).propose(request).await.map_err(failed)?;
        let outcome: Result<(AppResponse, u64), ForwardError> =
            from_message(reply.get_ref()).map_err(failed)?;
        outcome.map_err(StoreError::from)
    }
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = GrpcPeer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        GrpcPeer {
            target,
            channel: self.channel(target, &node.addr),
            network: self.clone(),
        }
    }
}

/// Raft's connection to one peer.
pub(crate) struct GrpcPeer {
    target: NodeId,
    channel: Result<Channel, Status>,
    network: GrpcNetwork,
}

impl GrpcPeer {
    fn client(&self) -> Result<RaftClient<Channel>, Status> {
        self.channel.clone().map(RaftClient::new)
    }

    /// Calls a unary RPC whose reply is the JSON of `Result<Resp, RaftError>`.
    async fn unary<Req, Resp, F, Fut>(
        &self,
        rpc: &Req,
        option: &RPCOption,
        call: F,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, Request<RaftMessage>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<RaftMessage>, Status>>,
    {
        let sent = async {
            let request = self.network.request(to_message(rpc)?, option.hard_ttl())?;
            let reply = call(self.client()?, request).await?;
            from_message::<Result<Resp, RaftError<TypeConfig>>>(reply.get_ref())
        };
        match sent.await {
            Ok(Ok(response)) => Ok(response),
            // The peer's Raft is shutting down: treat it like a peer that is gone.
            Ok(Err(remote)) => Err(RPCError::Unreachable(Unreachable::new(&remote))),
            Err(status) => Err(rpc_error(self.target, &status)),
        }
    }
}

fn rpc_error(target: NodeId, status: &Status) -> RPCError<TypeConfig> {
    tracing::debug!(peer = target, code = ?status.code(), message = status.message(), "raft rpc failed");
    if unreachable(status) || status.code() == Code::Unauthenticated {
        // The peer is down, slow or refusing us: back off before trying again.
        RPCError::Unreachable(Unreachable::new(status))
    } else {
        RPCError::Network(NetworkError::new(status))
    }
}

/// Whether a call failed for want of a working connection (the peer is down, slow or cut off), as
/// opposed to an answer. A connection reset mid-call surfaces as `Unknown` with a transport error.
fn unreachable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => true,
        Code::Unknown => std::error::Error::source(status)
            .is_some_and(|source| source.downcast_ref::<tonic::transport::Error>().is_some()),
        _ => false,
    }
}

impl RaftNetworkV2<TypeConfig> for GrpcPeer {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, &option, |mut client, request| async move {
            client.append_entries(request).await
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, &option, |mut client, request| async move {
            client.vote(request).await
        })
        .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, &option, |mut client, request| async move {
            client.pre_vote(request).await
        })
        .await
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, &option, |mut client, request| async move {
            client.transfer_leader(request).await
        })
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let unreachable = |status: &Status| StreamingError::Unreachable(Unreachable::new(status));
        let header = serde_json::to_vec(&(&vote, &snapshot.meta))
            .map_err(|error| unreachable(&Status::internal(error.to_string())))?;
        let chunks: Vec<SnapshotChunk> = std::iter::once(Part::Header(header))
            .chain(
                snapshot
                    .snapshot
                    .chunks(SNAPSHOT_CHUNK)
                    .map(|data| Part::Data(data.to_vec())),
            )
            .map(|part| SnapshotChunk { part: Some(part) })
            .collect();
        let bytes = snapshot.snapshot.len();
        let request = self
            .network
            .request(futures_util::stream::iter(chunks), option.hard_ttl())
            .map_err(|status| unreachable(&status))?;
        let mut client = self.client().map_err(|status| unreachable(&status))?;
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = client.install_snapshot(request) => reply.map_err(|status| unreachable(&status))?,
        };
        tracing::info!(peer = self.target, bytes, "snapshot sent");
        let outcome: Result<SnapshotResponse<TypeConfig>, openraft::error::Fatal<TypeConfig>> =
            from_message(reply.get_ref()).map_err(|status| unreachable(&status))?;
        outcome.map_err(|fatal| StreamingError::Unreachable(Unreachable::new(&fatal)))
    }
}

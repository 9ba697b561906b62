//! The gRPC side that answers other nodes: Raft's RPCs and forwarded commands, behind the cluster
//! secret.

use std::future::Future;

use openraft::error::RaftError;
use portcullis_proto::raft::raft_server::{Raft as RaftRpc, RaftServer};
use portcullis_proto::raft::snapshot_chunk::Part;
use portcullis_proto::raft::{RaftMessage, SnapshotChunk};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

use super::auth::ClusterSecret;
use super::wire::{ForwardError, JoinRequest, RemoveRequest, from_message, to_message};
use crate::raft::{Snapshot, SnapshotMeta, TypeConfig, Vote};
use crate::{AppRequest, AppResponse, Store, StoreError};

/// The largest snapshot a node accepts, and the largest single message (an append of big entries).
const MAX_SNAPSHOT: usize = 512 << 20;
const MAX_MESSAGE: usize = 128 << 20;

/// Serves Raft on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    store: Store,
    secret: ClusterSecret,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StoreError> {
    let service = RaftServer::new(RaftService { store })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let guarded =
        tonic::service::interceptor::InterceptedService::new(service, move |request: Request<()>| {
            secret.check(&request)?;
            Ok(request)
        });
    Server::builder()
        .add_service(guarded)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await
        .map_err(|error| StoreError::Raft(format!("the raft listener failed: {error}")))
}

struct RaftService {
    store: Store,
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn append_entries(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = from_message(request.get_ref())?;
        let result = self.store.raft().append_entries(rpc).await;
        // A higher vote means the sender is no longer the leader: that is no contact.
        if result
            .as_ref()
            .is_ok_and(|response| response.is_success() || response.is_conflict())
        {
            self.store.heard_from_leader();
        }
        to_message(&result).map(Response::new)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = from_message(request.get_ref())?;
        let result = self.store.raft().vote(rpc).await;
        to_message(&result).map(Response::new)
    }

    async fn pre_vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = from_message(request.get_ref())?;
        let result = self.store.raft().pre_vote(rpc).await;
        to_message(&result).map(Response::new)
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftMessage>, Status> {
        let mut chunks = request.into_inner();
        let mut header: Option<(Vote, SnapshotMeta)> = None;
        let mut data = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            match chunk.part {
                Some(Part::Header(bytes)) => {
                    let decoded = serde_json::from_slice(&bytes)
                        .map_err(|error| Status::invalid_argument(format!("bad snapshot header: {error}")))?;
                    header = Some(decoded);
                }
                Some(Part::Data(bytes)) => {
                    if data.len().saturating_add(bytes.len()) > MAX_SNAPSHOT {
                        return Err(Status::resource_exhausted(
                            "snapshot larger than this node accepts",
                        ));
                    }
                    data.extend_from_slice(&bytes);
                }
                None => {}
            }
        }
        let (vote, meta) =
            header.ok_or_else(|| Status::invalid_argument("snapshot stream without a header"))?;
        let bytes = data.len();
        let snapshot = Snapshot { meta, snapshot: data };
        let result = self.store.raft().install_full_snapshot(vote, snapshot).await;
        tracing::info!(bytes, "snapshot received");
        to_message(&result).map(Response::new)
    }

    async fn transfer_leader(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = from_message(request.get_ref())?;
        let result = self
            .store
            .raft()
            .handle_transfer_leader(rpc)
            .await
            .map_err(RaftError::<TypeConfig>::Fatal);
        to_message(&result).map(Response::new)
    }

    async fn join(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let join: JoinRequest = from_message(request.get_ref())?;
        let result: Result<(), ForwardError> = self
            .store
            .admit(join.node_id, join.addr)
            .await
            .map_err(ForwardError::from);
        to_message(&result).map(Response::new)
    }

    async fn remove(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let remove: RemoveRequest = from_message(request.get_ref())?;
        let result: Result<(), ForwardError> = self
            .store
            .dismiss(remove.node_id)
            .await
            .map_err(ForwardError::from);
        to_message(&result).map(Response::new)
    }

    async fn propose(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let command: AppRequest = from_message(request.get_ref())?;
        // Forwarded once only: the leader answers itself or says who leads now.
        let result: Result<(AppResponse, u64), ForwardError> =
            self.store.propose_here(command).await.map_err(ForwardError::from);
        to_message(&result).map(Response::new)
    }
}

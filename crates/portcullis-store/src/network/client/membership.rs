//! Joining and leaving a cluster: ask any member, follow one redirect to the leader.

use std::future::Future;
use std::time::Duration;

use portcullis_proto::raft::RaftMessage;
use portcullis_proto::raft::raft_client::RaftClient;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::GrpcNetwork;
use crate::network::wire::{ForwardError, JoinRequest, RemoveRequest, from_message, to_message};
use crate::{NodeId, StoreError};

impl GrpcNetwork {
    /// Asks the node at `seed` to admit `node_id` (reachable at `addr`); follows one redirect to
    /// the leader.
    pub(crate) async fn join(
        &self,
        seed: &str,
        node_id: NodeId,
        addr: &str,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let join = JoinRequest {
            node_id,
            addr: addr.to_owned(),
        };
        let failed = |target: &str, status: Status| StoreError::JoinFailed {
            seed: target.to_owned(),
            reason: status.message().to_owned(),
        };
        self.ask_leader(seed, &join, timeout, failed, |mut client, request| async move {
            client.join(request).await
        })
        .await
    }

    /// Asks the node at `seed` to remove `node_id` from the cluster; follows one redirect to the
    /// leader.
    pub(crate) async fn remove(
        &self,
        seed: &str,
        node_id: NodeId,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let failed = |target: &str, status: Status| StoreError::MemberUnreachable {
            addr: target.to_owned(),
            reason: status.message().to_owned(),
        };
        self.ask_leader(
            seed,
            &RemoveRequest { node_id },
            timeout,
            failed,
            |mut client, request| async move { client.remove(request).await },
        )
        .await
    }

    /// Sends `message` with `call` to `seed`, and once more to the leader it names.
    async fn ask_leader<M, F, Fut>(
        &self,
        seed: &str,
        message: &M,
        timeout: Duration,
        failed: impl Fn(&str, Status) -> StoreError,
        call: F,
    ) -> Result<(), StoreError>
    where
        M: Serialize,
        F: Fn(RaftClient<Channel>, Request<RaftMessage>) -> Fut,
        Fut: Future<Output = Result<Response<RaftMessage>, Status>>,
    {
        match self.ask_once(seed, message, timeout, &failed, &call).await {
            Err(StoreError::NotLeader {
                leader_addr: Some(leader),
                ..
            }) if leader != seed => self.ask_once(&leader, message, timeout, &failed, &call).await,
            other => other,
        }
    }

    async fn ask_once<M, F, Fut>(
        &self,
        target: &str,
        message: &M,
        timeout: Duration,
        failed: &impl Fn(&str, Status) -> StoreError,
        call: &F,
    ) -> Result<(), StoreError>
    where
        M: Serialize,
        F: Fn(RaftClient<Channel>, Request<RaftMessage>) -> Fut,
        Fut: Future<Output = Result<Response<RaftMessage>, Status>>,
    {
        let failed = |status: Status| failed(target, status);
        // A one-off call to a node whose id we don't know: no cached channel.
        let channel = Endpoint::from_shared(format!("http://{target}"))
            .map_err(|error| failed(Status::invalid_argument(error.to_string())))?
            .connect_timeout(Duration::from_millis(500))
            .local_address(self.source_ip)
            .connect_lazy();
        let request = self
            .request(to_message(message).map_err(failed)?, timeout)
            .map_err(failed)?;
        let reply = call(RaftClient::new(channel), request).await.map_err(failed)?;
        let outcome: Result<(), ForwardError> = from_message(reply.get_ref()).map_err(failed)?;
        outcome.map_err(StoreError::from)
    }
}

/// Asks the cluster, through any member at `seed`, to remove `node_id`: the leader drops it from
/// the voters and the members. Removing a node that is not a member succeeds.
///
/// # Errors
/// [`StoreError::MemberUnreachable`] when no member answers at `seed` (or it refuses the secret);
/// the leader's own errors (no quorum, the last voter) as they come.
pub async fn remove_member(
    seed: &str,
    secret: crate::ClusterSecret,
    node_id: NodeId,
    timeout: Duration,
) -> Result<(), StoreError> {
    GrpcNetwork::new(secret, None)
        .remove(seed, node_id, timeout)
        .await
}

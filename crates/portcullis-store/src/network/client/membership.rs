//! Joining a cluster: ask any member, follow one redirect to the leader.

use std::time::Duration;

use portcullis_proto::raft::raft_client::RaftClient;
use tonic::Status;
use tonic::transport::Endpoint;

use super::GrpcNetwork;
use crate::network::wire::{ForwardError, JoinRequest, from_message, to_message};
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
        match self.join_once(seed, &join, timeout).await {
            Err(StoreError::NotLeader {
                leader_addr: Some(leader),
                ..
            }) if leader != seed => self.join_once(&leader, &join, timeout).await,
            other => other,
        }
    }

    async fn join_once(&self, target: &str, join: &JoinRequest, timeout: Duration) -> Result<(), StoreError> {
        let failed = |status: Status| StoreError::JoinFailed {
            seed: target.to_owned(),
            reason: status.message().to_owned(),
        };
        // A one-off call to a node whose id we don't know yet: no cached channel.
        let channel = Endpoint::from_shared(format!("http://{target}"))
            .map_err(|error| failed(Status::invalid_argument(error.to_string())))?
            .connect_timeout(Duration::from_millis(500))
            .connect_lazy();
        let request = self
            .request(to_message(join).map_err(failed)?, timeout)
            .map_err(failed)?;
        let reply = RaftClient::new(channel).join(request).await.map_err(failed)?;
        let outcome: Result<(), ForwardError> = from_message(reply.get_ref()).map_err(failed)?;
        outcome.map_err(StoreError::from)
    }
}

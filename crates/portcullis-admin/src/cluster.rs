//! `ClusterService`: members and their Raft progress as each node sees itself, and membership
//! changes (made by the leader; a follower forwards them to the leader's admin API).

use std::time::Duration;

use portcullis_proto::admin as pb;
use portcullis_proto::admin::cluster_service_client::ClusterServiceClient;
use portcullis_proto::admin::cluster_service_server::ClusterService;
use portcullis_store::{AdminRole, NodeId, StoreError};
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use crate::fanout;
use crate::status;

/// How long a leadership transfer may take before the call gives up waiting for it.
const TRANSFER_WAIT: Duration = Duration::from_secs(10);

/// The cluster service of one node.
pub struct Cluster {
    context: AdminContext,
}

impl Cluster {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    /// This node as it sees itself.
    fn own_view(&self) -> pb::NodeStatus {
        let raft = self.context.store.status();
        let state = self.context.store.current();
        let me = raft.members.iter().find(|member| member.id == raft.id);
        pb::NodeStatus {
            id: raft.id,
            raft_addr: me.map(|member| member.raft_addr.clone()).unwrap_or_default(),
            admin_addr: state
                .state
                .nodes
                .get(&raft.id)
                .map(|record| record.admin_addr.clone())
                .unwrap_or_default(),
            role: raft.role.to_owned(),
            voter: me.is_some_and(|member| member.voter),
            term: raft.term,
            commit_index: raft.commit_index,
            applied_index: raft.applied_index,
            policy_revisions: state
                .state
                .policies
                .iter()
                .map(|(name, history)| (name.clone(), history.current_revision()))
                .collect(),
            error: String::new(),
        }
    }

    /// Every member: this node's own view, and each other member's view of itself.
    async fn cluster_view<T>(&self, request: &Request<T>) -> pb::ClusterStatusResponse {
        let raft = self.context.store.status();
        let own = self.own_view();
        let mut answers = fanout::ask_peers(&self.context, fanout::authorization(request), |channel| async {
            let response = ClusterServiceClient::new(channel)
                .cluster_status(pb::ClusterStatusRequest {})
                .await?;
            response
                .into_inner()
                .nodes
                .into_iter()
                .next()
                .ok_or_else(|| Status::internal("the node described no node"))
        })
        .await;
        let addresses = fanout::peers(&self.context);
        let nodes = raft
            .members
            .iter()
            .map(|member| {
                if member.id == raft.id {
                    return own.clone();
                }
                let unreachable = |error: String| pb::NodeStatus {
                    id: member.id,
                    raft_addr: member.raft_addr.clone(),
                    admin_addr: addresses.get(&member.id).cloned().unwrap_or_default(),
                    role: "unreachable".to_owned(),
                    voter: member.voter,
                    error,
                    ..pb::NodeStatus::default()
                };
                match answers.remove(&member.id) {
                    // Membership and addresses as the answering node knows them: a node may not
                    // have applied its own announcement, or heard of its own re-addition, yet.
                    Some(Ok(view)) => pb::NodeStatus {
                        raft_addr: member.raft_addr.clone(),
                        admin_addr: addresses.get(&member.id).cloned().unwrap_or_default(),
                        voter: member.voter,
                        ..view
                    },
                    Some(Err(error)) => unreachable(error),
                    None => unreachable("the node has not announced its admin address".to_owned()),
                }
            })
            .collect();
        pb::ClusterStatusResponse {
            leader: raft.leader.unwrap_or(0),
            term: raft.term,
            nodes,
        }
    }

    /// The leader's admin API, when `error` says this node isn't the leader.
    fn forward_target<T>(
        &self,
        error: &StoreError,
        request: &Request<T>,
    ) -> Option<Result<ClusterServiceClient<fanout::PeerChannel>, Status>> {
        let StoreError::NotLeader { leader_hint, .. } = error else {
            return None;
        };
        Some(
            fanout::leader_channel(&self.context, *leader_hint, fanout::authorization(request))
                .map(ClusterServiceClient::new),
        )
    }

    /// Waits (bounded) until `to` leads as this node sees it.
    async fn wait_leader(&self, to: NodeId) -> Result<(), Status> {
        let deadline = tokio::time::Instant::now() + TRANSFER_WAIT;
        while self.context.store.status().leader != Some(to) {
            if tokio::time::Instant::now() >= deadline {
                return Err(Status::deadline_exceeded(format!(
                    "node {to} did not take over within {TRANSFER_WAIT:?}: check cluster status and retry"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

fn check_node_id(id: NodeId) -> Result<(), Status> {
    if id == 0 {
        return Err(Status::invalid_argument("node ids are positive integers"));
    }
    Ok(())
}

#[tonic::async_trait]
impl ClusterService for Cluster {
    async fn cluster_status(
        &self,
        request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        if fanout::is_local_scope(&request) {
            let raft = self.context.store.status();
            return Ok(Response::new(pb::ClusterStatusResponse {
                leader: raft.leader.unwrap_or(0),
                term: raft.term,
                nodes: vec![self.own_view()],
            }));
        }
        Ok(Response::new(self.cluster_view(&request).await))
    }

    async fn add_node(
        &self,
        request: Request<pb::AddNodeRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let add = request.get_ref().clone();
        check_node_id(add.id)?;
        if add.raft_addr.trim().is_empty() || !add.raft_addr.contains(':') {
            return Err(Status::invalid_argument(format!(
                "raft_addr {:?} must be the new node's Raft address, host:port",
                add.raft_addr
            )));
        }
        if let Err(error) = self
            .context
            .store
            .add_node(add.id, add.raft_addr.clone(), add.learner_only)
            .await
        {
            return match self.forward_target(&error, &request) {
                Some(client) => Ok(client?.add_node(add).await?),
                None => Err(status::from_store(error)),
            };
        }
        let role = if add.learner_only { "learner" } else { "voter" };
        self.context.audit(
            &caller.name,
            "add_node",
            &format!("node {} at {} as {role}", add.id, add.raft_addr),
            None,
        );
        Ok(Response::new(self.cluster_view(&request).await))
    }

    async fn remove_node(
        &self,
        request: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let remove = *request.get_ref();
        check_node_id(remove.id)?;
        if let Err(error) = self.context.store.remove_node(remove.id).await {
            return match self.forward_target(&error, &request) {
                Some(client) => Ok(client?.remove_node(remove).await?),
                None => Err(status::from_store(error)),
            };
        }
        self.context
            .audit(&caller.name, "remove_node", &format!("node {}", remove.id), None);
        Ok(Response::new(self.cluster_view(&request).await))
    }

    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let transfer = *request.get_ref();
        check_node_id(transfer.to)?;
        if self.context.store.status().leader != Some(transfer.to) {
            if let Err(error) = self.context.store.transfer_leader(transfer.to).await {
                return match self.forward_target(&error, &request) {
                    Some(client) => Ok(client?.transfer_leader(transfer).await?),
                    None => Err(status::from_store(error)),
                };
            }
            self.context.audit(
                &caller.name,
                "transfer_leader",
                &format!("node {}", transfer.to),
                None,
            );
            self.wait_leader(transfer.to).await?;
        }
        Ok(Response::new(self.cluster_view(&request).await))
    }
}

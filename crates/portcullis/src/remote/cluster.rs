//! `portcullis cluster status|add|remove|transfer-leader`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::cluster_service_client::ClusterServiceClient;
use serde_json::json;

use super::{RemoteArgs, RemoteError, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Members, roles, the leader, and each node's Raft progress and policy revisions (as each node
    /// reports itself).
    Status(RemoteArgs),
    /// Add a node (started with its own Raft listener) as a learner, then as a voter once caught up.
    Add(AddArgs),
    /// Remove a node from the cluster.
    Remove(NodeArgs),
    /// Hand leadership to another voter.
    TransferLeader(NodeArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The new node's id.
    pub id: u64,
    /// Its Raft address, host:port.
    pub raft_addr: String,
    /// Leave it a learner (it replicates but doesn't vote).
    #[arg(long)]
    pub learner_only: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's id.
    pub id: u64,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub async fn run(command: &ClusterCommand) -> Result<ExitCode, RemoteError> {
    let remote = match command {
        ClusterCommand::Status(remote) => remote,
        ClusterCommand::Add(args) => &args.remote,
        ClusterCommand::Remove(args) | ClusterCommand::TransferLeader(args) => &args.remote,
    };
    let mut client = ClusterServiceClient::new(connect(remote).await?);
    let status = match command {
        ClusterCommand::Status(_) => client.cluster_status(pb::ClusterStatusRequest {}).await?,
        ClusterCommand::Add(args) => {
            client
                .add_node(pb::AddNodeRequest {
                    id: args.id,
                    raft_addr: args.raft_addr.clone(),
                    learner_only: args.learner_only,
                })
                .await?
        }
        ClusterCommand::Remove(args) => client.remove_node(pb::RemoveNodeRequest { id: args.id }).await?,
        ClusterCommand::TransferLeader(args) => {
            client
                .transfer_leader(pb::TransferLeaderRequest { to: args.id })
                .await?
        }
    }
    .into_inner();
    print(&status, remote.output)?;
    Ok(ExitCode::SUCCESS)
}

fn print(status: &pb::ClusterStatusResponse, output: Output) -> Result<(), RemoteError> {
    match output {
        Output::Json => print_json(&json!({
            "leader": status.leader,
            "term": status.term,
            "nodes": status.nodes.iter().map(|node| json!({
                "id": node.id,
                "raft_addr": node.raft_addr,
                "admin_addr": node.admin_addr,
                "role": node.role,
                "voter": node.voter,
                "term": node.term,
                "commit_index": node.commit_index,
                "applied_index": node.applied_index,
                "policy_revisions": node.policy_revisions,
                "error": node.error,
            })).collect::<Vec<_>>(),
        })),
        Output::Text => {
            println!("leader {} term {}", status.leader, status.term);
            let mut table = Table::new(&[
                "id", "role", "voter", "term", "commit", "applied", "policies", "raft", "admin",
            ]);
            for node in &status.nodes {
                let mut policies: Vec<String> = node
                    .policy_revisions
                    .iter()
                    .map(|(name, revision)| format!("{name}@{revision}"))
                    .collect();
                policies.sort();
                table.row(vec![
                    node.id.to_string(),
                    node.role.clone(),
                    if node.voter { "yes" } else { "no" }.to_owned(),
                    node.term.to_string(),
                    node.commit_index.to_string(),
                    node.applied_index.to_string(),
                    policies.join(","),
                    node.raft_addr.clone(),
                    node.admin_addr.clone(),
                ]);
            }
            table.print();
            for node in status.nodes.iter().filter(|node| !node.error.is_empty()) {
                println!("node {}: {}", node.id, node.error);
            }
            Ok(())
        }
    }
}

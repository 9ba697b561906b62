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
    /// Remove a node from the cluster (through the admin API, or with --via through any member's Raft
    /// listener and the cluster secret, for a cluster whose admin API can't be reached).
    Remove(RemoveArgs),
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
pub struct RemoveArgs {
    /// The node's id.
    pub id: u64,
    /// Ask this member's Raft listener instead of the admin API (the request follows the leader).
    #[arg(long, value_name = "RAFT_ADDR")]
    pub via: Option<String>,
    /// With --via: a file holding the cluster's shared secret; or set PORTCULLIS_CLUSTER_SECRET.
    #[arg(long, requires = "via")]
    pub cluster_secret_file: Option<std::path::PathBuf>,
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

/// How long the leader may take to commit a membership change asked for through a Raft listener.
const VIA_RAFT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

pub async fn run(command: &ClusterCommand) -> Result<ExitCode, RemoteError> {
    if let ClusterCommand::Remove(RemoveArgs {
        id,
        via: Some(via),
        cluster_secret_file,
        ..
    }) = command
    {
        return remove_via_raft(*id, via, cluster_secret_file.as_deref()).await;
    }
    let remote = match command {
        ClusterCommand::Status(remote) => remote,
        ClusterCommand::Add(args) => &args.remote,
        ClusterCommand::Remove(args) => &args.remote,
        ClusterCommand::TransferLeader(args) => &args.remote,
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

/// Removes `id` through a member's Raft listener, authenticated with the cluster secret. Every failure
/// exits 1: a member that refuses a wrong secret looks the same as one that is down.
async fn remove_via_raft(
    id: u64,
    via: &str,
    secret_file: Option<&std::path::Path>,
) -> Result<ExitCode, RemoteError> {
    let secret = crate::replicated::read_secret(secret_file)?.ok_or_else(|| {
        anyhow::anyhow!("no cluster secret: pass --cluster-secret-file FILE or set PORTCULLIS_CLUSTER_SECRET")
    })?;
    match portcullis_store::remove_member(via, secret, id, VIA_RAFT_TIMEOUT).await {
        Ok(()) => {
            println!("removed node {id} from the cluster");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Err(RemoteError::Local(anyhow::anyhow!("removing node {id}: {error}"))),
    }
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

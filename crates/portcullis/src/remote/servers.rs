//! `portcullis servers put|get|list|remove`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::server_service_client::ServerServiceClient;
use serde_json::json;

use super::policies::rfc3339;
use super::{RemoteArgs, RemoteError, Shape, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// Register a server, or replace its upstream.
    Put(PutArgs),
    /// Show one server.
    Get(NameArgs),
    /// List the servers.
    List(RemoteArgs),
    /// Remove a server (refused while a live grant uses it).
    Remove(NameArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  portcullis servers put files --upstream '{\"type\":\"http\",\"url\":\"http://127.0.0.1:9000/mcp\"}'"
)]
pub struct PutArgs {
    /// The server's name (agents reach it at /mcp/<name>).
    pub name: String,
    /// The upstream as JSON, in the config file's shape.
    #[arg(long)]
    pub upstream: String,
    /// Serve requests without a token under this policy.
    #[arg(long)]
    pub anonymous_policy: Option<String>,
    /// Only update: fail when the server doesn't exist.
    #[arg(long)]
    pub must_exist: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The server's name.
    pub name: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Runs one `servers` command.
pub fn run(command: ServersCommand) -> anyhow::Result<ExitCode> {
    super::run(async move {
        match command {
            ServersCommand::Put(args) => {
                let request = pb::PutServerRequest {
                    name: args.name,
                    upstream_json: args.upstream,
                    anonymous_policy: args.anonymous_policy.unwrap_or_default(),
                    must_exist: args.must_exist,
                };
                let server = client(&args.remote).await?.put_server(request).await?;
                show(&args.remote, Shape::One, &[server.into_inner()])
            }
            ServersCommand::Get(args) => {
                let request = pb::GetServerRequest { name: args.name };
                let server = client(&args.remote).await?.get_server(request).await?;
                show(&args.remote, Shape::One, &[server.into_inner()])
            }
            ServersCommand::List(remote) => {
                let servers = client(&remote)
                    .await?
                    .list_servers(pb::ListServersRequest {})
                    .await?;
                show(&remote, Shape::List, &servers.into_inner().servers)
            }
            ServersCommand::Remove(args) => {
                let request = pb::RemoveServerRequest {
                    name: args.name.clone(),
                };
                client(&args.remote).await?.remove_server(request).await?;
                match args.remote.output {
                    Output::Json => print_json(&json!({"removed": args.name}))?,
                    Output::Text => println!("server {} removed", args.name),
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn client(remote: &RemoteArgs) -> Result<ServerServiceClient<super::Client>, RemoteError> {
    Ok(ServerServiceClient::new(connect(remote).await?))
}

fn show(remote: &RemoteArgs, shape: Shape, servers: &[pb::Server]) -> Result<ExitCode, RemoteError> {
    match remote.output {
        Output::Json if shape == Shape::One => print_json(&servers.iter().map(server_json).next())?,
        Output::Json => print_json(&servers.iter().map(server_json).collect::<Vec<_>>())?,
        Output::Text => {
            let mut table = Table::new(&["name", "upstream", "anonymous_policy", "updated"]);
            for server in servers {
                table.row(vec![
                    server.name.clone(),
                    server.upstream_json.clone(),
                    server.anonymous_policy.clone(),
                    rfc3339(server.updated_at_ms),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn server_json(server: &pb::Server) -> serde_json::Value {
    // The upstream is JSON already: nest it rather than quoting it.
    let upstream: serde_json::Value =
        serde_json::from_str(&server.upstream_json).unwrap_or_else(|_| json!(server.upstream_json));
    json!({
        "name": server.name,
        "upstream": upstream,
        "anonymous_policy": server.anonymous_policy,
        "updated_at_ms": server.updated_at_ms,
    })
}

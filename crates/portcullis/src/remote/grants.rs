//! `portcullis grants create|list|get|update|rotate|revoke`.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::grant_service_client::GrantServiceClient;
use serde_json::json;

use super::policies::rfc3339;
use super::{RemoteArgs, RemoteError, Shape, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Create a grant; prints its token once (only its hash is stored).
    Create(CreateArgs),
    /// List the grants (live ones unless --include-revoked).
    List(ListArgs),
    /// Show one grant.
    Get(IdArgs),
    /// Replace a grant's labels and/or change its policy.
    Update(UpdateArgs),
    /// Give a grant a new token; the old one stops working on every node.
    Rotate(IdArgs),
    /// Revoke a grant: every node refuses its token and ends its sessions.
    Revoke(IdArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A server the grant may use; repeat it for several (served together at `/mcp`).
    #[arg(long, required = true)]
    pub server: Vec<String>,
    /// The policy that applies (none: every call is denied).
    #[arg(long)]
    pub policy: Option<String>,
    /// Pin the policy at this revision (the latest by default).
    #[arg(long, requires = "policy")]
    pub policy_revision: Option<u64>,
    /// A label, KEY=VALUE (repeatable).
    #[arg(long = "label", value_parser = label)]
    pub labels: Vec<(String, String)>,
    /// The grant's id (generated when absent).
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only grants for this server.
    #[arg(long)]
    pub server: Option<String>,
    /// Include revoked grants.
    #[arg(long)]
    pub include_revoked: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The grant's id.
    pub id: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The grant's id.
    pub id: String,
    /// Replace the labels with these, KEY=VALUE (repeatable).
    #[arg(long = "label", value_parser = label)]
    pub labels: Vec<(String, String)>,
    /// Remove every label.
    #[arg(long, conflicts_with = "labels")]
    pub clear_labels: bool,
    /// Use this policy ("" removes it: every call is then denied).
    #[arg(long)]
    pub policy: Option<String>,
    /// Pin the policy at this revision.
    #[arg(long, requires = "policy")]
    pub policy_revision: Option<u64>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

fn label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Runs one `grants` command.
pub fn run(command: GrantsCommand) -> anyhow::Result<ExitCode> {
    super::run(async move {
        match command {
            GrantsCommand::Create(args) => create(args).await,
            GrantsCommand::List(args) => list(args).await,
            GrantsCommand::Get(args) => {
                let mut client = client(&args.remote).await?;
                let grant = client.get_grant(pb::GetGrantRequest { id: args.id }).await?;
                show(&args.remote, Shape::One, &[grant.into_inner()])
            }
            GrantsCommand::Update(args) => update(args).await,
            GrantsCommand::Rotate(args) => {
                let mut client = client(&args.remote).await?;
                let rotated = client
                    .rotate_grant(pb::RotateGrantRequest { id: args.id })
                    .await?;
                with_token(&args.remote, rotated.into_inner())
            }
            GrantsCommand::Revoke(args) => {
                let mut client = client(&args.remote).await?;
                let grant = client
                    .revoke_grant(pb::RevokeGrantRequest { id: args.id })
                    .await?;
                show(&args.remote, Shape::One, &[grant.into_inner()])
            }
        }
    })
}

async fn client(remote: &RemoteArgs) -> Result<GrantServiceClient<super::Client>, RemoteError> {
    Ok(GrantServiceClient::new(connect(remote).await?))
}

async fn create(args: CreateArgs) -> Result<ExitCode, RemoteError> {
    let request = pb::CreateGrantRequest {
        id: args.id.unwrap_or_default(),
        server: args.server.first().cloned().unwrap_or_default(),
        servers: args.server,
        policy: args.policy.unwrap_or_default(),
        policy_revision: args.policy_revision,
        labels: args.labels.into_iter().collect(),
    };
    let created = client(&args.remote).await?.create_grant(request).await?;
    with_token(&args.remote, created.into_inner())
}

async fn list(args: ListArgs) -> Result<ExitCode, RemoteError> {
    let request = pb::ListGrantsRequest {
        server: args.server.unwrap_or_default(),
        include_revoked: args.include_revoked,
    };
    let grants = client(&args.remote).await?.list_grants(request).await?;
    show(&args.remote, Shape::List, &grants.into_inner().grants)
}

async fn update(args: UpdateArgs) -> Result<ExitCode, RemoteError> {
    let set_labels = args.clear_labels || !args.labels.is_empty();
    let request = pb::UpdateGrantRequest {
        id: args.id,
        set_labels,
        labels: args.labels.into_iter().collect::<HashMap<_, _>>(),
        policy: args.policy,
        policy_revision: args.policy_revision,
    };
    let grant = client(&args.remote).await?.update_grant(request).await?;
    show(&args.remote, Shape::One, &[grant.into_inner()])
}

/// A created or rotated grant: the token goes to stdout once, for the operator to hand over.
fn with_token(remote: &RemoteArgs, response: pb::CreateGrantResponse) -> Result<ExitCode, RemoteError> {
    let grant = response.grant.unwrap_or_default();
    match remote.output {
        Output::Json => print_json(&json!({"grant": grant_json(&grant), "token": response.token}))?,
        Output::Text => {
            println!("grant {} for server {}", grant.id, servers_text(&grant));
            println!("token: {}", response.token);
            println!("(shown once: only its hash is stored)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(remote: &RemoteArgs, shape: Shape, grants: &[pb::Grant]) -> Result<ExitCode, RemoteError> {
    match remote.output {
        Output::Json if shape == Shape::One => print_json(&grants.iter().map(grant_json).next())?,
        Output::Json => print_json(&grants.iter().map(grant_json).collect::<Vec<_>>())?,
        Output::Text => {
            let mut table = Table::new(&["id", "server", "policy", "labels", "token", "created", "revoked"]);
            for grant in grants {
                let mut labels: Vec<String> = grant.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                labels.sort();
                let policy = match grant.policy_revision {
                    Some(revision) => format!("{}@{revision}", grant.policy),
                    None => grant.policy.clone(),
                };
                table.row(vec![
                    grant.id.clone(),
                    servers_text(grant),
                    policy,
                    labels.join(","),
                    format!("{}…", grant.token_sha256_prefix),
                    rfc3339(grant.created_at_ms),
                    grant.revoked_at_ms.map(rfc3339).unwrap_or_default(),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The grant's servers, comma-separated (older nodes send only `server`).
fn servers_text(grant: &pb::Grant) -> String {
    if grant.servers.is_empty() {
        grant.server.clone()
    } else {
        grant.servers.join(",")
    }
}

fn grant_json(grant: &pb::Grant) -> serde_json::Value {
    json!({
        "id": grant.id,
        "server": grant.server,
        "servers": grant.servers,
        "policy": grant.policy,
        "policy_revision": grant.policy_revision,
        "labels": grant.labels,
        "created_at_ms": grant.created_at_ms,
        "revoked_at_ms": grant.revoked_at_ms,
        "token_sha256_prefix": grant.token_sha256_prefix,
    })
}

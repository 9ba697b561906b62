//! `portcullis tokens create|list|revoke|whoami`: the admin API's own tokens.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::token_service_client::TokenServiceClient;
use serde_json::json;

use super::policies::rfc3339;
use super::{RemoteArgs, RemoteError, Shape, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an admin token; prints its secret once (only its hash is stored).
    Create(CreateArgs),
    /// List the admin tokens (never their secrets).
    List(RemoteArgs),
    /// Revoke an admin token: every node refuses it.
    Revoke(NameArgs),
    /// Show the token this command authenticates with.
    Whoami(RemoteArgs),
}

/// What a token may do.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read everything and decide approvals.
    Approver,
    /// Everything.
    Admin,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Who holds it (the actor in audit records).
    pub name: String,
    /// What it may do.
    #[arg(long, value_enum)]
    pub role: Role,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The token's name.
    pub name: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Runs one `tokens` command.
pub fn run(command: TokensCommand) -> anyhow::Result<ExitCode> {
    super::run(async move {
        match command {
            TokensCommand::Create(args) => {
                let role = match args.role {
                    Role::Viewer => pb::Role::Viewer,
                    Role::Approver => pb::Role::Approver,
                    Role::Admin => pb::Role::Admin,
                };
                let request = pb::CreateTokenRequest {
                    name: args.name,
                    role: role.into(),
                };
                let created = client(&args.remote)
                    .await?
                    .create_token(request)
                    .await?
                    .into_inner();
                let token = created.token.unwrap_or_default();
                match args.remote.output {
                    Output::Json => {
                        print_json(&json!({"token": token_json(&token), "secret": created.secret}))?;
                    }
                    Output::Text => {
                        println!("admin token {} ({})", token.name, token.role().as_str_name());
                        println!("secret: {}", created.secret);
                        println!("(shown once: only its hash is stored)");
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            TokensCommand::List(remote) => {
                let tokens = client(&remote)
                    .await?
                    .list_tokens(pb::ListTokensRequest {})
                    .await?;
                show(&remote, Shape::List, &tokens.into_inner().tokens)
            }
            TokensCommand::Revoke(args) => {
                let request = pb::RevokeTokenRequest { name: args.name };
                let token = client(&args.remote).await?.revoke_token(request).await?;
                show(&args.remote, Shape::One, &[token.into_inner()])
            }
            TokensCommand::Whoami(remote) => {
                let token = client(&remote).await?.who_am_i(pb::WhoAmIRequest {}).await?;
                show(&remote, Shape::One, &[token.into_inner()])
            }
        }
    })
}

async fn client(remote: &RemoteArgs) -> Result<TokenServiceClient<super::Client>, RemoteError> {
    Ok(TokenServiceClient::new(connect(remote).await?))
}

fn show(remote: &RemoteArgs, shape: Shape, tokens: &[pb::AdminToken]) -> Result<ExitCode, RemoteError> {
    match remote.output {
        Output::Json if shape == Shape::One => print_json(&tokens.iter().map(token_json).next())?,
        Output::Json => print_json(&tokens.iter().map(token_json).collect::<Vec<_>>())?,
        Output::Text => {
            let mut table = Table::new(&["name", "role", "created", "revoked"]);
            for token in tokens {
                table.row(vec![
                    token.name.clone(),
                    role_name(token).to_owned(),
                    rfc3339(token.created_at_ms),
                    token.revoked_at_ms.map(rfc3339).unwrap_or_default(),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn role_name(token: &pb::AdminToken) -> &'static str {
    match token.role() {
        pb::Role::Viewer => "viewer",
        pb::Role::Approver => "approver",
        pb::Role::Admin => "admin",
        pb::Role::Unspecified => "unspecified",
    }
}

fn token_json(token: &pb::AdminToken) -> serde_json::Value {
    json!({
        "name": token.name,
        "role": role_name(token),
        "created_at_ms": token.created_at_ms,
        "revoked_at_ms": token.revoked_at_ms,
    })
}

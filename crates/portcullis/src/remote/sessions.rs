//! `portcullis sessions list|end`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::session_service_client::SessionServiceClient;
use serde_json::json;

use super::{RemoteArgs, RemoteError, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Agent sessions on every node.
    List(ListArgs),
    /// End a session, on whichever node holds it.
    End(EndArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this grant's sessions.
    #[arg(long, default_value = "")]
    pub grant: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct EndArgs {
    /// The session id.
    pub id: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub async fn run(command: &SessionsCommand) -> Result<ExitCode, RemoteError> {
    match command {
        SessionsCommand::List(args) => list(args).await,
        SessionsCommand::End(args) => {
            SessionServiceClient::new(connect(&args.remote).await?)
                .end_session(pb::EndSessionRequest { id: args.id.clone() })
                .await?;
            match args.remote.output {
                Output::Json => print_json(&json!({ "ended": args.id }))?,
                Output::Text => println!("ended session {}", args.id),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn list(args: &ListArgs) -> Result<ExitCode, RemoteError> {
    let sessions = SessionServiceClient::new(connect(&args.remote).await?)
        .list_sessions(pb::ListSessionsRequest {
            grant: args.grant.clone(),
        })
        .await?
        .into_inner()
        .sessions;
    match args.remote.output {
        Output::Json => print_json(
            &sessions
                .iter()
                .map(|s| {
                    json!({"id": s.id, "node": s.node, "grant": s.grant, "server": s.server,
                    "age_ms": s.age_ms, "calls": s.calls})
                })
                .collect::<Vec<_>>(),
        )?,
        Output::Text => {
            let mut table = Table::new(&["id", "node", "grant", "server", "age", "calls"]);
            for s in &sessions {
                table.row(vec![
                    s.id.clone(),
                    s.node.to_string(),
                    s.grant.clone(),
                    s.server.clone(),
                    format!("{}s", s.age_ms / 1000),
                    s.calls.to_string(),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `portcullis counters list|reset`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::counter_service_client::CounterServiceClient;
use serde_json::json;

use super::{RemoteArgs, RemoteError, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum CountersCommand {
    /// The shared counters (per identity and global) with their windows and values.
    List(ListArgs),
    /// Set one counter window back to zero (audited).
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this grant's counters.
    #[arg(long, default_value = "")]
    pub grant: String,
    /// Only this policy's counters.
    #[arg(long, default_value = "")]
    pub policy: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The counter's scope (a tool key, or _global), as `counters list` shows it.
    pub scope: String,
    /// The counter's name.
    pub name: String,
    /// Its partition, e.g. identity:<grant>:<policy>.
    pub partition: String,
    /// The window's first millisecond.
    pub window_start_ms: u64,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub async fn run(command: &CountersCommand) -> Result<ExitCode, RemoteError> {
    match command {
        CountersCommand::List(args) => list(args).await,
        CountersCommand::Reset(args) => reset(args).await,
    }
}

async fn list(args: &ListArgs) -> Result<ExitCode, RemoteError> {
    let counters = CounterServiceClient::new(connect(&args.remote).await?)
        .list_counters(pb::ListCountersRequest {
            grant: args.grant.clone(),
            policy: args.policy.clone(),
        })
        .await?
        .into_inner()
        .counters;
    match args.remote.output {
        Output::Json => print_json(
            &counters
                .iter()
                .map(|c| {
                    json!({"scope": c.scope, "name": c.name, "partition": c.partition,
                    "window_start_ms": c.window_start_ms, "window_end_ms": c.window_end_ms, "value": c.value})
                })
                .collect::<Vec<_>>(),
        )?,
        Output::Text => {
            let mut table = Table::new(&[
                "scope",
                "name",
                "partition",
                "window_start_ms",
                "window_end_ms",
                "value",
            ]);
            for c in &counters {
                table.row(vec![
                    c.scope.clone(),
                    c.name.clone(),
                    c.partition.clone(),
                    c.window_start_ms.to_string(),
                    c.window_end_ms.to_string(),
                    c.value.to_string(),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn reset(args: &ResetArgs) -> Result<ExitCode, RemoteError> {
    let previous = CounterServiceClient::new(connect(&args.remote).await?)
        .reset_counter(pb::ResetCounterRequest {
            scope: args.scope.clone(),
            name: args.name.clone(),
            partition: args.partition.clone(),
            window_start_ms: args.window_start_ms,
        })
        .await?
        .into_inner()
        .previous;
    match args.remote.output {
        Output::Json => print_json(&json!({ "previous": previous }))?,
        Output::Text => println!("reset {}.{} (was {previous})", args.scope, args.name),
    }
    Ok(ExitCode::SUCCESS)
}

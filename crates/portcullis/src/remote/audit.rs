//! `portcullis audit tail|query|verify` against a node's audit log through the admin API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use portcullis_proto::admin as pb;
use portcullis_proto::admin::audit_service_client::AuditServiceClient;
use serde_json::json;

use super::{RemoteArgs, RemoteError, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A JSON-lines audit log to check locally; without it, the answering node checks its own log.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Which records: every field given must match.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this grant's records.
    #[arg(long, default_value = "")]
    pub grant: String,
    /// Only this server's records.
    #[arg(long, default_value = "")]
    pub server: String,
    /// Only this tool's records.
    #[arg(long, default_value = "")]
    pub tool: String,
    /// Only this decision: allow, deny, hide, rate_limited, require_approval or error.
    #[arg(long, default_value = "")]
    pub decision: String,
}

impl FilterArgs {
    fn to_proto(&self) -> pb::AuditFilter {
        pb::AuditFilter {
            grant: self.grant.clone(),
            server: self.server.clone(),
            tool: self.tool.clone(),
            decision: self.decision.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Start with this many of the latest matching records.
    #[arg(long, default_value_t = 10)]
    pub backlog: u32,
    /// Stop after this many records (follow until interrupted by default).
    #[arg(long)]
    pub count: Option<u64>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// From this time (Unix milliseconds).
    #[arg(long, default_value_t = 0)]
    pub from_ms: u64,
    /// Until this time (Unix milliseconds; now by default).
    #[arg(long, default_value_t = 0)]
    pub to_ms: u64,
    /// At most this many records (1000 by default).
    #[arg(long, default_value_t = 0)]
    pub limit: u32,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

async fn client(remote: &RemoteArgs) -> Result<AuditServiceClient<super::Client>, RemoteError> {
    Ok(AuditServiceClient::new(connect(remote).await?))
}

/// Records are printed as written: one JSON line each (`--output json` wraps a query in an object).
pub async fn tail(args: &TailArgs) -> Result<ExitCode, RemoteError> {
    let mut stream = client(&args.remote)
        .await?
        .tail_audit(pb::TailAuditRequest {
            filter: Some(args.filter.to_proto()),
            backlog: args.backlog,
        })
        .await?
        .into_inner();
    let mut printed = 0_u64;
    while args.count.is_none_or(|count| printed < count) {
        let Some(record) = stream.message().await? else {
            break;
        };
        println!("{}", record.json);
        printed += 1;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn query(args: &QueryArgs) -> Result<ExitCode, RemoteError> {
    let found = client(&args.remote)
        .await?
        .query_audit(pb::QueryAuditRequest {
            filter: Some(args.filter.to_proto()),
            from_ms: args.from_ms,
            to_ms: args.to_ms,
            limit: args.limit,
        })
        .await?
        .into_inner();
    match args.remote.output {
        Output::Json => {
            let records: Vec<serde_json::Value> = found
                .records
                .iter()
                .map(|record| serde_json::from_str(&record.json).unwrap_or_else(|_| json!(record.json)))
                .collect();
            print_json(&json!({ "records": records, "truncated": found.truncated }))?;
        }
        Output::Text => {
            for record in &found.records {
                println!("{}", record.json);
            }
            if found.truncated {
                eprintln!("(more records match: raise --limit or narrow the time range)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(args: &VerifyArgs) -> Result<ExitCode, RemoteError> {
    let report = client(&args.remote)
        .await?
        .verify_audit(pb::VerifyAuditRequest {})
        .await?
        .into_inner();
    match args.remote.output {
        Output::Json => print_json(&json!({
            "intact": report.ok,
            "valid_records": report.records,
            "first_break": (!report.ok).then_some(&report.problem),
            "broken_line": report.broken_line,
        }))?,
        Output::Text if report.ok => println!("ok: {} records, chain intact", report.records),
        Output::Text => println!(
            "broken: {} good records, then line {}: {}",
            report.records, report.broken_line, report.problem
        ),
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

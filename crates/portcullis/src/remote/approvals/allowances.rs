//! `portcullis approvals allowances`: the time-boxed allowances approvals granted, and until when
//! each admits its tool for its grant.

use std::process::ExitCode;

use clap::Args;
use portcullis_proto::admin as pb;
use serde_json::json;

use super::super::policies::rfc3339;
use super::super::{RemoteArgs, RemoteError, Table, print_json};
use crate::cli::Output;

#[derive(Debug, Args)]
pub struct AllowancesArgs {
    /// Include allowances that ran out.
    #[arg(long)]
    pub all: bool,
    /// Only this grant's.
    #[arg(long, default_value = "")]
    pub grant: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub async fn list(args: &AllowancesArgs) -> Result<ExitCode, RemoteError> {
    let allowances = super::client(&args.remote)
        .await?
        .list_allowances(pb::ListAllowancesRequest {
            include_expired: args.all,
            grant: args.grant.clone(),
        })
        .await?
        .into_inner()
        .allowances;
    match args.remote.output {
        Output::Json => print_json(&allowances.iter().map(allowance_json).collect::<Vec<_>>())?,
        Output::Text => {
            let mut table = Table::new(&[
                "approval",
                "grant",
                "server",
                "tool",
                "approved_by",
                "until",
                "state",
            ]);
            for allowance in &allowances {
                table.row(vec![
                    allowance.approval_id.clone(),
                    allowance.grant.clone(),
                    allowance.server.clone(),
                    allowance.tool.clone(),
                    allowance.approved_by.clone(),
                    rfc3339(allowance.until_ms),
                    if allowance.active { "active" } else { "expired" }.to_owned(),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn allowance_json(allowance: &pb::Allowance) -> serde_json::Value {
    json!({
        "approval": allowance.approval_id,
        "grant": allowance.grant,
        "server": allowance.server,
        "tool": allowance.tool,
        "approved_by": allowance.approved_by,
        "approved_at_ms": allowance.approved_at_ms,
        "until_ms": allowance.until_ms,
        "until": rfc3339(allowance.until_ms),
        "active": allowance.active,
    })
}

//! `portcullis approvals list|get|approve|deny|watch|allowances`: calls parked for a human, decided
//! from any node, and the allowances approvals granted.

mod allowances;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_proto::admin as pb;
use portcullis_proto::admin::approval_service_client::ApprovalServiceClient;
use serde_json::json;

use super::policies::rfc3339;
use super::{RemoteArgs, RemoteError, Table, connect, print_json};
use crate::cli::Output;

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List the pending approvals (with --all, the decided ones too).
    List(ListArgs),
    /// Show one approval.
    Get(IdArgs),
    /// Approve a parked call: it is forwarded once.
    Approve(DecideArgs),
    /// Deny a parked call; the agent is told who denied it and why.
    Deny(DecideArgs),
    /// Print each approval as it is requested or decided (pending ones first) until interrupted.
    Watch(RemoteArgs),
    /// List the allowances approvals granted (a rule's `approval_allowance`) that still admit calls
    /// (with --all, those that ran out too).
    Allowances(allowances::AllowancesArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include approved, denied and expired ones.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The approval's id.
    pub id: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The approval's id.
    pub id: String,
    /// Why (required to deny: the agent is shown it).
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Runs an `approvals` subcommand.
///
/// # Errors
/// When the runtime can't start.
pub fn run(command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    super::run(async move {
        match command {
            ApprovalsCommand::List(args) => list(&args).await,
            ApprovalsCommand::Get(args) => get(&args).await,
            ApprovalsCommand::Approve(args) => decide(&args, true).await,
            ApprovalsCommand::Deny(args) => decide(&args, false).await,
            ApprovalsCommand::Watch(remote) => watch(&remote).await,
            ApprovalsCommand::Allowances(args) => allowances::list(&args).await,
        }
    })
}

async fn client(remote: &RemoteArgs) -> Result<ApprovalServiceClient<super::Client>, RemoteError> {
    Ok(ApprovalServiceClient::new(connect(remote).await?))
}

async fn list(args: &ListArgs) -> Result<ExitCode, RemoteError> {
    let approvals = client(&args.remote)
        .await?
        .list_approvals(pb::ListApprovalsRequest {
            include_decided: args.all,
        })
        .await?
        .into_inner()
        .approvals;
    match args.remote.output {
        Output::Json => print_json(&approvals.iter().map(approval_json).collect::<Vec<_>>())?,
        Output::Text => {
            let mut table = Table::new(&[
                "id",
                "state",
                "grant",
                "server",
                "tool",
                "requested_at",
                "expires_at",
            ]);
            for approval in &approvals {
                table.row(vec![
                    approval.id.clone(),
                    state_text(approval),
                    approval.grant.clone(),
                    approval.server.clone(),
                    approval.tool.clone(),
                    rfc3339(approval.requested_at_ms),
                    rfc3339(approval.expires_at_ms),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn get(args: &IdArgs) -> Result<ExitCode, RemoteError> {
    let approval = client(&args.remote)
        .await?
        .get_approval(pb::GetApprovalRequest { id: args.id.clone() })
        .await?
        .into_inner();
    print_one(&approval, args.remote.output)?;
    Ok(ExitCode::SUCCESS)
}

async fn decide(args: &DecideArgs, approve: bool) -> Result<ExitCode, RemoteError> {
    let request = pb::DecideRequest {
        id: args.id.clone(),
        reason: args.reason.clone(),
    };
    let mut client = client(&args.remote).await?;
    let approval = if approve {
        client.approve(request).await?
    } else {
        client.deny(request).await?
    }
    .into_inner();
    print_one(&approval, args.remote.output)?;
    Ok(ExitCode::SUCCESS)
}

async fn watch(remote: &RemoteArgs) -> Result<ExitCode, RemoteError> {
    let mut stream = client(remote)
        .await?
        .watch_approvals(pb::WatchApprovalsRequest {})
        .await?
        .into_inner();
    while let Some(approval) = stream.message().await? {
        match remote.output {
            Output::Json => println!("{}", approval_json(&approval)),
            Output::Text => println!("{}", line(&approval)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_one(approval: &pb::Approval, output: Output) -> Result<(), RemoteError> {
    match output {
        Output::Json => print_json(&approval_json(approval)),
        Output::Text => {
            println!("{}", line(approval));
            Ok(())
        }
    }
}

/// One approval on one line: what was called, by whom, and where it stands.
fn line(approval: &pb::Approval) -> String {
    let allowance = if approval.allowance_until_ms > 0 {
        format!(" allowed_until={}", rfc3339(approval.allowance_until_ms))
    } else {
        String::new()
    };
    format!(
        "{} {} grant={} server={} tool={} args_sha256={} expires={}{allowance}",
        approval.id,
        state_text(approval),
        approval.grant,
        approval.server,
        approval.tool,
        approval.args_sha256,
        rfc3339(approval.expires_at_ms)
    )
}

fn state_text(approval: &pb::Approval) -> String {
    let state = pb::ApprovalState::try_from(approval.state).unwrap_or(pb::ApprovalState::Unspecified);
    match state {
        pb::ApprovalState::Approved | pb::ApprovalState::Denied => {
            let verb = if state == pb::ApprovalState::Approved {
                "approved"
            } else {
                "denied"
            };
            if approval.reason.is_empty() {
                format!("{verb} by {}", approval.decided_by)
            } else {
                format!("{verb} by {} ({})", approval.decided_by, approval.reason)
            }
        }
        pb::ApprovalState::Pending => "pending".to_owned(),
        pb::ApprovalState::Expired => "expired".to_owned(),
        pb::ApprovalState::Unspecified => "unknown".to_owned(),
    }
}

fn approval_json(approval: &pb::Approval) -> serde_json::Value {
    let state = pb::ApprovalState::try_from(approval.state).unwrap_or(pb::ApprovalState::Unspecified);
    let arguments = serde_json::from_str::<serde_json::Value>(&approval.arguments_json).ok();
    json!({
        "id": approval.id,
        "state": state.as_str_name().trim_start_matches("APPROVAL_STATE_").to_lowercase(),
        "grant": approval.grant,
        "session": approval.session,
        "server": approval.server,
        "tool": approval.tool,
        "args_sha256": approval.args_sha256,
        "arguments": arguments,
        "policy": approval.policy,
        "policy_revision": approval.policy_revision,
        "requested_at_ms": approval.requested_at_ms,
        "expires_at_ms": approval.expires_at_ms,
        "decided_by": approval.decided_by,
        "reason": approval.reason,
        "decided_at_ms": approval.decided_at_ms,
        "allowance_ms": (approval.allowance_ms > 0).then_some(approval.allowance_ms),
        "allowance_until_ms": (approval.allowance_until_ms > 0).then_some(approval.allowance_until_ms),
    })
}

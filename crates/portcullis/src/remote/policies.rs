//! `portcullis policy apply|get|list|history|diff|rollback|watch`, and `explain --policy`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use portcullis_proto::admin as pb;
use portcullis_proto::admin::policy_service_client::PolicyServiceClient;
use serde_json::json;

use super::{RemoteArgs, RemoteError, Table, connect, print_json};
use crate::cli::{ExplainArgs, Output};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The policy's name.
    pub name: String,
    /// The policy file (JSON or YAML).
    pub file: PathBuf,
    /// Refuse unless the stored policy is at this revision (0: the policy must be new).
    #[arg(long)]
    pub expected_revision: Option<u64>,
    /// Validate and diff only; store nothing.
    #[arg(long, conflicts_with = "shadow")]
    pub dry_run: bool,
    /// Evaluate and audit it beside the active version without enforcing it.
    #[arg(long)]
    pub shadow: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The policy's name.
    pub name: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The policy's name.
    pub name: String,
    /// The revision (the latest by default).
    #[arg(long)]
    pub revision: Option<u64>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The policy's name.
    pub name: String,
    /// The older revision.
    pub from: u64,
    /// The newer revision (the latest by default).
    pub to: Option<u64>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The policy's name.
    pub name: String,
    /// The revision whose text becomes the newest version.
    pub to: u64,
    /// Refuse unless the stored policy is at this revision.
    #[arg(long)]
    pub expected_revision: Option<u64>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this policy (every policy by default).
    pub name: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

async fn client(remote: &RemoteArgs) -> Result<PolicyServiceClient<super::Client>, RemoteError> {
    Ok(PolicyServiceClient::new(connect(remote).await?))
}

pub async fn apply(args: &ApplyArgs) -> Result<ExitCode, RemoteError> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let format = match portcullis_policy::Format::from_path(&args.file) {
        portcullis_policy::Format::Json => pb::PolicyFormat::Json,
        portcullis_policy::Format::Yaml => pb::PolicyFormat::Yaml,
        portcullis_policy::Format::Detect => pb::PolicyFormat::Unspecified,
    };
    let mode = match (args.dry_run, args.shadow) {
        (true, _) => pb::PutMode::DryRun,
        (_, true) => pb::PutMode::Shadow,
        _ => pb::PutMode::Active,
    };
    let mut client = client(&args.remote).await?;
    let request = pb::PutPolicyRequest {
        name: args.name.clone(),
        text,
        format: format.into(),
        expected_revision: args.expected_revision,
        mode: mode.into(),
    };
    let response = match client.put_policy(request).await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            // Print every error with its path, as `policy validate` does.
            eprintln!("{}", status.message());
            return Ok(ExitCode::FAILURE);
        }
        Err(status) => return Err(status.into()),
    };
    match args.remote.output {
        Output::Json => print_json(&json!({
            "name": response.name,
            "revision": response.revision,
            "stored": response.stored,
            "mode": mode.as_str_name(),
            "log_index": response.log_index,
            "diff": response.diff,
        }))?,
        Output::Text => {
            print!("{}", response.diff);
            let what = match mode {
                pb::PutMode::DryRun => "would be stored as",
                pb::PutMode::Shadow => "shadowing as",
                _ => "stored as",
            };
            println!("{} {what} revision {}", response.name, response.revision);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn get(args: &GetArgs) -> Result<ExitCode, RemoteError> {
    let policy = client(&args.remote)
        .await?
        .get_policy(pb::GetPolicyRequest {
            name: args.name.clone(),
            revision: args.revision,
        })
        .await?
        .into_inner();
    match args.remote.output {
        Output::Json => print_json(&policy_json(&policy))?,
        Output::Text => print!("{}", policy.text),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list(remote: &RemoteArgs) -> Result<ExitCode, RemoteError> {
    let policies = client(remote)
        .await?
        .list_policies(pb::ListPoliciesRequest {})
        .await?
        .into_inner()
        .policies;
    match remote.output {
        Output::Json => print_json(
            &policies
                .iter()
                .map(|p| {
                    json!({"name": p.name, "revision": p.revision, "author": p.author,
                    "proposed_at_ms": p.proposed_at_ms, "shadow_revision": p.shadow_revision})
                })
                .collect::<Vec<_>>(),
        )?,
        Output::Text => {
            let mut table = Table::new(&["name", "revision", "author", "shadow"]);
            for p in &policies {
                table.row(vec![
                    p.name.clone(),
                    p.revision.to_string(),
                    p.author.clone(),
                    p.shadow_revision.map(|r| r.to_string()).unwrap_or_default(),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn history(args: &NameArgs) -> Result<ExitCode, RemoteError> {
    let versions = client(&args.remote)
        .await?
        .policy_history(pb::PolicyHistoryRequest {
            name: args.name.clone(),
        })
        .await?
        .into_inner()
        .versions;
    match args.remote.output {
        Output::Json => print_json(&versions.iter().map(policy_json).collect::<Vec<_>>())?,
        Output::Text => {
            let mut table = Table::new(&["revision", "author", "proposed_at", "log_index"]);
            for v in &versions {
                table.row(vec![
                    v.revision.to_string(),
                    v.author.clone(),
                    rfc3339(v.proposed_at_ms),
                    v.log_index.to_string(),
                ]);
            }
            table.print();
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn diff(args: &DiffArgs) -> Result<ExitCode, RemoteError> {
    let diff = client(&args.remote)
        .await?
        .diff_policy(pb::DiffPolicyRequest {
            name: args.name.clone(),
            from_revision: args.from,
            to_revision: args.to,
        })
        .await?
        .into_inner()
        .diff;
    match args.remote.output {
        Output::Json => print_json(&json!({"diff": diff}))?,
        Output::Text => print!("{diff}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rollback(args: &RollbackArgs) -> Result<ExitCode, RemoteError> {
    let response = client(&args.remote)
        .await?
        .rollback_policy(pb::RollbackPolicyRequest {
            name: args.name.clone(),
            to_revision: args.to,
            expected_revision: args.expected_revision,
        })
        .await?
        .into_inner();
    match args.remote.output {
        Output::Json => print_json(&json!({"name": response.name, "revision": response.revision,
            "diff": response.diff}))?,
        Output::Text => {
            print!("{}", response.diff);
            println!(
                "{} rolled back to the text of revision {}, stored as revision {}",
                response.name, args.to, response.revision
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn watch(args: &WatchArgs) -> Result<ExitCode, RemoteError> {
    let mut stream = client(&args.remote)
        .await?
        .watch_policies(pb::WatchPoliciesRequest {
            name: args.name.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    while let Some(event) = stream.message().await? {
        let Some(policy) = event.policy else { continue };
        match args.remote.output {
            Output::Json => println!(
                "{}",
                json!({"applied_index": event.applied_index, "policy": policy_json(&policy)})
            ),
            Output::Text => println!(
                "{} revision {} by {} (log index {})",
                policy.name, policy.revision, policy.author, policy.log_index
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn explain(args: &ExplainArgs, name: &str) -> Result<ExitCode, RemoteError> {
    let identity: Option<portcullis_policy::Identity> = match &args.identity {
        Some(text) => Some(
            serde_json::from_str(text)
                .context("--identity must look like {\"id\": \"..\", \"labels\": {..}}")?,
        ),
        None => None,
    };
    let response = client(&args.remote)
        .await?
        .explain_call(pb::ExplainCallRequest {
            name: name.to_owned(),
            revision: args.revision,
            tool: args.tool.clone(),
            arguments_json: args.args.clone(),
            identity_id: identity.as_ref().map(|i| i.id.clone()).unwrap_or_default(),
            labels: identity
                .map(|i| i.labels.into_iter().collect())
                .unwrap_or_default(),
            ..Default::default()
        })
        .await?
        .into_inner();
    match args.remote.output {
        Output::Json => print_json(&json!({"tool": args.tool, "decision": response.decision,
            "rule": response.rule, "message": response.message,
            "policy_revision": response.policy_revision, "retry_after_ms": response.retry_after_ms}))?,
        Output::Text => {
            println!("decision: {}", response.decision);
            println!("rule:     {}", response.rule);
            println!("message:  {}", response.message);
            println!("revision: {}", response.policy_revision);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn policy_json(policy: &pb::Policy) -> serde_json::Value {
    json!({
        "name": policy.name,
        "revision": policy.revision,
        "format": policy.format().as_str_name(),
        "author": policy.author,
        "proposed_at_ms": policy.proposed_at_ms,
        "log_index": policy.log_index,
        "shadow_revision": policy.shadow_revision,
        "text": policy.text,
    })
}

/// Milliseconds since the epoch as RFC 3339 (seconds).
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

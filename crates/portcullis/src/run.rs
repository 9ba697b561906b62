//! `portcullis run --policy P [--audit FILE] -- COMMAND [ARGS...]` (or `--upstream URL`): the stdio
//! front. Stdout carries only the protocol; logs go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use portcullis_gateway::config::{AuditSettings, Settings};
use portcullis_gateway::front::stdio::{self, Ended, StdioSetup};
use portcullis_gateway::state::{Grant, PolicyRef, ServerEntry, UpstreamSpec};
use portcullis_policy::{Format, Identity, compile_str};

use crate::cli::RunArgs;
use crate::clock::SystemClock;
use crate::node::open_audit;

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(&args.log)?;
    let setup = setup(args)?;
    let audit = AuditSettings {
        enabled: args.audit.is_some(),
        path: args.audit.clone().unwrap_or_default(),
        sync_interval: Duration::from_millis(AuditSettings::DEFAULT_SYNC_INTERVAL_MS),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ended = runtime.block_on(async {
        let (sink, writer) = open_audit(&audit)?;
        let ended = stdio::serve(
            setup,
            sink,
            Arc::new(SystemClock),
            (tokio::io::stdin(), tokio::io::stdout()),
            crate::node::shutdown_signal(),
        )
        .await;
        if let Some(writer) = writer
            && tokio::time::timeout(Duration::from_secs(10), writer)
                .await
                .is_err()
        {
            tracing::warn!("audit writer did not finish within 10 s");
        }
        anyhow::Ok(ended?)
    });
    // Reading stdin blocks a thread that nothing can interrupt: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match ended? {
        Ended::ClientClosed | Ended::Stopped => Ok(ExitCode::SUCCESS),
        Ended::UpstreamClosed => {
            eprintln!("portcullis run: the upstream server went away");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn setup(args: &RunArgs) -> anyhow::Result<StdioSetup> {
    let text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("cannot read the policy {}", args.policy.display()))?;
    let policy = match compile_str(&text, Format::from_path(&args.policy)) {
        Ok(policy) => policy,
        Err(errors) => bail!("the policy {} is invalid: {errors}", args.policy.display()),
    };
    let upstream = match (&args.upstream, args.command.split_first()) {
        (Some(url), _) => {
            if !url.starts_with("http://") {
                bail!("--upstream {url:?} must start with http:// (https upstreams are not supported yet)");
            }
            UpstreamSpec::Http { url: url.clone() }
        }
        (None, Some((command, rest))) => UpstreamSpec::Stdio {
            command: PathBuf::from(command),
            args: rest.to_vec(),
            env: Default::default(),
            cwd: None,
        },
        (None, None) => bail!("give the server to run after `--`, or --upstream URL"),
    };
    let name: Arc<str> = Arc::from(args.server_name.as_str());
    let policy_name = args
        .policy
        .file_stem()
        .map_or_else(|| "policy".to_owned(), |s| s.to_string_lossy().into_owned());
    Ok(StdioSetup {
        server: ServerEntry {
            name: Arc::clone(&name),
            upstream,
            anonymous: None,
        },
        grant: Grant {
            identity: Identity {
                id: args.grant_id.clone(),
                labels: args.labels.iter().cloned().collect(),
            },
            server: name,
            servers: Vec::new(),
            policy: Some(PolicyRef {
                name: Arc::from(policy_name.as_str()),
                policy: Arc::new(policy),
                shadow: None,
            }),
        },
        settings: Settings {
            upstream_timeout: Duration::from_secs(args.upstream_timeout_secs),
            request_timeout: Duration::from_secs(args.request_timeout_secs),
            ..Settings::default()
        },
    })
}

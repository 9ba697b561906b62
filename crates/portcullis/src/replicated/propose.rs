//! Proposing the config file's contents: at start (seeding) and on SIGHUP (an operator's edit becomes
//! a new version on every node). Proposals retry while leadership settles, within a bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use portcullis_gateway::clock::Clock as _;
use portcullis_store::{AppRequest, Store, StoreError};
use tokio::time::Instant;

use super::desired::{self, Mode};
use crate::clock::SystemClock;

/// How long one command keeps being retried while no leader can take it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Proposes what the config file at `path` asks for and the store lacks (or, on reload, differs).
///
/// # Errors
/// When the file can't be read or a command can't be committed within the bound.
pub async fn sync_from_file(store: &Store, path: &Path, mode: Mode) -> anyhow::Result<usize> {
    let loaded = portcullis_gateway::config::load_file(path)?;
    let wanted = desired::read(path, &loaded)?;
    let author = format!("config-file@node-{}", store.node_id());
    let commands = desired::commands(&wanted, &store.current().state, mode, &author, SystemClock.now());
    let count = commands.len();
    for command in commands {
        propose(store, command).await?;
    }
    Ok(count)
}

/// Proposes one command, retrying while there is no leader or no quorum yet.
async fn propose(store: &Store, command: AppRequest) -> anyhow::Result<()> {
    let op = command.op();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match store.propose(command.clone()).await {
            Ok(response) => {
                match response.into_result() {
                    Ok(applied) => tracing::info!(op, ?applied, "proposed from the config file"),
                    // E.g. another node seeded the same policy first: the store keeps its version.
                    Err(error) => {
                        tracing::warn!(op, %error, "the store did not take a change from the config file");
                    }
                }
                return Ok(());
            }
            Err(
                StoreError::NotLeader { .. }
                | StoreError::NoQuorum { .. }
                | StoreError::LeaderChanged { .. }
                | StoreError::LeaderUnreachable { .. },
            ) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error).with_context(|| format!("proposing {op}")),
        }
    }
}

/// On each SIGHUP, proposes what changed in the config file.
#[cfg(unix)]
pub async fn on_sighup(store: Store, path: PathBuf) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match sync_from_file(&store, &path, Mode::Reload).await {
            Ok(changes) => {
                tracing::info!(path = %path.display(), changes, "configuration proposed to the cluster");
            }
            // The cluster keeps its state; nothing half-checked was proposed.
            Err(error) => tracing::error!(
                path = %path.display(),
                error = %format!("{error:#}"),
                "reload failed; the cluster keeps its current state"
            ),
        }
    }
}

#[cfg(not(unix))]
pub async fn on_sighup(_store: Store, _path: PathBuf) {}

//! `portcullis cluster remove`: membership changes through a node's Raft listener, authenticated with
//! the cluster secret. (The gRPC admin API will offer the same; this keeps clusters operable until then.)

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::ClusterCommand;
use crate::replicated::read_secret;

/// How long the leader may take to commit the membership change.
const TIMEOUT: Duration = Duration::from_secs(15);

pub fn run(command: &ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::Remove {
            node_id,
            via,
            cluster_secret_file,
        } => {
            let secret = read_secret(cluster_secret_file.as_deref())?.context(
                "no cluster secret: pass --cluster-secret-file FILE or set PORTCULLIS_CLUSTER_SECRET",
            )?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(portcullis_store::remove_member(via, secret, *node_id, TIMEOUT))
                .with_context(|| format!("removing node {node_id}"))?;
            println!("removed node {node_id} from the cluster");
            Ok(ExitCode::SUCCESS)
        }
    }
}

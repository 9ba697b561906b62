//! `portcullis serve --config FILE [--data-dir DIR --node-id N ...]`

use std::process::ExitCode;

use crate::cli::ServeArgs;
use crate::{node, replicated};

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(&args.log)?;
    let loaded = portcullis_gateway::config::load_file(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.cluster.data_dir.is_some() {
        runtime.block_on(replicated::run(args, loaded))?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = args.config.clone();
    runtime.block_on(node::run(
        loaded,
        None,
        move |publisher| {
            tokio::spawn(node::reload_on_sighup(path, publisher));
        },
        node::shutdown_signal(),
        |bound| {
            // One machine-readable line for scripts and tests; logs go to stderr.
            println!("ready agent={} ops={}", bound.agent, bound.ops);
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

//! `portcullis serve --config FILE`

use std::process::ExitCode;

use crate::cli::ServeArgs;
use crate::node;

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(&args.log)?;
    let loaded = portcullis_gateway::config::load_file(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(node::run(
        loaded,
        Some(args.config.clone()),
        node::shutdown_signal(),
        |bound| {
            // One machine-readable line for scripts and tests; logs go to stderr.
            println!("ready agent={} ops={}", bound.agent, bound.ops);
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

//! `portcullis policy …`.

mod explain;
mod validate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use portcullis_policy::{CompiledPolicy, Format, PolicyErrors};

use crate::cli::PolicyCommand;

pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Validate { files, output } => validate::run(&files, output),
        PolicyCommand::Explain(args) => explain::run(&args),
    }
}

/// Reads and compiles one policy file. The outer error is I/O; the inner, the policy's own errors.
fn load(path: &Path) -> anyhow::Result<Result<CompiledPolicy, PolicyErrors>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(portcullis_policy::compile_str(&text, Format::from_path(path)))
}

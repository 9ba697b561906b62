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
        PolicyCommand::Explain(args) => match &args.policy {
            Some(name) => crate::remote::run(crate::remote::policies::explain(&args, name)),
            None => explain::run(&args),
        },
        PolicyCommand::Apply(args) => crate::remote::run(crate::remote::policies::apply(&args)),
        PolicyCommand::Get(args) => crate::remote::run(crate::remote::policies::get(&args)),
        PolicyCommand::List(args) => crate::remote::run(crate::remote::policies::list(&args)),
        PolicyCommand::History(args) => crate::remote::run(crate::remote::policies::history(&args)),
        PolicyCommand::Diff(args) => crate::remote::run(crate::remote::policies::diff(&args)),
        PolicyCommand::Rollback(args) => crate::remote::run(crate::remote::policies::rollback(&args)),
        PolicyCommand::Watch(args) => crate::remote::run(crate::remote::policies::watch(&args)),
    }
}

/// Reads and compiles one policy file. The outer error is I/O; the inner, the policy's own errors.
fn load(path: &Path) -> anyhow::Result<Result<CompiledPolicy, PolicyErrors>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(portcullis_policy::compile_str(&text, Format::from_path(path)))
}

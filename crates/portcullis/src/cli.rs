//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Portcullis: an MCP policy gateway. Decides every tool call an AI agent makes (allow, deny, hide,
/// rate-limit, or park it for a human) before it reaches the MCP server, and audits each decision.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policies and see how they decide calls.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files (JSON or YAML); print every error with its JSON path. Exit 1 on any error.
    Validate {
        /// Policy files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Decide one tool call against a policy and say which rule fired and why.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  portcullis policy explain examples/policies/payments.yaml \\\n    \
    --tool create_charge --args '{\"amount\": 1200, \"currency\": \"jpy\"}'"
)]
pub struct ExplainArgs {
    /// The policy file.
    pub file: PathBuf,
    /// The tool being called.
    #[arg(long)]
    pub tool: String,
    /// The call's arguments, as a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// The caller, as JSON: {"id": "grant-1", "labels": {"team": "payments"}}.
    #[arg(long)]
    pub identity: Option<String>,
    /// Current counter values, as JSON: {"create_charge.daily_spend": 998000}.
    #[arg(long)]
    pub counters: Option<String>,
    /// The time of the call (RFC 3339, e.g. 2026-11-25T10:30:00Z); defaults to now.
    #[arg(long)]
    pub now: Option<String>,
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
}

/// How to print results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For scripts: one JSON document on stdout.
    Json,
}

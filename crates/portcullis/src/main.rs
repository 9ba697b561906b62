//! `portcullis`: the single binary of the Portcullis MCP policy gateway.
//!
//! Subcommands are thin: they parse arguments, call into the library crates and print. Exit codes are
//! part of the interface: 0 success, 1 the command ran and found a problem (an invalid policy, a failed
//! check), 2 bad usage.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool's output is its interface"
)]

mod audit;
mod bench;
mod cli;
mod clock;
mod demo;
mod demo_server;
mod logging;
mod node;
mod policy;
mod remote;
mod replicated;
mod run;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::DemoServer(args) => demo_server::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Policy(command) => policy::run(command),
        Command::Audit(command) => audit::run(&command),
        Command::Approvals(command) => remote::approvals::run(command),
        Command::Bench(args) => bench::run(&args),
        Command::Cluster(command) => remote::run(remote::cluster::run(&command)),
        Command::Counters(command) => remote::run(remote::counters::run(&command)),
        Command::Sessions(command) => remote::run(remote::sessions::run(&command)),
        Command::Grants(command) => remote::grants::run(command),
        Command::Servers(command) => remote::servers::run(command),
        Command::Tokens(command) => remote::tokens::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

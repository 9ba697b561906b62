//! `portcullis bench`: drive tools/call load at an endpoint, optionally against a baseline.

use std::process::ExitCode;

use anyhow::Context as _;
use portcullis_bench::{BenchConfig, Era, Target};

use crate::cli::{BenchArgs, EraArg, Output};

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let era = match args.era {
        EraArg::Session => Era::Session,
        EraArg::Stateless => Era::Stateless,
    };
    let config = BenchConfig {
        sessions: args.sessions,
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
        tool: args.tool.clone(),
        args: serde_json::from_str(&args.args).context("--args is not valid JSON")?,
    };
    let target = Target {
        url: args.url.clone(),
        token: args.token.clone(),
        era,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(count) = args.open_sessions {
        let started = std::time::Instant::now();
        let opened = runtime.block_on(portcullis_bench::open_idle(&target, count))?;
        println!(
            "opened {opened} idle sessions in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    match &args.baseline {
        None => {
            let report = runtime.block_on(portcullis_bench::run(&config, &target))?;
            match args.output {
                Output::Text => println!("{report}"),
                Output::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
            }
        }
        Some(baseline) => {
            let base = Target {
                url: baseline.clone(),
                token: args.baseline_token.clone(),
                era,
            };
            let comparison =
                runtime.block_on(portcullis_bench::compare(&config, &base, &target, args.phases))?;
            match args.output {
                Output::Text => println!("{comparison}"),
                Output::Json => println!("{}", serde_json::to_string_pretty(&comparison.to_json())?),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

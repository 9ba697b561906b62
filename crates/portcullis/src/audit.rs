//! `portcullis audit verify [FILE]|tail|query`: a file is checked here; the rest asks the admin API.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{AuditCommand, Output};

pub fn run(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let (file, output) = match command {
        AuditCommand::Verify(args) => match &args.file {
            Some(file) => (file, &args.remote.output),
            None => return crate::remote::run(crate::remote::audit::verify(args)),
        },
        AuditCommand::Tail(args) => return crate::remote::run(crate::remote::audit::tail(args)),
        AuditCommand::Query(args) => return crate::remote::run(crate::remote::audit::query(args)),
    };
    let report = portcullis_audit::verify(file)?;
    match output {
        Output::Text => match &report.first_break {
            None => println!(
                "ok: {} records, chain intact (last seq {}, hash {})",
                report.valid_records, report.last_seq, report.last_hash
            ),
            Some(broken) => println!("broken: {} good records, then {broken}", report.valid_records),
        },
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "intact": report.is_intact(),
                "valid_records": report.valid_records,
                "last_seq": report.last_seq,
                "last_hash": report.last_hash,
                "first_break": report.first_break.as_ref().map(ToString::to_string),
            }))?
        ),
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

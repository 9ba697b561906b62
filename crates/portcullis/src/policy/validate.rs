//! `portcullis policy validate FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::cli::Output;

pub fn run(files: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    let mut all_ok = true;
    let mut report = Vec::new();
    for file in files {
        let (ok, errors) = match super::load(file)? {
            Ok(_) => (true, Vec::new()),
            Err(errors) => (false, errors.0),
        };
        all_ok &= ok;
        match output {
            Output::Text if ok => println!("ok    {}", file.display()),
            Output::Text => {
                let n = errors.len();
                println!(
                    "error {}: {n} problem{}",
                    file.display(),
                    if n == 1 { "" } else { "s" }
                );
                for error in &errors {
                    println!("  {}: {}", error.location, error.message);
                    println!("      hint: {}", error.hint);
                }
            }
            Output::Json => report.push(json!({"file": file, "ok": ok, "errors": errors})),
        }
    }
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

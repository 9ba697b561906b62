//! `portcullis run` as a client launches it (for the Python agent's stdio transport), and what its
//! audit log recorded.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::EXE;

/// `portcullis run` with `policy`, grant `desktop` and an audit log in `dir`, wrapping `upstream`
/// (after `--`, or `--upstream URL`).
pub fn command(dir: &Path, policy: &str, upstream: &[&str]) -> Vec<String> {
    std::fs::write(dir.join("policy.json"), policy).unwrap();
    let mut command: Vec<String> = vec![
        EXE.to_owned(),
        "run".to_owned(),
        "--policy".to_owned(),
        dir.join("policy.json").display().to_string(),
        "--audit".to_owned(),
        dir.join("audit.jsonl").display().to_string(),
        "--grant-id".to_owned(),
        "desktop".to_owned(),
        "--log".to_owned(),
        "warn".to_owned(),
    ];
    command.extend(upstream.iter().map(|s| (*s).to_owned()));
    command
}

/// The audit log's (tool, decision) pairs, after checking its chain with `portcullis audit verify`.
pub fn audited(dir: &Path) -> Vec<(String, String)> {
    let path = dir.join("audit.jsonl");
    let verified = Command::new(EXE)
        .args(["audit", "verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            assert_eq!(record["grant"], "desktop");
            (
                record["tool"].as_str().unwrap().to_owned(),
                record["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `expected` as [`audited`] returns it.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

//! The official MCP conformance suite, directly against our fixture server and through a `portcullis
//! serve` node in front of it: every scenario that passes directly must pass through an allow-all
//! gateway, and a restrictive policy must fail exactly the scenarios it denies or hides. The script
//! also writes the table in docs/conformance.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::path::Path;
use std::process::Command;

#[test]
fn every_scenario_that_passes_directly_passes_through_the_gateway() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let report = std::env::temp_dir().join(format!("portcullis-conformance-{}.md", std::process::id()));
    let output = Command::new("bash")
        .arg(repo.join("tests/peers/conformance.sh"))
        .arg(&report)
        .env("PORTCULLIS_BIN", env!("CARGO_BIN_EXE_portcullis"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "conformance differences:\n{stderr}");
    let table = std::fs::read_to_string(&report).unwrap();
    // The fixture passes the whole suite directly; so must the allow-all gateway.
    assert!(table.contains("direct 32/32, allow-all gateway 32/32"), "{table}");
    assert!(
        table.contains("| tools-call-image | pass | pass | FAIL |"),
        "{table}"
    );
    let _ = std::fs::remove_file(&report);
}

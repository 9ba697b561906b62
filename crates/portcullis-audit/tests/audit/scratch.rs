//! Per-test scratch directories and sample entries.

// Test helpers: a failure here is a failed test, like an unwrap inside a #[test].
#![allow(clippy::unwrap_used)]

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use portcullis_audit::{AuditEntry, AuditHandle, AuditLog, AuditOptions, Decision, Outcome, args_sha256};
use serde_json::json;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh empty directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("portcullis-audit-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn log(&self) -> PathBuf {
        self.0.join("audit.jsonl")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn entry(i: u64) -> AuditEntry {
    let args = json!({"flow_id": i, "query": "a\"b\u{e9}"});
    let mut e = AuditEntry::new(1_700_000_000_000 + i, "node-1", Decision::Allow, 7);
    e.session = Some(format!("s-{i}"));
    e.grant = Some("g-alice".to_owned());
    e.server = Some("mitm".to_owned());
    e.tool = Some("inspect_flow".to_owned());
    e.rule = Some("tools.inspect_flow".to_owned());
    e.args_sha256 = Some(args_sha256(&args));
    e.args = Some(args);
    e.upstream_latency_us = Some(120 + i);
    e.outcome = Some(Outcome::Ok);
    e
}

/// Opens the log, spawns its writer and returns the handle and what resolves once the writer stopped.
pub fn open(path: &std::path::Path, options: AuditOptions) -> (AuditHandle, portcullis_audit::WriterStopped) {
    let (handle, writer) = AuditLog::open(path, options).unwrap();
    (handle, writer.start().unwrap())
}

/// Writes `n` records and waits for the writer to finish.
pub async fn write_log(path: &std::path::Path, n: u64) {
    let (handle, task) = open(path, AuditOptions::default());
    for i in 0..n {
        handle.append(entry(i)).await.unwrap();
    }
    drop(handle);
    task.await;
}

pub fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn write_lines(path: &std::path::Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

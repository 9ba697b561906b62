//! A log that can't be written makes appends fail instead of dropping records.

use portcullis_audit::{AuditError, AuditLog, AuditOptions};

use crate::scratch::{Scratch, entry};

#[tokio::test]
async fn path_under_a_regular_file_fails_to_open() {
    let dir = Scratch::new();
    let file = dir.0.join("plain");
    std::fs::write(&file, "x").unwrap();
    let err = AuditLog::open(file.join("audit.jsonl"), AuditOptions::default()).unwrap_err();
    assert!(matches!(err, AuditError::Open { .. }), "{err}");
}

#[tokio::test]
async fn directory_path_fails_to_open() {
    let dir = Scratch::new();
    let err = AuditLog::open(&dir.0, AuditOptions::default()).unwrap_err();
    assert!(matches!(err, AuditError::Open { .. }), "{err}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn full_disk_makes_append_fail_and_stay_failed() {
    let (handle, writer) = AuditLog::open("/dev/full", AuditOptions::default()).unwrap();
    let task = writer.start().unwrap();
    let first = handle.append(entry(1)).await.unwrap_err();
    assert!(matches!(first, AuditError::Write { .. }), "{first}");
    // /dev/full can't be truncated back, so the writer must refuse everything after.
    let second = handle.append(entry(2)).await.unwrap_err();
    assert!(
        matches!(second, AuditError::Poisoned { .. } | AuditError::Write { .. }),
        "{second}"
    );
    drop(handle);
    task.await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_detached_append_that_cannot_be_written_sets_the_flag() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let (handle, writer) = AuditLog::open("/dev/full", AuditOptions::default()).unwrap();
    let task = writer.start().unwrap();
    let failed = Arc::new(AtomicBool::new(false));
    handle.append_detached(entry(1), Arc::clone(&failed)).unwrap();
    drop(handle);
    task.await;
    assert!(failed.load(Ordering::Relaxed), "the lost record went unnoticed");
}

#[tokio::test(flavor = "current_thread")]
async fn full_queue_is_an_error_not_a_wait() {
    let dir = Scratch::new();
    // The writer is never run, so the single queue slot stays taken.
    let (handle, _writer) = AuditLog::open(
        dir.log(),
        AuditOptions {
            queue_capacity: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let h2 = handle.clone();
    let waiting = tokio::spawn(async move { h2.append(entry(1)).await });
    // On the current-thread runtime this lets the spawned append run first and take the slot.
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    assert_eq!(handle.queued(), 1);
    let err = handle.append(entry(2)).await.unwrap_err();
    assert!(matches!(err, AuditError::QueueFull { capacity: 1 }), "{err}");
    waiting.abort();
}

#[tokio::test]
async fn stopped_writer_is_an_error() {
    let dir = Scratch::new();
    let (handle, writer) = AuditLog::open(dir.log(), AuditOptions::default()).unwrap();
    drop(writer);
    let err = handle.append(entry(1)).await.unwrap_err();
    assert!(matches!(err, AuditError::WriterStopped), "{err}");
}

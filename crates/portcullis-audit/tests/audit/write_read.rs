//! Writing, reading back, reopening and concurrent appends.

use std::collections::HashSet;

use portcullis_audit::{AuditLog, AuditOptions, AuditRecord, FsyncPolicy, GENESIS_HASH, verify};

use crate::scratch::{Scratch, entry, lines, open, write_log};

#[tokio::test]
async fn round_trip_records_parse_back_and_verify() {
    let dir = Scratch::new();
    write_log(&dir.log(), 3).await;

    let records: Vec<AuditRecord> = lines(&dir.log())
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].seq, 1);
    assert_eq!(records[0].prev, GENESIS_HASH);
    assert_eq!(records[1].prev, records[0].hash);
    assert_eq!(records[2].seq, 3);
    assert_eq!(records[2].entry, entry(2));

    let report = verify(dir.log()).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.valid_records, 3);
    assert_eq!(report.last_seq, 3);
    assert_eq!(report.last_hash, records[2].hash);
}

#[tokio::test]
async fn optional_members_absent_are_not_written() {
    let dir = Scratch::new();
    let (handle, task) = open(
        &dir.log(),
        AuditOptions {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        },
    );
    let admin = portcullis_audit::AuditEntry {
        actor: Some("ops@example".to_owned()),
        ..portcullis_audit::AuditEntry::new(5, "node-2", portcullis_audit::Decision::Allow, 8)
    };
    assert_eq!(handle.append(admin).await.unwrap(), 1);
    drop(handle);
    task.await;
    let line = &lines(&dir.log())[0];
    assert!(!line.contains("null"), "{line}");
    assert!(!line.contains("session"), "{line}");
    assert!(line.ends_with('}') && line.contains(r#""actor":"ops@example""#));
    assert!(verify(dir.log()).unwrap().is_intact());
}

#[tokio::test]
async fn reopen_continues_the_chain() {
    let dir = Scratch::new();
    write_log(&dir.log(), 2).await;
    let (handle, writer) = AuditLog::open(dir.log(), AuditOptions::default()).unwrap();
    assert_eq!(writer.last_seq(), 2);
    let task = writer.start().unwrap();
    assert_eq!(handle.append(entry(9)).await.unwrap(), 3);
    drop(handle);
    task.await;

    let report = verify(dir.log()).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.valid_records, 3);
}

#[tokio::test]
async fn reopen_refuses_a_cut_off_tail() {
    let dir = Scratch::new();
    write_log(&dir.log(), 2).await;
    let text = std::fs::read_to_string(dir.log()).unwrap();
    std::fs::write(dir.log(), &text[..text.len() - 10]).unwrap();
    let err = AuditLog::open(dir.log(), AuditOptions::default()).unwrap_err();
    assert!(
        matches!(err, portcullis_audit::AuditError::CorruptTail { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("incomplete"), "{err}");
}

#[tokio::test]
async fn reopen_refuses_an_edited_last_record() {
    let dir = Scratch::new();
    write_log(&dir.log(), 2).await;
    let text = std::fs::read_to_string(dir.log())
        .unwrap()
        .replace(r#""decision":"allow""#, r#""decision":"deny""#);
    std::fs::write(dir.log(), text).unwrap();
    let err = AuditLog::open(dir.log(), AuditOptions::default()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_unique_seqs_and_a_valid_chain() {
    let dir = Scratch::new();
    let (handle, task) = open(
        &dir.log(),
        AuditOptions {
            max_batch: 16,
            ..Default::default()
        },
    );
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25u64 {
                seqs.push(handle.append(entry(t * 100 + i)).await.unwrap());
            }
            seqs
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for seq in t.await.unwrap() {
            assert!(seen.insert(seq), "seq {seq} handed out twice");
        }
    }
    drop(handle);
    task.await;
    assert_eq!(seen.len(), 400);
    assert_eq!(seen.iter().max(), Some(&400));
    let report = verify(dir.log()).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.valid_records, 400);
}

#[tokio::test]
async fn reopen_finds_a_last_record_longer_than_the_read_chunk() {
    let dir = Scratch::new();
    write_log(&dir.log(), 2).await;
    let (handle, task) = open(&dir.log(), AuditOptions::default());
    let mut big = entry(3);
    big.args = Some(serde_json::json!({"blob": "x".repeat(200 * 1024)}));
    assert_eq!(handle.append(big).await.unwrap(), 3);
    drop(handle);
    task.await;

    let (handle, writer) = AuditLog::open(dir.log(), AuditOptions::default()).unwrap();
    assert_eq!(writer.last_seq(), 3);
    let task = writer.start().unwrap();
    assert_eq!(handle.append(entry(4)).await.unwrap(), 4);
    drop(handle);
    task.await;
    let report = verify(dir.log()).unwrap();
    assert!(report.is_intact() && report.valid_records == 4, "{report:?}");
}

#[tokio::test]
async fn empty_log_verifies_as_intact_with_no_records() {
    let dir = Scratch::new();
    std::fs::write(dir.log(), "").unwrap();
    let report = verify(dir.log()).unwrap();
    assert!(report.is_intact());
    assert_eq!(
        (report.valid_records, report.last_seq, report.last_hash.as_str()),
        (0, 0, GENESIS_HASH)
    );
}

#[tokio::test]
async fn a_batch_interval_groups_records_and_each_append_waits_for_its_own_write() {
    let dir = Scratch::new();
    let interval = std::time::Duration::from_millis(150);
    let (handle, task) = open(
        &dir.log(),
        AuditOptions {
            min_batch_interval: interval,
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    assert_eq!(handle.append(entry(0)).await.unwrap(), 1);
    // These arrive while the writer holds off, so they wait for the next batch, and share it.
    let later: Vec<_> = (1..=4u64)
        .map(|i| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.append(entry(i)).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in later {
        seqs.push(t.await.unwrap());
    }
    assert!(started.elapsed() >= interval, "the second batch went out early");
    seqs.sort_unstable();
    assert_eq!(seqs, [2, 3, 4, 5]);
    drop(handle);
    task.await;
    let report = verify(dir.log()).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.valid_records, 5);
}

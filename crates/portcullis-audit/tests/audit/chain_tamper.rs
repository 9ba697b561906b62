//! Verification finds the first edited, removed or moved record.

use portcullis_audit::{Problem, verify};

use crate::scratch::{Scratch, lines, write_lines, write_log};

async fn five_lines(dir: &Scratch) -> Vec<String> {
    write_log(&dir.log(), 5).await;
    lines(&dir.log())
}

#[tokio::test]
async fn tampered_field_is_found_at_its_line() {
    let dir = Scratch::new();
    let mut l = five_lines(&dir).await;
    l[2] = l[2].replace(r#""tool":"inspect_flow""#, r#""tool":"clear_traffic""#);
    write_lines(&dir.log(), &l);
    let report = verify(dir.log()).unwrap();
    let brk = report.first_break.unwrap();
    assert_eq!((brk.line, brk.seq), (3, Some(3)));
    assert!(matches!(brk.problem, Problem::BadHash { .. }), "{brk}");
    assert_eq!(report.valid_records, 2);
}

#[tokio::test]
async fn rehashed_forgery_still_breaks_the_next_link() {
    let dir = Scratch::new();
    let mut l = five_lines(&dir).await;
    // Edit line 2 and recompute its own hash, as a forger would: line 3's `prev` no longer matches.
    let mut v: serde_json::Value = serde_json::from_str(&l[1]).unwrap();
    v["decision"] = "deny".into();
    v["hash"] = portcullis_audit::record_hash(&v).into();
    l[1] = v.to_string();
    write_lines(&dir.log(), &l);
    let brk = verify(dir.log()).unwrap().first_break.unwrap();
    assert_eq!(brk.line, 3);
    assert!(matches!(brk.problem, Problem::BrokenLink { .. }), "{brk}");
}

#[tokio::test]
async fn deleted_line_is_found() {
    let dir = Scratch::new();
    let mut l = five_lines(&dir).await;
    l.remove(1);
    write_lines(&dir.log(), &l);
    let brk = verify(dir.log()).unwrap().first_break.unwrap();
    assert_eq!((brk.line, brk.seq), (2, Some(3)));
    assert_eq!(
        brk.problem,
        Problem::SeqGap {
            expected: 2,
            found: 3
        }
    );
}

#[tokio::test]
async fn reordered_lines_are_found() {
    let dir = Scratch::new();
    let mut l = five_lines(&dir).await;
    l.swap(3, 4);
    write_lines(&dir.log(), &l);
    let report = verify(dir.log()).unwrap();
    let brk = report.first_break.unwrap();
    assert_eq!((brk.line, brk.seq), (4, Some(5)));
    assert_eq!(
        brk.problem,
        Problem::SeqGap {
            expected: 4,
            found: 5
        }
    );
    assert_eq!(report.valid_records, 3);
}

#[tokio::test]
async fn garbage_line_is_unparseable() {
    let dir = Scratch::new();
    let mut l = five_lines(&dir).await;
    l.insert(4, "not json".to_owned());
    write_lines(&dir.log(), &l);
    let brk = verify(dir.log()).unwrap().first_break.unwrap();
    assert_eq!((brk.line, brk.seq), (5, None));
    assert!(matches!(brk.problem, Problem::Unparseable(_)), "{brk}");
}

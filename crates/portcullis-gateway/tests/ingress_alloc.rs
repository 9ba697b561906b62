//! What the JSON-RPC ingress parser allocates stays proportional to the bytes it accepted, whatever
//! they hold (wide arrays, deep nesting, escapes, long numbers), and nothing is parsed past the cap.
//! One test in its own binary, so the counting allocator sees only this thread's work.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::alloc::System;

use portcullis_gateway::ingress::parse;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CAP: usize = 256 * 1024;

/// Every byte allocated while parsing (a sum, so an upper bound on the peak).
fn allocated_by_parse(bytes: &[u8]) -> usize {
    let region = Region::new(GLOBAL);
    let outcome = parse(bytes, CAP);
    let used = region.change().bytes_allocated;
    drop(outcome);
    used
}

/// A `Value` node is 32 bytes (72 in an ordered map entry) for as little as 2 bytes of text, and
/// vectors grow by doubling: 80x the input bounds it with room to spare. The fixed part covers nesting,
/// which costs a few hundred bytes per level and stops at the parser's 128 levels.
fn bound(len: usize) -> usize {
    80 * len + 64 * 1024
}

#[test]
fn parsing_allocates_in_proportion_to_the_input() {
    let shapes: Vec<Vec<u8>> = vec![
        format!("[{}0]", "0,".repeat(CAP / 2 - 2)).into_bytes(),
        format!("[{}]", "[],".repeat(CAP / 3 - 1) + "[]").into_bytes(),
        format!("{}{}", "[".repeat(127), "]".repeat(127)).into_bytes(),
        format!(
            "{{{}\"z\":0}}",
            (0..CAP / 12).map(|i| format!("\"{i:x}\":0,")).collect::<String>()
        )
        .into_bytes(),
        format!("\"{}\"", "\\u00e9".repeat(CAP / 7)).into_bytes(),
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1{}]}}",
            "0".repeat(CAP / 2)
        )
        .into_bytes(),
    ];
    for bytes in &shapes {
        assert!(bytes.len() <= CAP, "shape of {} bytes", bytes.len());
        let used = allocated_by_parse(bytes);
        assert!(used <= bound(bytes.len()), "{} bytes took {used}", bytes.len());
    }
    let over = vec![b'['; CAP + 1];
    assert!(allocated_by_parse(&over) < 1024, "refused before parsing");

    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    let json = prop::collection::vec(
        prop::sample::select(
            &[
                "[",
                "]",
                "{",
                "}",
                "\"a\":",
                "0",
                ",",
                "\"\\u00e9\"",
                "1e5",
                "null",
            ][..],
        ),
        0..4096,
    );
    runner
        .run(&json, |pieces| {
            let bytes = pieces.concat().into_bytes();
            let used = allocated_by_parse(&bytes);
            prop_assert!(used <= bound(bytes.len()), "{} bytes took {}", bytes.len(), used);
            Ok(())
        })
        .unwrap();
}

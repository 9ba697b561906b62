//! The JSON-RPC ingress parser (stdio lines; HTTP bodies go through the same `serde_json` and
//! `jsonrpc::kind`) under a proptest corpus standing in for a fuzzer: arbitrary bytes, mutations of
//! real messages, deep nesting, huge numbers and strings. It never panics and answers every refusal
//! with a JSON-RPC error. `ingress_alloc.rs` bounds what it allocates.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use portcullis_gateway::ingress::{Incoming, IngressError, parse};
use portcullis_gateway::jsonrpc::{INVALID_REQUEST, PARSE_ERROR};
use proptest::prelude::*;
use serde_json::Value;

/// The stdio and HTTP default cap is 4 MiB; a small one keeps the corpus fast.
const CAP: usize = 64 * 1024;

/// Parses and checks the invariants every outcome must keep.
fn check(bytes: &[u8]) {
    match parse(bytes, CAP) {
        Ok(Incoming::Single { message, .. }) => assert!(message.is_object()),
        Ok(Incoming::Batch(messages)) => assert!(!messages.is_empty()),
        Err(refused) => {
            let response = refused.to_response();
            assert_eq!(response["jsonrpc"], "2.0");
            let code = response["error"]["code"].as_i64().unwrap();
            assert!(code == PARSE_ERROR || code == INVALID_REQUEST, "{response}");
            assert!(!response["error"]["message"].as_str().unwrap().is_empty());
            assert!(response["id"].is_null() || response["id"].is_string() || response["id"].is_number());
        }
    }
}

const SEEDS: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","n":[1,2.5,-3e7]},"_meta":{"progressToken":"p"}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c-1","reason":"bored"}}"#,
    r#"{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"\u00e9\ud83d\ude00"}],"isError":false}}"#,
    r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seed = prop::sample::select(SEEDS);
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..8);
    (seed, edits).prop_map(|(seed, edits)| {
        let mut bytes = seed.as_bytes().to_vec();
        for (at, op, byte) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => {
                    bytes.remove(i);
                }
                _ => {
                    let end = (i + 1 + usize::from(byte)).min(bytes.len());
                    let copy = bytes[i..end].to_vec();
                    bytes.splice(i..i, copy);
                }
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(bytes in mutated()) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_json_is_accepted_or_refused_cleanly(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        check(&bytes);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(&["jsonrpc", "2.0", "id", "method", "params", "tools/call", ""][..])
            .prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(
                    &[
                        "jsonrpc",
                        "id",
                        "method",
                        "params",
                        "result",
                        "error",
                        "name",
                        "arguments"
                    ][..]
                )
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    for open in [b'[', b'{'] {
        let mut bytes = Vec::new();
        for _ in 0..50_000 {
            bytes.push(open);
            if open == b'{' {
                bytes.extend_from_slice(b"\"a\":");
            }
        }
        let refused = parse(&bytes, 1 << 20).unwrap_err();
        assert!(matches!(refused, IngressError::Parse(_)), "{refused:?}");
        assert!(refused.to_string().contains("recursion"), "{refused}");
    }
}

#[test]
fn huge_numbers_and_strings_are_bounded() {
    let number = |digits: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"n":1{}}}}}"#,
            "0".repeat(digits)
        )
    };
    assert!(
        parse(number(300).as_bytes(), CAP).is_ok(),
        "a long integer becomes a float"
    );
    let refused = parse(number(5000).as_bytes(), CAP).unwrap_err();
    assert_eq!(refused.to_response()["error"]["code"], PARSE_ERROR, "{refused}");
    let out_of_range = r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"n":1e999}}"#;
    assert_eq!(
        parse(out_of_range.as_bytes(), CAP).unwrap_err().to_response()["error"]["code"],
        PARSE_ERROR
    );
    let huge_id = format!(r#"{{"jsonrpc":"2.0","id":{},"method":"x"}}"#, "9".repeat(400));
    check(huge_id.as_bytes());
    let string = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#, "a".repeat(CAP));
    assert!(matches!(
        parse(string.as_bytes(), CAP),
        Err(IngressError::TooLarge { .. })
    ));
}

//! The config loader: the shipped example parses, and mistakes are reported with their key paths.

use std::path::Path;

use portcullis_gateway::config::{ConfigError, load_file, load_str};
use portcullis_gateway::state::hash_token;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cluster/config/portcullis.toml")
}

#[test]
fn the_annotated_example_parses() {
    let loaded = load_file(&example()).unwrap();
    assert_eq!(loaded.settings.max_body_bytes, 4 * 1024 * 1024);
    assert_eq!(loaded.listen.agent.port(), 8080);
    let grant = &loaded.state.grants[&hash_token("demo-token")];
    assert_eq!(grant.identity.id, "demo-agent");
    assert_eq!(&*grant.server, "demo");
    let policy = grant.policy.as_ref().unwrap();
    // The repo's demo policy (examples/policies/demo.yaml): reads shown, the destructive tool hidden.
    assert!(policy.policy.is_visible("inspect_flow"));
    assert!(!policy.policy.is_visible("clear_traffic"));
    assert!(loaded.state.servers.contains_key("mitmproxy"));
}

const MINIMAL: &str = r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"
"#;

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let text = format!(
        "{MINIMAL}\n[servers.files]\nupstream = {{ type = \"stdio\", command = \"x\", argz = [] }}\n"
    );
    let err = load_str(&text, Path::new(".")).unwrap_err();
    let ConfigError::Syntax { path, message } = &err else {
        panic!("expected a syntax error, got {err}");
    };
    assert!(path.starts_with("servers.files.upstream"), "{err}");
    assert!(message.contains("argz"), "{err}");

    let err = load_str(&format!("{MINIMAL}\n[limits]\nmax_body = 3\n"), Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("max_body"), "{err}");

    let err = load_str(
        &format!("{MINIMAL}\n[limits]\nsession_queue = 1\nsession_queue = 2\n"),
        Path::new("."),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("duplicate key") && err.to_string().contains("line 8"),
        "{err}"
    );
}

#[test]
fn every_semantic_problem_is_listed() {
    let dir = std::env::temp_dir().join(format!("portcullis-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.json"),
        r#"{"version": "1", "default": "sometimes", "tools": {"a": {"actoin": "deny"}}}"#,
    )
    .unwrap();
    let text = format!(
        "{MINIMAL}
[policies.bad]
file = \"bad.json\"
[servers.files]
upstream = {{ type = \"http\", url = \"ftp://x\" }}
[[grants]]
id = \"a\"
token_sha256 = \"nothex\"
server = \"files\"
[[grants]]
id = \"b\"
token_sha256 = \"{}\"
server = \"nowhere\"
",
        "0".repeat(64)
    );
    let err = load_str(&text, &dir).unwrap_err();
    let ConfigError::Invalid(problems) = &err else {
        panic!("expected semantic problems, got {err}");
    };
    let all = problems.join("\n");
    assert!(all.contains("policies.bad") && all.contains("$.default"), "{all}");
    assert!(all.contains("$.tools.a"), "{all}");
    assert!(all.contains("servers.files.upstream.url"), "{all}");
    assert!(all.contains("grants[0].token_sha256"), "{all}");
    assert!(all.contains("grants[1].server"), "{all}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reload_publishes_the_new_grants() {
    use std::sync::Arc;

    use portcullis_gateway::audit::NullAuditSink;
    use portcullis_gateway::clock::ManualClock;

    let dir = std::env::temp_dir().join(format!("portcullis-reload-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("node.toml");
    let grant = |id: &str| {
        format!(
            "{MINIMAL}\n[servers.s]\nupstream = {{ type = \"http\", url = \"http://127.0.0.1:1/mcp\" }}\n\
             [[grants]]\nid = \"{id}\"\ntoken_sha256 = \"{}\"\nserver = \"s\"\n",
            portcullis_gateway::state::to_hex(&hash_token(id))
        )
    };
    std::fs::write(&path, grant("first")).unwrap();
    let (parts, publisher) = load_file(&path)
        .unwrap()
        .into_node(Arc::new(NullAuditSink), Arc::new(ManualClock::at(0)));
    assert!(parts.state.borrow().grants.contains_key(&hash_token("first")));

    std::fs::write(&path, grant("second")).unwrap();
    portcullis_gateway::reload(&path, &publisher).unwrap();
    assert!(parts.state.borrow().grants.contains_key(&hash_token("second")));
    assert!(!parts.state.borrow().grants.contains_key(&hash_token("first")));

    std::fs::write(&path, "not toml [").unwrap();
    assert!(portcullis_gateway::reload(&path, &publisher).is_err());
    assert!(
        parts.state.borrow().grants.contains_key(&hash_token("second")),
        "a bad file changes nothing"
    );
    std::fs::remove_dir_all(&dir).ok();
}

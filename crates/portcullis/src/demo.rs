//! `portcullis demo`: the main job on an embedded default. A gateway node in front of the built-in demo
//! server (this same binary, `demo-server`, one process per session), the demo policy and one grant,
//! then one live example call per kind of decision, and the audit chain verified.

mod examples;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use portcullis_gateway::state::{hash_token, to_hex};

use crate::cli::DemoArgs;
use crate::node::{self, Bound};

const POLICY: &str = include_str!("../../../examples/policies/demo.yaml");

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(&args.log)?;
    let dir = std::env::temp_dir().join(format!("portcullis-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let token = random_token()?;
    std::fs::write(dir.join("policy.yaml"), POLICY)?;
    let config = config(args, &token)?;
    std::fs::write(dir.join("portcullis.toml"), &config)?;
    let loaded = portcullis_gateway::config::load_str(&config, &dir)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let all_as_expected = Arc::new(AtomicBool::new(false));
    runtime.block_on(async {
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let once = args.once;
        let stop = async move {
            tokio::select! {
                () = node::shutdown_signal() => {}
                _ = finished, if once => {}
            }
        };
        let verdict = Arc::clone(&all_as_expected);
        let banner_dir = dir.clone();
        node::run(loaded, None, drop, stop, move |bound| {
            banner(&bound, &token, &banner_dir);
            tokio::spawn(async move {
                let ok = examples::run(bound.agent, &token).await;
                verdict.store(ok, Ordering::Relaxed);
                if !once {
                    println!("\nThe gateway keeps running: point an MCP client at it. Ctrl-C stops it.");
                }
                let _ = done.send(());
            });
        })
        .await
    })?;
    // Records are written right behind the answers; once the node has stopped, its writer has
    // flushed them all, so this is the whole trail.
    let audit_intact = examples::verify(&dir.join("audit.jsonl"));
    Ok(
        if !args.once || (all_as_expected.load(Ordering::Relaxed) && audit_intact) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

fn config(args: &DemoArgs, token: &str) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this executable to run the demo server")?;
    Ok(format!(
        r#"# Written by `portcullis demo`.
[node]
id = "demo"

[listeners]
agent = "{agent}"
ops = "{ops}"

[audit]
enabled = true
path = "audit.jsonl"

[policies.demo]
file = "policy.yaml"

[servers.demo]
upstream = {{ type = "stdio", command = {exe:?}, args = ["demo-server"] }}

[[grants]]
id = "demo-agent"
token_sha256 = "{sha}"
labels = {{ team = "demo" }}
server = "demo"
policy = "demo"
"#,
        agent = args.agent_addr,
        ops = args.ops_addr,
        exe = exe.display().to_string(),
        sha = to_hex(&hash_token(token)),
    ))
}

/// 128 random bits, hex: the demo grant's bearer token.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn banner(bound: &Bound, token: &str, dir: &Path) {
    let url = format!("http://{}/mcp/demo", bound.agent);
    let audit: PathBuf = dir.join("audit.jsonl");
    println!("Portcullis demo: a policy gateway in front of the built-in demo MCP server\n");
    println!("  MCP endpoint  {url}   (Streamable HTTP, both protocol eras)");
    println!("  bearer token  {token}");
    println!("  policy        {}", dir.join("policy.yaml").display());
    println!("  config        {}", dir.join("portcullis.toml").display());
    println!(
        "  audit log     {}   (check: portcullis audit verify {0})",
        audit.display()
    );
    println!("  metrics       http://{}/metrics\n", bound.ops);
    println!(
        "  e.g. npx @modelcontextprotocol/inspector --cli {url} --header \"Authorization: Bearer {token}\" --method tools/list\n"
    );
}

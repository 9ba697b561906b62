//! Runs the demo MCP server alone, for manual checks with other clients:
//!
//! ```text
//! cargo run -p portcullis-demo --example demo_server -- stdio
//! cargo run -p portcullis-demo --example demo_server -- http 127.0.0.1:8931 [PAGE_SIZE]
//! ```
//!
//! In HTTP mode it prints the URL on stdout and stops on Ctrl-C.

use std::{io::Write, process::ExitCode};

use portcullis_demo::{DemoConfig, DemoServer, serve_http, serve_stdio};
use tokio::{io::BufReader, net::TcpListener};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let page_size = args.get(2).and_then(|s| s.parse().ok());
    let server = DemoServer::new(DemoConfig {
        page_size,
        ..DemoConfig::default()
    });
    let outcome = match args.first().map(String::as_str) {
        Some("stdio") => serve_stdio(server, BufReader::new(tokio::io::stdin()), tokio::io::stdout())
            .await
            .map_err(|e| e.to_string()),
        Some("http") => {
            let addr = args.get(1).map_or("127.0.0.1:0", String::as_str);
            run_http(server, addr).await.map_err(|e| e.to_string())
        }
        _ => Err("usage: demo_server stdio | http ADDR [PAGE_SIZE]".to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "demo_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_http(server: DemoServer, addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    writeln!(std::io::stdout(), "http://{}/mcp", listener.local_addr()?)?;
    serve_http(server, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

//! `portcullis demo-server`: the built-in demo MCP server, the demo's upstream.

use std::process::ExitCode;

use portcullis_demo::{DemoConfig, DemoServer};

use crate::cli::DemoServerArgs;

pub fn run(args: &DemoServerArgs) -> anyhow::Result<ExitCode> {
    let server = DemoServer::new(DemoConfig {
        page_size: args.page_size,
        modern_only: args.modern_only,
        ..DemoConfig::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match args.http {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                eprintln!("portcullis demo-server: http://{}/mcp", listener.local_addr()?);
                portcullis_demo::serve_http(server, listener, crate::node::shutdown_signal()).await?;
            }
            None => {
                let stdin = tokio::io::BufReader::new(tokio::io::stdin());
                portcullis_demo::serve_stdio(server, stdin, tokio::io::stdout()).await?;
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

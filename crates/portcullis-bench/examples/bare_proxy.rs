//! The floor for the gateway's added latency: a reverse proxy on the same HTTP stack (axum in front,
//! a pooled hyper client with `TCP_NODELAY` behind) that forwards bodies and headers untouched and
//! does no MCP work at all. Benchmarked like the gateway, what it adds is what the extra hop itself
//! costs on this machine (two loopback TCP legs, their wake-ups and HTTP framing).
//!
//! `cargo run --release -p portcullis-bench --example bare_proxy -- UPSTREAM_URL` prints
//! `ready http://127.0.0.1:PORT/` and proxies every request to `UPSTREAM_URL`.

#![allow(
    clippy::print_stdout,
    reason = "a measuring tool: its ready line is its output"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type Upstream = Client<HttpConnector, Body>;

struct Proxy {
    client: Upstream,
    target: Uri,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target: Uri = std::env::args()
        .nth(1)
        .ok_or("usage: bare_proxy UPSTREAM_URL")?
        .parse()?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let proxy = Arc::new(Proxy {
        client: Client::builder(TokioExecutor::new()).build(connector),
        target,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("ready http://{}/", listener.local_addr()?);
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    parts.uri = proxy.target.clone();
    parts.headers.remove(axum::http::header::HOST);
    match proxy.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, Body::new(body.map_err(axum::Error::new)))
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

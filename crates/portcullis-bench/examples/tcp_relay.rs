//! The lowest floor for any separate-process proxy: a byte relay (no HTTP parsing at all) on one
//! thread. What it adds over a direct call is what two loopback TCP legs and their wake-ups cost.
//!
//! `cargo run --release -p portcullis-bench --example tcp_relay -- HOST:PORT` prints
//! `ready http://127.0.0.1:PORT/` and relays every connection to `HOST:PORT`.

#![allow(
    clippy::print_stdout,
    reason = "a measuring tool: its ready line is its output"
)]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args().nth(1).ok_or("usage: tcp_relay HOST:PORT")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("ready http://{}/", listener.local_addr()?);
    loop {
        let (mut inbound, _) = listener.accept().await?;
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}

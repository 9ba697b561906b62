//! The stdio front (`portcullis run`): one client speaking MCP as newline-delimited JSON over a byte
//! stream (the gateway's stdin and stdout, for clients that launch a command), one session in front of
//! one upstream (a child process or a Streamable HTTP server), and the same enforcement, relay and
//! audit as over HTTP. Nothing but protocol is ever written to the output; logs go to `tracing`.
//!
//! The client is whoever launched the gateway, so there is no token: the grant is given at start.
//! Closing the input ends the front: calls in flight are cancelled upstream and settled, then the
//! session stops (a child process is killed by its pid) and the output is flushed.

mod calls;
mod era;
mod in_flight;
mod lines;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use self::calls::Calls;
use self::lines::{Line, Lines};
use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::config::Settings;
use crate::counters::MemoryCounters;
use crate::http::Caller;
use crate::ingress::{self, Incoming, IngressError};
use crate::jsonrpc::{self, Kind};
use crate::node::{Node, NodeParts};
use crate::session::SessionError;
use crate::state::{self, GatewayState, Grant, ServerEntry};

/// How many messages may wait for the output.
const OUT_QUEUE: usize = 256;

/// How long the session may take to stop (and its child process to be killed) at the end.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// What one stdio front serves.
#[derive(Debug)]
pub struct StdioSetup {
    /// The upstream (its name appears in audit records and metrics).
    pub server: ServerEntry,
    /// The client's grant: identity, labels and policy.
    pub grant: Grant,
    /// Limits and timeouts (listeners and sessions settings do not apply).
    pub settings: Settings,
}

/// Why the front stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client closed its input (or stopped reading the output): the normal end.
    ClientClosed,
    /// The caller's stop future resolved (a signal).
    Stopped,
    /// The upstream went away (the child exited, the remote session ended).
    UpstreamClosed,
}

/// Why the front could not run.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The upstream could not be started.
    #[error("cannot start the upstream")]
    Open(#[from] SessionError),
    /// The input could not be read.
    #[error("cannot read the client's input: {0}")]
    Read(std::io::Error),
}

/// Serves one client on `input`/`output` until either side goes away or `stop` resolves; each way
/// ends the same: calls in flight cancelled and settled, the session stopped, the output flushed.
///
/// # Errors
/// When the upstream cannot be started or the input cannot be read.
pub async fn serve<R, W>(
    setup: StdioSetup,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    io: (R, W),
    stop: impl Future<Output = ()>,
) -> Result<Ended, StdioError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (input, output) = io;
    let max_bytes = setup.settings.max_body_bytes;
    let caller = Caller {
        grant_id: Arc::from(setup.grant.identity.id.as_str()),
        grant: Arc::new(setup.grant),
    };
    let server = Arc::new(setup.server);
    let state = GatewayState {
        servers: HashMap::from([(Arc::clone(&server.name), Arc::clone(&server))]),
        grants: HashMap::new(),
    };
    let (_publisher, reader) = state::channel(state);
    let node = Node::new(NodeParts {
        settings: setup.settings,
        state: reader,
        counters: Arc::new(MemoryCounters::new()),
        audit,
        clock,
        cluster: Default::default(),
    });
    let session = node.sessions.open(&server, Arc::clone(&caller.grant_id)).await?;
    let mut unsolicited = session.listen().await?;
    let (out, outgoing) = mpsc::channel::<Value>(OUT_QUEUE);
    let writer = tokio::spawn(write_lines(output, outgoing));
    let pruner = tokio::spawn(prune(Arc::clone(&node)));
    tracing::info!(server = %server.name, grant = %caller.grant_id, "stdio front serving");
    let mut calls = Calls::new(Arc::clone(&node), caller, session.clone(), out.clone());
    let mut lines = Lines::new(BufReader::new(input), max_bytes);
    let mut stop = std::pin::pin!(stop);
    let ended = loop {
        tokio::select! {
            () = &mut stop => break Ok(Ended::Stopped),
            line = lines.next() => match line {
                Ok(Some(Line::Text(bytes))) => receive(&mut calls, &bytes, max_bytes).await,
                Ok(Some(Line::TooLong(len))) => {
                    node.metrics.error("bad_request");
                    let refused = IngressError::TooLarge { len, max: max_bytes }.to_response();
                    let _ = out.send(refused).await;
                }
                Ok(None) => break Ok(Ended::ClientClosed),
                Err(e) => break Err(StdioError::Read(e)),
            },
            message = unsolicited.recv() => match message {
                Some(message) => {
                    let _ = out.send(message).await;
                }
                None => break Ok(Ended::UpstreamClosed),
            },
            () = out.closed() => break Ok(Ended::ClientClosed),
            () = calls.reap() => {}
        }
    };
    match &ended {
        Ok(Ended::ClientClosed) => tracing::info!("client closed its input: stopping"),
        Ok(Ended::Stopped) => tracing::info!("told to stop: stopping"),
        Ok(Ended::UpstreamClosed) => tracing::warn!("upstream went away: stopping"),
        Err(error) => tracing::error!(%error, "stdio front failed: stopping"),
    }
    calls.cancel_all().await;
    if !session
        .stop_and_wait("stdio client finished", STOP_PATIENCE)
        .await
    {
        tracing::warn!("session did not stop in time");
    }
    pruner.abort();
    drop(calls);
    drop(out);
    let _ = writer.await;
    ended
}

/// One line from the client.
async fn receive(calls: &mut Calls, bytes: &[u8], max_bytes: usize) {
    match ingress::parse(bytes, max_bytes) {
        Err(refused) => {
            calls.node().metrics.error("bad_request");
            calls.reply(refused.to_response()).await;
        }
        Ok(Incoming::Batch(_)) => {
            let why = "JSON-RPC batches are not supported over stdio: send one message per line";
            calls
                .reply(jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, why))
                .await;
        }
        Ok(Incoming::Single {
            message,
            kind: Kind::Request,
        }) => calls.request(message).await,
        Ok(Incoming::Single { message, .. }) => calls.pass_on(message).await,
    }
}

/// Writes each message as one line; ends when every sender is gone or the output fails.
async fn write_lines<W: AsyncWrite + Unpin>(mut output: W, mut outgoing: mpsc::Receiver<Value>) {
    while let Some(message) = outgoing.recv().await {
        let mut line = serde_json::to_vec(&message).unwrap_or_default();
        line.push(b'\n');
        if output.write_all(&line).await.is_err() {
            return;
        }
        // Flush once the queue is drained: a burst goes out in few writes, nothing waits behind it.
        if outgoing.is_empty() && output.flush().await.is_err() {
            return;
        }
    }
    let _ = output.flush().await;
}

/// Forgets finished counter windows now and then (the HTTP node's reaper does this there).
async fn prune(node: Arc<Node>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(30));
    loop {
        ticks.tick().await;
        node.counters.prune(node.clock.now().as_millis());
    }
}

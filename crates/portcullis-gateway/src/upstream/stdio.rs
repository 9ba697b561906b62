//! A stdio upstream: one child process, newline-delimited JSON-RPC on stdin/stdout, stderr to the log.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{EventSink, UpstreamError, UpstreamEvent};
use crate::state::UpstreamSpec;

/// How many outgoing messages may wait for the child's stdin.
const WRITE_QUEUE: usize = 256;

/// A running child process.
pub struct StdioUpstream {
    // Held so the process is killed when the session ends (`kill_on_drop`).
    _child: Child,
    writer: mpsc::Sender<Vec<u8>>,
    tasks: Vec<JoinHandle<()>>,
}

impl StdioUpstream {
    pub(super) fn start(spec: &UpstreamSpec, server: &str, events: EventSink) -> Result<Self, UpstreamError> {
        let UpstreamSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } = spec
        else {
            return Err(UpstreamError::Closed);
        };
        let mut cmd = Command::new(command);
        cmd.args(args)
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn().map_err(|source| UpstreamError::Spawn {
            command: command.display().to_string(),
            source,
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(UpstreamError::Closed);
        };
        let (writer, mut queue) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
        let write_task = tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(line) = queue.recv().await {
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });
        let read_task = tokio::spawn(read_stdout(stdout, events));
        let server = server.to_owned();
        let log_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %server, line = %line, "upstream stderr");
            }
        });
        Ok(Self {
            _child: child,
            writer,
            tasks: vec![write_task, read_task, log_task],
        })
    }

    pub(super) fn send(&mut self, message: &Value) -> Result<(), UpstreamError> {
        let mut line = serde_json::to_vec(message).map_err(|_| UpstreamError::Closed)?;
        line.push(b'\n');
        self.writer.try_send(line).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => UpstreamError::Busy,
            mpsc::error::TrySendError::Closed(_) => UpstreamError::Closed,
        })
    }
}

impl Drop for StdioUpstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn read_stdout(stdout: tokio::process::ChildStdout, events: EventSink) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) => {
                events(UpstreamEvent::Closed {
                    reason: "upstream process closed its output".to_owned(),
                });
                return;
            }
            Ok(_) => {
                let text = line.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Value>(text) {
                    Ok(message) => events(UpstreamEvent::Message(message)),
                    Err(e) => tracing::warn!(error = %e, "upstream wrote a line that is not json"),
                }
            }
            Err(e) => {
                events(UpstreamEvent::Closed {
                    reason: format!("cannot read upstream output: {e}"),
                });
                return;
            }
        }
    }
}

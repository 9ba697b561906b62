//! The stdio transport: one JSON-RPC message per line in, one per line out. Logs never go to the
//! output stream (the binary sends `tracing` to stderr).

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::{
    dispatch::{DemoServer, Session},
    protocol::{self, INVALID_REQUEST},
};

/// Longest accepted line; longer messages are skipped and answered with an error.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// Why the stdio loop stopped early.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("reading stdin failed: {0}")]
    Read(std::io::Error),
    #[error("writing stdout failed: {0}")]
    Write(std::io::Error),
}

/// Serves one session over a line-oriented byte stream until the input ends.
///
/// # Errors
/// When reading the input or writing the output fails.
pub async fn serve_stdio<R, W>(server: DemoServer, mut input: R, mut output: W) -> Result<(), StdioError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut session = Session::default();
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let reply = match read_line(&mut input, &mut line).await.map_err(StdioError::Read)? {
            Line::Eof => break,
            Line::TooLong => {
                tracing::warn!(max = MAX_LINE, "stdio message too long; skipped");
                Some(protocol::error(
                    &Value::Null,
                    INVALID_REQUEST,
                    format!("message longer than {MAX_LINE} bytes"),
                ))
            }
            Line::Complete if line.iter().all(u8::is_ascii_whitespace) => None,
            Line::Complete => match serde_json::from_slice::<Value>(&line) {
                Ok(message) => server.handle(&mut session, &message),
                Err(e) => Some(protocol::parse_error(&e)),
            },
        };
        if let Some(reply) = reply {
            let mut bytes = reply.to_string().into_bytes();
            bytes.push(b'\n');
            output.write_all(&bytes).await.map_err(StdioError::Write)?;
            output.flush().await.map_err(StdioError::Write)?;
        }
    }
    tracing::debug!("stdio input closed");
    Ok(())
}

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads up to and without the next `\n`, keeping at most [`MAX_LINE`] bytes in memory.
async fn read_line<R: AsyncBufRead + Unpin>(input: &mut R, line: &mut Vec<u8>) -> std::io::Result<Line> {
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        read_any = true;
        let (chunk, used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long && line.len() + chunk.len() <= MAX_LINE {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        input.consume(used);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Complete });
        }
    }
}

//! Newline-delimited messages from a byte stream, each capped: an overlong line is skipped to its end
//! without being held in memory, and reported.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line within the cap, without its line ending.
    Text(Vec<u8>),
    /// A line longer than the cap; its bytes were discarded.
    TooLong(usize),
}

/// Reads capped lines from `input`. The line in progress lives here, not in the `next` future, so
/// `next` is cancel-safe: dropping it (another `select!` branch won) loses no bytes.
pub struct Lines<R> {
    input: R,
    cap: usize,
    line: Vec<u8>,
    seen: usize,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// Lines of at most `cap` bytes.
    pub fn new(input: R, cap: usize) -> Self {
        Self {
            input,
            cap,
            line: Vec::new(),
            seen: 0,
        }
    }

    /// The next line, `None` at the end of the input (a last line without a newline still counts).
    ///
    /// # Errors
    /// When reading fails.
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let chunk = self.input.fill_buf().await?;
            if chunk.is_empty() {
                return Ok((self.seen > 0).then(|| self.finish()));
            }
            let (taken, ended) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (chunk.len(), false),
            };
            let content = &chunk[..if ended { taken - 1 } else { taken }];
            self.seen = self.seen.saturating_add(content.len());
            if self.seen <= self.cap {
                self.line.extend_from_slice(content);
            } else {
                // Over the cap: keep counting, hold nothing.
                self.line = Vec::new();
            }
            self.input.consume(taken);
            if ended {
                return Ok(Some(self.finish()));
            }
        }
    }

    fn finish(&mut self) -> Line {
        let mut line = std::mem::take(&mut self.line);
        let seen = std::mem::take(&mut self.seen);
        if seen > self.cap {
            return Line::TooLong(seen);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Line::Text(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_skipped_whole_and_the_next_line_is_intact() {
        let input: &[u8] = b"short\r\nthis line is too long\nok\nlast";
        let mut lines = Lines::new(tokio::io::BufReader::with_capacity(4, input), 8);
        assert_eq!(lines.next().await.unwrap(), Some(Line::Text(b"short".to_vec())));
        assert_eq!(lines.next().await.unwrap(), Some(Line::TooLong(21)));
        assert_eq!(lines.next().await.unwrap(), Some(Line::Text(b"ok".to_vec())));
        assert_eq!(lines.next().await.unwrap(), Some(Line::Text(b"last".to_vec())));
        assert_eq!(lines.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_dropped_read_loses_nothing() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut lines = Lines::new(tokio::io::BufReader::new(server), 1024);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"{\"half\":")
            .await
            .unwrap();
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), lines.next()).await;
        assert!(gave_up.is_err(), "no whole line yet");
        tokio::io::AsyncWriteExt::write_all(&mut client, b"1}\n")
            .await
            .unwrap();
        assert_eq!(
            lines.next().await.unwrap(),
            Some(Line::Text(b"{\"half\":1}".to_vec()))
        );
    }
}

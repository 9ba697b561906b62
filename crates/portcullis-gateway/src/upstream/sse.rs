//! An incremental `text/event-stream` parser: bytes in, complete events out.

/// One complete event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`None` means the default, `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, when the event had one (what a reconnection names in `Last-Event-ID`).
    pub id: Option<String>,
}

/// Accumulates bytes until events are complete.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    current: SseEvent,
    has_data: bool,
    /// The newest `id:` seen, whether or not its event carried data (the spec's last event id).
    last_id: Option<String>,
}

impl SseParser {
    /// A parser with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the data of every event it completed. MCP puts the message in `data`.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.feed_events(chunk).into_iter().map(|e| e.data).collect()
    }

    /// Feeds a chunk; returns every event it completed, with its name and id. Comments and `retry:`
    /// lines are skipped; an event without data is no event (the spec's rule, which also drops
    /// keep-alives).
    pub fn feed_events(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if self.has_data {
                    events.push(std::mem::take(&mut self.current));
                    self.has_data = false;
                }
                self.current = SseEvent::default();
            } else if let Some(value) = field(&line, "data") {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            } else if let Some(value) = field(&line, "event") {
                self.current.event = Some(value.to_owned());
            } else if let Some(value) = field(&line, "id") {
                // The spec ignores an id holding NUL.
                if !value.contains('\0') {
                    self.current.id = Some(value.to_owned());
                    self.last_id = Some(value.to_owned());
                }
            }
        }
        events
    }

    /// The newest event id the stream gave, for a reconnection's `Last-Event-ID`.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }
}

/// The value of `name: value` (one optional space after the colon).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let value = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_joined() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"event: message\r\ndata: {\"a\":").is_empty());
        assert_eq!(
            parser.feed(b"1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\n"),
            vec!["{\"a\":1}", "x\ny"]
        );
    }

    #[test]
    fn event_names_are_kept_and_reset_per_event() {
        let mut parser = SseParser::new();
        let events =
            parser.feed_events(b"event: endpoint\ndata: /messages?session_id=1\n\nid: 3\ndata: {}\n\n");
        assert_eq!(events[0].event.as_deref(), Some("endpoint"));
        assert_eq!(events[0].data, "/messages?session_id=1");
        assert_eq!(events[1].event, None);
        assert_eq!(events[1].data, "{}");
        assert_eq!(events[0].id, None);
        assert_eq!(events[1].id.as_deref(), Some("3"));
        // A priming event (an id and no data) is no event, but its id counts for a reconnection.
        assert!(parser.feed_events(b"id: 4\n\n").is_empty());
        assert_eq!(parser.last_id(), Some("4"));
    }
}

//! The wall clock. Libraries take time as a parameter; the binary is where it is read.

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_gateway::clock::Clock;
use portcullis_policy::Timestamp;

/// Unix time from the operating system.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> Timestamp {
        // A clock before 1970 reads as the epoch rather than failing a call.
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

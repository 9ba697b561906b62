//! Time as the engine sees it: a timestamp passed in by the caller, and fixed counter windows.
//!
//! Every window is aligned to the Unix epoch. Unix time has no leap seconds, so `minute`, `hour` and
//! `day` windows are exactly the calendar-aligned UTC windows Intercept documents.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC. The engine never reads a clock: callers pass this in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

/// One concrete counter window: `[start_ms, start_ms + len_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Window {
    /// First millisecond of the window.
    pub start_ms: u64,
    /// Length of the window in milliseconds.
    pub len_ms: u64,
}

impl Window {
    /// The first millisecond after the window.
    pub const fn end_ms(self) -> u64 {
        self.start_ms.saturating_add(self.len_ms)
    }
}

/// How long a counter window lasts, as written in the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowSpec {
    pub(crate) len_ms: u64,
}

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

impl WindowSpec {
    /// The window containing `now`.
    pub(crate) fn at(self, now: Timestamp) -> Window {
        let start_ms = now.0 - now.0 % self.len_ms;
        Window {
            start_ms,
            len_ms: self.len_ms,
        }
    }

    /// Parses `minute|hour|day`, or a duration such as `90s`, `10m`, `2h`, `1d`.
    pub(crate) fn parse_str(text: &str) -> Result<Self, String> {
        match text {
            "minute" => Ok(Self { len_ms: MINUTE }),
            "hour" => Ok(Self { len_ms: HOUR }),
            "day" => Ok(Self { len_ms: DAY }),
            other => parse_duration_ms(other).map(|len_ms| Self { len_ms }),
        }
    }

    /// A window of a whole number of seconds.
    pub(crate) fn from_secs(secs: u64) -> Result<Self, String> {
        if secs == 0 {
            return Err("a window must be at least one second".to_owned());
        }
        secs.checked_mul(SECOND)
            .map(|len_ms| Self { len_ms })
            .ok_or_else(|| "window too long".to_owned())
    }

    /// A short name usable in generated counter names: `minute`, `hour`, `day` or `<n>s`.
    pub(crate) fn label(self) -> String {
        match self.len_ms {
            MINUTE => "minute".to_owned(),
            HOUR => "hour".to_owned(),
            DAY => "day".to_owned(),
            ms => format!("{}s", ms / SECOND),
        }
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Parses a duration such as `500ms`, `90s`, `10m`, `2h` or `1d` into milliseconds. Windows and timeouts
/// must be whole seconds, at least one.
pub(crate) fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || {
        format!(
            "{text:?} is not a duration: write minute, hour, day, or a number with a unit (90s, 10m, 2h, 1d)"
        )
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_ms) {
        Some(0) => Err("a duration must be at least one second".to_owned()),
        Some(ms) => Ok(ms),
        None => Err(format!("{text:?} is too long")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_windows_align_to_utc() {
        // 2026-11-25T23:59:59.500Z
        let now = Timestamp(1_795_651_199_500);
        let day = WindowSpec::parse_str("day").unwrap().at(now);
        assert_eq!(day.start_ms, 1_795_564_800_000); // 2026-11-25T00:00:00Z
        assert_eq!(day.end_ms(), 1_795_651_200_000);
        let minute = WindowSpec::parse_str("minute").unwrap().at(now);
        assert_eq!(minute.start_ms, 1_795_651_140_000);
        let hour = WindowSpec::parse_str("hour").unwrap().at(now);
        assert_eq!(hour.start_ms, 1_795_647_600_000);
    }

    #[test]
    fn durations_and_seconds() {
        assert_eq!(WindowSpec::parse_str("90s").unwrap().len_ms, 90_000);
        assert_eq!(WindowSpec::parse_str("10m").unwrap().len_ms, 600_000);
        assert_eq!(WindowSpec::parse_str("2h").unwrap().len_ms, 7_200_000);
        assert_eq!(WindowSpec::parse_str("1d").unwrap().len_ms, 86_400_000);
        assert_eq!(WindowSpec::from_secs(60).unwrap().len_ms, 60_000);
        for bad in [
            "",
            "week",
            "10",
            "m",
            "0s",
            "1.5m",
            "-1m",
            "99999999999999999999d",
        ] {
            assert!(WindowSpec::parse_str(bad).is_err(), "{bad} should not parse");
        }
        assert!(WindowSpec::from_secs(0).is_err());
    }

    #[test]
    fn labels_name_calendar_windows() {
        assert_eq!(WindowSpec::from_secs(3600).unwrap().label(), "hour");
        assert_eq!(WindowSpec::from_secs(90).unwrap().label(), "90s");
    }
}

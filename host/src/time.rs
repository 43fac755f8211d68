//! Batch time: the end of a batch's interval, in milliseconds since the
//! Unix epoch, as in Spark Streaming.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{Local, LocalResult, TimeZone};

/// The end of a batch's interval, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchTime(pub i64);

impl BatchTime {
    /// The current time, to the millisecond.
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        BatchTime(since.as_millis() as i64)
    }

    /// The first multiple of `interval` since the epoch after this time,
    /// as Spark's `RecurringTimer` starts: batch times are aligned, so
    /// window boundaries are the same across restarts.
    pub fn next_multiple(self, interval: Duration) -> Self {
        let period = (interval.as_millis() as i64).max(1);
        BatchTime((self.0.div_euclid(period) + 1) * period)
    }

    /// Whether this time is a multiple of `period` since the epoch.
    pub fn is_multiple_of(self, period: Duration) -> bool {
        let period = (period.as_millis() as i64).max(1);
        self.0.rem_euclid(period) == 0
    }

    /// This time plus `interval`.
    pub fn plus(self, interval: Duration) -> Self {
        BatchTime(self.0 + interval.as_millis() as i64)
    }

    /// Time since the Unix epoch (zero for times before it).
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.0.max(0) as u64)
    }

    /// As a `SystemTime`.
    pub fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64)
    }

    /// The time as Python's `str(datetime.fromtimestamp(ms / 1000))` prints
    /// it, in the local time zone: `2026-11-23 20:02:20`, with
    /// `.ffffff` microseconds only when they are not zero.
    pub fn python_str(self) -> String {
        let local = match Local.timestamp_millis_opt(self.0) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
            LocalResult::None => return format!("{} ms", self.0),
        };
        let micros = self.0.rem_euclid(1000) * 1000;
        if micros == 0 {
            local.format("%Y-%m-%d %H:%M:%S").to_string()
        } else {
            format!("{}.{micros:06}", local.format("%Y-%m-%d %H:%M:%S"))
        }
    }
}

impl BatchTime {
    /// A batch time as users write it: milliseconds since the epoch, or
    /// the local time as [`BatchTime::python_str`] prints it
    /// (`2026-11-23 20:02:20`, `2026-11-23 20:02:20.500000`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(ms) = text.parse::<i64>() {
            return Some(BatchTime(ms));
        }
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
        match Local.from_local_datetime(&naive) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                Some(BatchTime(t.timestamp_millis()))
            }
            LocalResult::None => None,
        }
    }
}

impl fmt::Display for BatchTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} ms)", self.python_str(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_time_parses_as_printed_and_in_milliseconds() {
        for ms in [1_764_547_200_000, 1_764_547_200_300] {
            let time = BatchTime(ms);
            assert_eq!(BatchTime::parse(&time.python_str()), Some(time));
            assert_eq!(BatchTime::parse(&ms.to_string()), Some(time));
        }
        assert_eq!(BatchTime::parse("yesterday"), None);
    }
}

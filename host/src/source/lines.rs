//! Splitting bytes into lines, under the source's UTF-8 policy.
//!
//! Lines end at `\n`; a `\r` before it is dropped, as Hadoop's line reader
//! (and so Spark) does. A final line without `\n` is a line. Empty lines are
//! records, as in Spark.

use crate::batch::Varlen;
use crate::config::InvalidUtf8;

use super::SourceStats;

/// Appends lines to a text column, applying the UTF-8 policy.
pub struct LineDecoder {
    policy: InvalidUtf8,
    /// Counters: lines, replaced, skipped.
    pub stats: SourceStats,
}

/// A line that broke the `fail` policy: where it was.
#[derive(Debug)]
pub struct InvalidLine {
    /// 1-based line number within the origin.
    pub line: u64,
    /// The decoding error.
    pub error: std::str::Utf8Error,
}

/// How many invalid lines are logged one by one per source.
const LOGGED_INVALID_LINES: u64 = 10;

impl LineDecoder {
    /// A decoder with `policy`.
    pub fn new(policy: InvalidUtf8) -> Self {
        LineDecoder {
            policy,
            stats: SourceStats::default(),
        }
    }

    /// Appends every line of `bytes` to `out`. `origin` names the file or
    /// connection in logs.
    ///
    /// # Errors
    ///
    /// Under the `fail` policy, the first line that is not UTF-8.
    pub fn push_lines(
        &mut self,
        origin: &str,
        bytes: &[u8],
        out: &mut Varlen,
    ) -> Result<(), InvalidLine> {
        if bytes.is_empty() {
            return Ok(());
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let all_valid = std::str::from_utf8(body).is_ok();
        let mut start = 0;
        let mut number = 0u64;
        let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        for end in ends {
            number += 1;
            let mut line = &body[start..end];
            start = end + 1;
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            let delivered = all_valid || self.push_checked(origin, number, line, out)?;
            if all_valid {
                out.push(line);
            }
            self.stats.lines += u64::from(delivered);
        }
        Ok(())
    }

    /// Appends one line (without its terminator).
    ///
    /// # Errors
    ///
    /// Under the `fail` policy, when the line is not UTF-8.
    pub fn push_line(
        &mut self,
        origin: &str,
        number: u64,
        line: &[u8],
        out: &mut Varlen,
    ) -> Result<(), InvalidLine> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let delivered = self.push_checked(origin, number, line, out)?;
        self.stats.lines += u64::from(delivered);
        Ok(())
    }

    /// Appends `line` if the policy lets it through; whether it did.
    fn push_checked(
        &mut self,
        origin: &str,
        number: u64,
        line: &[u8],
        out: &mut Varlen,
    ) -> Result<bool, InvalidLine> {
        let Err(error) = std::str::from_utf8(line) else {
            out.push(line);
            return Ok(true);
        };
        let seen = self.stats.replaced_lines + self.stats.skipped_lines;
        if seen < LOGGED_INVALID_LINES && self.policy != InvalidUtf8::Fail {
            tracing::warn!(origin, line = number, %error, policy = ?self.policy, "line is not valid UTF-8");
        }
        match self.policy {
            InvalidUtf8::Replace => {
                out.push(String::from_utf8_lossy(line).as_bytes());
                self.stats.replaced_lines += 1;
                Ok(true)
            }
            InvalidUtf8::Skip => {
                self.stats.skipped_lines += 1;
                Ok(false)
            }
            InvalidUtf8::Fail => Err(InvalidLine {
                line: number,
                error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(policy: InvalidUtf8, bytes: &[u8]) -> (Vec<String>, SourceStats) {
        let mut decoder = LineDecoder::new(policy);
        let mut out = Varlen::with_capacity(0, 0);
        decoder.push_lines("test", bytes, &mut out).unwrap();
        let lines = (0..out.len()).map(|i| out.get_str(i).to_owned()).collect();
        (lines, decoder.stats)
    }

    #[test]
    fn lines_split_at_newlines_and_drop_carriage_returns() {
        let (lines, stats) = decode(InvalidUtf8::Replace, b"a b\r\n\nc");
        assert_eq!(lines, ["a b", "", "c"]);
        assert_eq!(stats.lines, 3);
        let (lines, _) = decode(InvalidUtf8::Replace, b"x\n");
        assert_eq!(lines, ["x"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_or_skipped_and_counted() {
        let (lines, stats) = decode(InvalidUtf8::Replace, b"ok\nbad \xff here\n");
        assert_eq!(lines, ["ok", "bad \u{fffd} here"]);
        assert_eq!((stats.lines, stats.replaced_lines), (2, 1));
        let (lines, stats) = decode(InvalidUtf8::Skip, b"ok\nbad \xff\nfine");
        assert_eq!(lines, ["ok", "fine"]);
        assert_eq!((stats.lines, stats.skipped_lines), (2, 1));
        let mut decoder = LineDecoder::new(InvalidUtf8::Fail);
        let err = decoder
            .push_lines("f", b"ok\nbad \xff", &mut Varlen::with_capacity(0, 0))
            .unwrap_err();
        assert_eq!(err.line, 2);
    }
}

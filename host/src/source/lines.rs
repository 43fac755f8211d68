//! Splitting bytes into lines, under the source's UTF-8 policy.
//!
//! Lines end at `\n`; a `\r` before it is dropped, as Hadoop's line reader
//! (and so Spark) does. A final line without `\n` is a line. Empty lines are
//! records, as in Spark.

use crate::batch::{Batch, Column, Varlen};
use crate::config::{InvalidUtf8, LongLines};
use crate::plan::LinePolicy;

use super::SourceStats;

/// Where decoded lines go.
pub trait LineSink {
    /// Appends one line.
    fn push_line(&mut self, line: &[u8]);
}

impl LineSink for Varlen {
    #[inline]
    fn push_line(&mut self, line: &[u8]) {
        self.push(line);
    }
}

/// Lines cut into partitions of at most `chunk_bytes` bytes of text as
/// they are decoded (a longer line is a partition of its own), so a batch's
/// input is never copied whole to be partitioned.
pub struct LineChunks {
    chunk_bytes: usize,
    current: Varlen,
    full: Vec<Batch>,
    /// Bytes announced by [`LineChunks::reserve`] and not pushed yet.
    pending: usize,
}

impl LineChunks {
    /// No lines yet; partitions of at most `chunk_bytes`.
    pub fn new(chunk_bytes: usize) -> Self {
        LineChunks {
            chunk_bytes: chunk_bytes.max(1),
            current: Varlen::with_capacity(0, 0),
            full: Vec::new(),
            pending: 0,
        }
    }

    /// Announces about `bytes` more bytes of lines, so partitions are
    /// allocated at their size once instead of growing.
    pub fn reserve(&mut self, bytes: usize) {
        self.pending += bytes;
        let room = self.chunk_bytes.saturating_sub(self.current.data.len());
        self.current.data.reserve(self.pending.min(room));
    }

    /// The partitions, in order.
    pub fn finish(mut self) -> Vec<Batch> {
        if !self.current.is_empty() || self.full.is_empty() {
            self.roll();
        }
        self.full
    }

    fn roll(&mut self) {
        let next = Varlen::with_capacity(0, self.pending.min(self.chunk_bytes));
        let done = std::mem::replace(&mut self.current, next);
        self.full.push(Batch {
            keys: None,
            values: Column::Varlen(done),
        });
    }
}

impl LineSink for LineChunks {
    #[inline]
    fn push_line(&mut self, line: &[u8]) {
        if self.current.data.len() + line.len() > self.chunk_bytes && !self.current.is_empty() {
            self.roll();
        }
        self.current.push(line);
        self.pending = self.pending.saturating_sub(line.len() + 1);
    }
}

/// Appends lines to a text column, applying the line policy.
#[derive(Clone, Debug)]
pub struct LineDecoder {
    policy: LinePolicy,
    /// Counters: lines, replaced, skipped, long.
    pub stats: SourceStats,
}

/// A line that broke a `fail` policy: where it was, and how.
#[derive(Debug)]
pub enum BadLine {
    /// Not UTF-8, under `invalid_utf8 = "fail"`.
    InvalidUtf8 {
        /// 1-based line number within the origin.
        line: u64,
        /// The decoding error.
        error: std::str::Utf8Error,
    },
    /// Longer than `max_line_bytes`, under `long_lines = "fail"`.
    TooLong {
        /// 1-based line number within the origin.
        line: u64,
        /// The limit.
        max: usize,
    },
}

impl BadLine {
    /// What went wrong at `origin` (a file or connection), and what to do.
    pub fn message(&self, origin: &str) -> String {
        match self {
            BadLine::InvalidUtf8 { line, error } => format!(
                "{origin}, line {line}: not valid UTF-8 ({error}); the source has `invalid_utf8 = \"fail\"` (use \"replace\" or \"skip\" to go on)"
            ),
            BadLine::TooLong { line, max } => format!(
                "{origin}, line {line}: longer than {max} bytes (`max_line_bytes`); the source has `long_lines = \"fail\"` (use \"split\" or \"skip\" to go on, or raise `max_line_bytes`)"
            ),
        }
    }
}

/// What became of a line over `max_line_bytes` whose end has not arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum LongLine {
    /// Its first pieces were delivered; the rest stays to be delivered.
    Split,
    /// It is dropped: discard up to its end.
    Skip,
}

/// How many invalid and long lines are logged one by one per source.
const LOGGED_LINES: u64 = 10;

impl LineDecoder {
    /// A decoder with `policy`.
    pub fn new(policy: LinePolicy) -> Self {
        LineDecoder {
            policy,
            stats: SourceStats::default(),
        }
    }

    /// The longest line delivered whole.
    pub fn max_line_bytes(&self) -> usize {
        self.policy.max_line_bytes
    }

    /// Appends every line of `bytes` to `out`. `origin` names the file or
    /// connection in logs.
    ///
    /// # Errors
    ///
    /// Under a `fail` policy, the first line that breaks it.
    pub fn push_lines(
        &mut self,
        origin: &str,
        bytes: &[u8],
        out: &mut impl LineSink,
    ) -> Result<(), BadLine> {
        if bytes.is_empty() {
            return Ok(());
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let all_valid = std::str::from_utf8(body).is_ok();
        let max = self.policy.max_line_bytes;
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
            if line.len() > max {
                let mut rest = line.to_vec();
                if self.long_line(origin, number, &mut rest, out)? == LongLine::Split {
                    self.push_checked(origin, number, &rest, out)?;
                }
                continue;
            }
            if all_valid {
                out.push_line(line);
                self.stats.lines += 1;
            } else {
                self.push_checked(origin, number, line, out)?;
            }
        }
        Ok(())
    }

    /// Appends one line (without its terminator) of at most
    /// `max_line_bytes`.
    ///
    /// # Errors
    ///
    /// Under the `fail` policy, when the line is not UTF-8.
    pub fn push_line(
        &mut self,
        origin: &str,
        number: u64,
        line: &[u8],
        out: &mut impl LineSink,
    ) -> Result<(), BadLine> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.push_checked(origin, number, line, out)?;
        Ok(())
    }

    /// Line `number` is longer than `max_line_bytes`, and `line` holds what
    /// has arrived of it: counts it, and under `split` delivers pieces of
    /// `max_line_bytes` (cut at a character boundary) until at most that
    /// much is left in `line`. Call once per line, when it first goes over.
    ///
    /// # Errors
    ///
    /// Under `long_lines = "fail"` (or `invalid_utf8 = "fail"` for a
    /// piece).
    pub fn long_line(
        &mut self,
        origin: &str,
        number: u64,
        line: &mut Vec<u8>,
        out: &mut impl LineSink,
    ) -> Result<LongLine, BadLine> {
        let max = self.policy.max_line_bytes;
        if self.stats.long_lines < LOGGED_LINES {
            tracing::warn!(origin, line = number, max_line_bytes = max, policy = ?self.policy.long_lines, "line is longer than max_line_bytes");
        }
        self.stats.long_lines += 1;
        match self.policy.long_lines {
            LongLines::Split => {
                self.split_pieces(origin, number, line, out)?;
                Ok(LongLine::Split)
            }
            LongLines::Skip => {
                line.clear();
                Ok(LongLine::Skip)
            }
            LongLines::Fail => Err(BadLine::TooLong { line: number, max }),
        }
    }

    /// Delivers pieces of `max_line_bytes` from the front of `line` while
    /// more than that is left (for a long line already counted).
    ///
    /// # Errors
    ///
    /// Under `invalid_utf8 = "fail"`, for a piece that is not UTF-8.
    pub fn split_pieces(
        &mut self,
        origin: &str,
        number: u64,
        line: &mut Vec<u8>,
        out: &mut impl LineSink,
    ) -> Result<(), BadLine> {
        let max = self.policy.max_line_bytes;
        let mut start = 0;
        while line.len() - start > max {
            let cut = char_boundary(&line[start..], max);
            self.push_checked(origin, number, &line[start..start + cut], out)?;
            start += cut;
        }
        line.drain(..start);
        Ok(())
    }

    /// Appends `line` if the policy lets it through; whether it did.
    fn push_checked(
        &mut self,
        origin: &str,
        number: u64,
        line: &[u8],
        out: &mut impl LineSink,
    ) -> Result<bool, BadLine> {
        let Err(error) = std::str::from_utf8(line) else {
            out.push_line(line);
            self.stats.lines += 1;
            return Ok(true);
        };
        let seen = self.stats.replaced_lines + self.stats.skipped_lines;
        let policy = self.policy.invalid_utf8;
        if seen < LOGGED_LINES && policy != InvalidUtf8::Fail {
            tracing::warn!(origin, line = number, %error, ?policy, "line is not valid UTF-8");
        }
        match policy {
            InvalidUtf8::Replace => {
                out.push_line(String::from_utf8_lossy(line).as_bytes());
                self.stats.replaced_lines += 1;
                self.stats.lines += 1;
                Ok(true)
            }
            InvalidUtf8::Skip => {
                self.stats.skipped_lines += 1;
                Ok(false)
            }
            InvalidUtf8::Fail => Err(BadLine::InvalidUtf8 {
                line: number,
                error,
            }),
        }
    }
}

/// The longest prefix of `bytes` of at most `max` (at least 1) bytes that
/// does not end inside a UTF-8 character (when `bytes` is UTF-8 there).
pub(crate) fn char_boundary(bytes: &[u8], max: usize) -> usize {
    let max = max.max(1);
    let is_continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
    (max.saturating_sub(3).max(1)..=max)
        .rev()
        .find(|&cut| cut >= bytes.len() || !is_continuation(bytes[cut]))
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(invalid_utf8: InvalidUtf8) -> LinePolicy {
        LinePolicy {
            invalid_utf8,
            ..LinePolicy::default()
        }
    }

    fn decode(invalid_utf8: InvalidUtf8, bytes: &[u8]) -> (Vec<String>, SourceStats) {
        decode_with(policy(invalid_utf8), bytes)
    }

    #[test]
    fn lines_are_cut_into_partitions_of_at_most_the_chunk_size_in_order() {
        let mut chunks = LineChunks::new(10);
        let mut decoder = LineDecoder::new(LinePolicy::default());
        let text = b"aaaa\nbbbb\ncccc\nthis line is longer than ten\nd\n";
        chunks.reserve(text.len());
        decoder.push_lines("f", text, &mut chunks).unwrap();
        let parts: Vec<Vec<String>> = chunks
            .finish()
            .iter()
            .map(|batch| {
                let Column::Varlen(lines) = &batch.values else {
                    panic!("text")
                };
                (0..lines.len())
                    .map(|i| lines.get_str(i).to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(
            parts,
            [
                vec!["aaaa", "bbbb"],
                vec!["cccc"],
                vec!["this line is longer than ten"],
                vec!["d"],
            ]
        );
        assert_eq!(LineChunks::new(10).finish().len(), 1, "one empty partition");
    }

    fn decode_with(policy: LinePolicy, bytes: &[u8]) -> (Vec<String>, SourceStats) {
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
        let mut decoder = LineDecoder::new(policy(InvalidUtf8::Fail));
        let err = decoder
            .push_lines("f", b"ok\nbad \xff", &mut Varlen::with_capacity(0, 0))
            .unwrap_err();
        assert!(matches!(err, BadLine::InvalidUtf8 { line: 2, .. }));
    }

    #[test]
    fn long_lines_are_split_at_characters_or_skipped_and_counted() {
        let long = |long_lines| LinePolicy {
            max_line_bytes: 4,
            long_lines,
            ..LinePolicy::default()
        };
        let (lines, stats) = decode_with(long(LongLines::Split), "ab\nabcdéfgh\nxyz".as_bytes());
        assert_eq!(lines, ["ab", "abcd", "éfg", "h", "xyz"]);
        assert_eq!((stats.lines, stats.long_lines), (5, 1));
        let (lines, stats) = decode_with(long(LongLines::Skip), b"ab\nabcdefgh\nxyz");
        assert_eq!(lines, ["ab", "xyz"]);
        assert_eq!((stats.lines, stats.long_lines), (2, 1));
        let mut decoder = LineDecoder::new(long(LongLines::Fail));
        let err = decoder
            .push_lines("f", b"ab\nabcdefgh", &mut Varlen::with_capacity(0, 0))
            .unwrap_err();
        assert_eq!(
            err.message("f"),
            "f, line 2: longer than 4 bytes (`max_line_bytes`); the source has `long_lines = \"fail\"` (use \"split\" or \"skip\" to go on, or raise `max_line_bytes`)"
        );
    }
}

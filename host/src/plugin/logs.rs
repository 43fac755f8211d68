//! What plugins printed, per call, kept for the last batches: what
//! `sluice logs` shows (like `rpk transform logs`).
//!
//! Each call's stdout and stderr are captured up to
//! [`CAPTURE_BYTES`](super::capture::CAPTURE_BYTES) each
//! ([`super::capture`]); the book keeps, per stream and batch, at most
//! [`BATCH_LOG_BYTES`] of them, and the calls of the last [`KEPT_BATCHES`]
//! batch times. What is dropped is counted and said where the logs are
//! shown, never silently lost. So the book holds at most
//! `KEPT_BATCHES × streams × BATCH_LOG_BYTES` of text (5 MiB per stream).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::capture::Captured;
use super::error::CallSite;
use crate::time::BatchTime;

/// How many batch times of plugin output are kept.
pub const KEPT_BATCHES: usize = 20;

/// How much plugin output one stream keeps per batch, over all its calls.
pub const BATCH_LOG_BYTES: usize = 256 * 1024;

/// The most entries one `logs` request returns (a `--follow` asks again).
pub const MAX_ENTRIES_PER_REPLY: usize = 2_000;

/// What one call printed on one output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Its place in the book: later entries have larger numbers.
    pub seq: u64,
    /// The batch (ms since the epoch).
    pub batch_time: i64,
    /// The stream (the sink, for a sink plugin).
    pub stream: String,
    /// The partition.
    pub partition: usize,
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's sha256.
    pub hash: String,
    /// Whether the call ran a shadow candidate.
    pub shadow: bool,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `stdout`, `stderr`, or `error` (what the operator returned as its
    /// error: an interpreted guest's traceback is in it).
    pub output: String,
    /// What it printed (ends with a line saying what was dropped, if
    /// anything was).
    pub text: String,
}

/// Which entries a `logs` request wants.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only this stream's.
    #[serde(default)]
    pub stream: Option<String>,
    /// Only this batch's (ms since the epoch).
    #[serde(default)]
    pub batch_time: Option<i64>,
    /// Only entries after this `seq` (a `--follow` passes the last seen).
    #[serde(default)]
    pub after: Option<u64>,
}

#[derive(Default)]
struct Book {
    next_seq: u64,
    entries: VecDeque<LogEntry>,
    /// The batch times entries are kept for, oldest first.
    batches: BTreeSet<i64>,
    /// Per (stream, batch time): bytes kept, and bytes dropped by the bound.
    per_batch: HashMap<(String, i64), (usize, u64)>,
}

/// The plugin output of the last batches.
#[derive(Default)]
pub struct PluginLogs {
    book: Mutex<Book>,
}

impl PluginLogs {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps what the call at `site` printed on `output` (nothing when it
    /// printed nothing).
    pub fn record(&self, site: &CallSite, output: &str, captured: &Captured) {
        if captured.text.is_empty() && captured.dropped == 0 {
            return;
        }
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let batch = site.batch_time.0;
        if book.batches.first().is_some_and(|&oldest| batch < oldest)
            && book.batches.len() >= KEPT_BATCHES
        {
            return;
        }
        book.batches.insert(batch);
        while book.batches.len() > KEPT_BATCHES {
            if let Some(oldest) = book.batches.pop_first() {
                book.entries.retain(|e| e.batch_time != oldest);
                book.per_batch.retain(|(_, time), _| *time != oldest);
            }
        }
        let mut text = captured.marked();
        let used = book
            .per_batch
            .entry((site.stream.clone(), batch))
            .or_insert((0, 0));
        let room = BATCH_LOG_BYTES.saturating_sub(used.0);
        if text.len() > room {
            // What does not fit is dropped whole, counted, and said once.
            used.1 += text.len() as u64;
            if used.1 != text.len() as u64 {
                return;
            }
            text = format!(
                "[… plugin output dropped: stream `{}` keeps {} KiB per batch]",
                site.stream,
                BATCH_LOG_BYTES / 1024
            );
        } else {
            used.0 += text.len();
        }
        let seq = book.next_seq;
        book.next_seq += 1;
        book.entries.push_back(LogEntry {
            seq,
            batch_time: batch,
            stream: site.stream.clone(),
            partition: site.partition,
            plugin: site.plugin.clone(),
            hash: site.hash.clone(),
            shadow: site.shadow,
            attempt: site.attempt,
            output: output.to_owned(),
            text,
        });
    }

    /// The entries `query` asks for, oldest first, at most
    /// [`MAX_ENTRIES_PER_REPLY`].
    pub fn query(&self, query: &LogQuery) -> Vec<LogEntry> {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.entries
            .iter()
            .filter(|e| query.after.is_none_or(|after| e.seq > after))
            .filter(|e| query.stream.as_ref().is_none_or(|s| &e.stream == s))
            .filter(|e| query.batch_time.is_none_or(|t| e.batch_time == t))
            .take(MAX_ENTRIES_PER_REPLY)
            .cloned()
            .collect()
    }

    /// The batch times output is kept for, oldest first.
    pub fn batch_times(&self) -> Vec<BatchTime> {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.batches.iter().map(|&t| BatchTime(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::error::Phase;

    fn site(stream: &str, batch: i64, partition: usize) -> CallSite {
        CallSite {
            pipeline: "p".into(),
            stream: stream.into(),
            plugin: "chatty".into(),
            hash: "ab".repeat(32),
            batch_time: BatchTime(batch),
            partition,
            phase: Phase::Only,
            shadow: false,
            attempt: 1,
        }
    }

    fn said(text: &str) -> Captured {
        Captured {
            text: text.into(),
            dropped: 0,
        }
    }

    #[test]
    fn keeps_the_last_batches_and_answers_by_stream_batch_and_seq() {
        let logs = PluginLogs::new();
        for batch in 0..(KEPT_BATCHES as i64 + 5) {
            logs.record(&site("words", batch * 1000, 0), "stderr", &said("a\n"));
            logs.record(&site("pairs", batch * 1000, 1), "stdout", &said("b\n"));
            logs.record(&site("pairs", batch * 1000, 1), "stdout", &said(""));
        }
        let times = logs.batch_times();
        assert_eq!(times.len(), KEPT_BATCHES);
        assert_eq!(times[0], BatchTime(5000));
        let all = logs.query(&LogQuery::default());
        assert_eq!(all.len(), 2 * KEPT_BATCHES);
        let words = logs.query(&LogQuery {
            stream: Some("words".into()),
            batch_time: Some(7000),
            after: None,
        });
        assert_eq!(words.len(), 1);
        assert_eq!((words[0].partition, &*words[0].text), (0, "a\n"));
        let after = logs.query(&LogQuery {
            after: Some(all[all.len() - 2].seq),
            ..LogQuery::default()
        });
        assert_eq!(after, [all[all.len() - 1].clone()]);
    }

    #[test]
    fn a_streams_output_per_batch_is_bounded_and_the_drop_said_once() {
        let logs = PluginLogs::new();
        let chunk = "x".repeat(100 * 1024);
        for partition in 0..5 {
            logs.record(&site("words", 1000, partition), "stderr", &said(&chunk));
        }
        let entries = logs.query(&LogQuery::default());
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].text.len() + entries[1].text.len(), 200 * 1024);
        assert_eq!(
            entries[2].text,
            "[… plugin output dropped: stream `words` keeps 256 KiB per batch]"
        );
    }
}

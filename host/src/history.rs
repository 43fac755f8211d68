//! The last batches of a running pipeline, as the web UI shows them: one
//! [`BatchRecord`] per batch (times, records, status, the version of each
//! stream), with each stream's calls per partition for the most recent
//! ones.
//!
//! Bounded: [`RETAINED_BATCHES`] batches are kept (Spark's
//! `spark.streaming.ui.retainedBatches`), the per-partition detail of the
//! last [`DETAILED_BATCHES`] of them, at most
//! [`MAX_PARTITION_DETAILS`](crate::executor::MAX_PARTITION_DETAILS) calls
//! per stream and batch.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::executor::{PartitionDetail, StreamReport};
use crate::observe::BatchOutcome;
use crate::recovery::CounterSnapshot;
use crate::time::BatchTime;

/// Batches kept (Spark keeps 1000).
pub const RETAINED_BATCHES: usize = 1000;

/// Batches whose per-partition calls are kept.
pub const DETAILED_BATCHES: usize = 100;

/// The most batches one page of the table holds.
pub const MAX_PAGE_SIZE: usize = 500;

/// How a batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Every call succeeded (or was retried into success).
    Succeeded,
    /// Its outputs were written, but an `on_error` policy dropped or
    /// dead-lettered records.
    Degraded,
    /// It failed: its outputs were not written.
    Failed,
}

/// One batch, as the batches table and the batch detail show it.
#[derive(Clone, Debug, Serialize)]
pub struct BatchRecord {
    /// The batch (ms since the epoch).
    pub batch_time: i64,
    /// The batch time as `pprint` prints it (local time).
    pub time: String,
    /// Records the sources gave it.
    pub input_records: u64,
    /// Per source: its name and the records it gave.
    pub sources: Vec<(String, u64)>,
    /// Records handed to the sinks.
    pub output_records: u64,
    /// How late it started, in ms.
    pub scheduling_delay_ms: f64,
    /// How long it took, in ms.
    pub processing_ms: f64,
    /// The two together, in ms.
    pub total_delay_ms: f64,
    /// How it ended.
    pub status: BatchStatus,
    /// Why it failed or was degraded.
    pub failure: Option<String>,
    /// Each stream, in plan order.
    pub streams: Vec<StreamRecord>,
}

/// One stream in one batch.
#[derive(Clone, Debug, Serialize)]
pub struct StreamRecord {
    /// The stream.
    pub stream: String,
    /// The plugin that ran (empty for a host operator).
    pub plugin: String,
    /// Its sha256.
    pub hash: String,
    /// The stream's version number.
    pub version: u32,
    /// Records it took in.
    pub records_in: u64,
    /// Records it gave.
    pub records_out: u64,
    /// Plugin calls of the current version.
    pub calls: u64,
    /// Time in them, summed over partitions, in ms.
    pub call_ms: f64,
    /// What its `on_error` policy did in this batch.
    pub failed_calls: u64,
    /// Calls retried.
    pub retries: u64,
    /// Records dropped with their partition (`skip`).
    pub skipped_records: u64,
    /// Records written to the dead-letter directory.
    pub dead_letter_records: u64,
    /// The shadow candidate's comparison, when one ran.
    pub shadow: Option<ShadowRecord>,
    /// Its calls per partition (empty once the batch is older than the
    /// last [`DETAILED_BATCHES`]).
    pub partitions: Vec<PartitionRecord>,
}

/// A shadow candidate in one batch.
#[derive(Clone, Debug, Serialize)]
pub struct ShadowRecord {
    /// Its version number.
    pub version: u32,
    /// Calls compared.
    pub calls: u64,
    /// Calls whose output differed.
    pub differing_calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
}

/// One call of a stream on one partition.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionRecord {
    /// The partition.
    pub partition: usize,
    /// Which of the stream's calls (`None`: its only one).
    pub phase: Option<&'static str>,
    /// Records it took in (keys, for a state call).
    pub records_in: u64,
    /// Records it gave.
    pub records_out: u64,
    /// How long it took, retries included, in ms.
    pub call_ms: f64,
    /// Calls made (1 + retries).
    pub attempts: u32,
    /// Calls that failed.
    pub failures: u32,
    /// The most linear memory an attempt held, in bytes.
    pub memory_peak_bytes: u64,
    /// Fuel burnt, when metered.
    pub fuel: Option<u64>,
}

/// A page of the batches table, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct BatchPage {
    /// Batches kept in all.
    pub total: usize,
    /// This page's batches, without their per-partition detail.
    pub batches: Vec<BatchRecord>,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

impl PartitionRecord {
    fn of(detail: &PartitionDetail) -> Self {
        PartitionRecord {
            partition: detail.partition,
            phase: detail.phase,
            records_in: detail.records_in,
            records_out: detail.records_out,
            call_ms: ms(detail.call_time),
            attempts: detail.costs.attempts,
            failures: detail.costs.failures,
            memory_peak_bytes: detail.costs.memory_peak,
            fuel: detail.costs.fuel,
        }
    }
}

impl StreamRecord {
    fn of(stream: &str, report: &StreamReport, outcome: CounterSnapshot) -> Self {
        StreamRecord {
            stream: stream.to_owned(),
            plugin: report.plugin.clone(),
            hash: report.hash.clone(),
            version: report.version,
            records_in: report.records_in,
            records_out: report.records_out,
            calls: report.calls,
            call_ms: ms(report.call_time),
            failed_calls: outcome.failed_calls,
            retries: outcome.retries,
            skipped_records: outcome.skipped_records,
            dead_letter_records: outcome.dead_letter_records,
            shadow: report.shadow.as_ref().map(|shadow| ShadowRecord {
                version: shadow.version,
                calls: shadow.calls,
                differing_calls: shadow.differing_calls,
                failed_calls: shadow.failed_calls,
            }),
            partitions: report.partitions.iter().map(PartitionRecord::of).collect(),
        }
    }
}

fn without_partitions(batch: &BatchRecord) -> BatchRecord {
    BatchRecord {
        streams: batch
            .streams
            .iter()
            .map(|stream| StreamRecord {
                partitions: Vec::new(),
                ..stream.clone()
            })
            .collect(),
        ..batch.clone()
    }
}

/// The last [`RETAINED_BATCHES`] batches, oldest first.
#[derive(Default)]
pub struct BatchHistory {
    batches: Mutex<VecDeque<BatchRecord>>,
}

impl BatchHistory {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<BatchRecord>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, record: BatchRecord) {
        let mut batches = self.lock();
        if batches.len() >= RETAINED_BATCHES {
            batches.pop_front();
        }
        batches.push_back(record);
        let detailed_until = batches.len().saturating_sub(DETAILED_BATCHES);
        if detailed_until > 0
            && let Some(aged) = batches.get_mut(detailed_until - 1)
        {
            for stream in &mut aged.streams {
                stream.partitions = Vec::new();
            }
        }
    }

    /// Keeps a completed batch.
    pub fn batch_done(&self, batch: &BatchOutcome<'_>) {
        let streams: Vec<StreamRecord> = batch
            .streams
            .iter()
            .zip(&batch.outcomes)
            .map(|((name, report), outcome)| StreamRecord::of(name, report, *outcome))
            .collect();
        let failure = batch.streams.iter().find_map(|(name, report)| {
            report
                .failure
                .as_ref()
                .filter(|_| report.degraded)
                .map(|failure| format!("stream `{name}`: {failure}"))
        });
        let degraded = batch.streams.iter().any(|(_, report)| report.degraded)
            || streams
                .iter()
                .any(|s| s.skipped_records > 0 || s.dead_letter_records > 0);
        self.push(BatchRecord {
            batch_time: batch.batch_time.0,
            time: batch.batch_time.python_str(),
            input_records: batch.sources.iter().map(|(_, records, _)| records).sum(),
            sources: batch
                .sources
                .iter()
                .map(|(name, records, _)| ((*name).to_owned(), *records))
                .collect(),
            output_records: batch.output_records,
            scheduling_delay_ms: ms(batch.scheduling_delay),
            processing_ms: ms(batch.processing),
            total_delay_ms: ms(batch.scheduling_delay + batch.processing),
            status: if degraded {
                BatchStatus::Degraded
            } else {
                BatchStatus::Succeeded
            },
            failure,
            streams,
        });
    }

    /// Keeps a failed batch.
    pub fn batch_failed(
        &self,
        batch_time: BatchTime,
        scheduling_delay: Duration,
        processing: Duration,
        message: String,
    ) {
        self.push(BatchRecord {
            batch_time: batch_time.0,
            time: batch_time.python_str(),
            input_records: 0,
            sources: Vec::new(),
            output_records: 0,
            scheduling_delay_ms: ms(scheduling_delay),
            processing_ms: ms(processing),
            total_delay_ms: ms(scheduling_delay + processing),
            status: BatchStatus::Failed,
            failure: Some(message),
            streams: Vec::new(),
        });
    }

    /// Page `page` (0: the newest) of `size` batches, newest first,
    /// without their per-partition detail.
    pub fn page(&self, page: usize, size: usize) -> BatchPage {
        let size = size.clamp(1, MAX_PAGE_SIZE);
        let batches = self.lock();
        BatchPage {
            total: batches.len(),
            batches: batches
                .iter()
                .rev()
                .skip(page.saturating_mul(size))
                .take(size)
                .map(without_partitions)
                .collect(),
        }
    }

    /// The last `count` batches, oldest first, without their streams (the
    /// charts' points).
    pub fn recent(&self, count: usize) -> Vec<BatchRecord> {
        let batches = self.lock();
        batches
            .iter()
            .skip(batches.len().saturating_sub(count))
            .map(|batch| BatchRecord {
                streams: Vec::new(),
                failure: None,
                ..batch.clone()
            })
            .collect()
    }

    /// The last `count` batches, oldest first, without their
    /// per-partition detail.
    pub fn last(&self, count: usize) -> Vec<BatchRecord> {
        let batches = self.lock();
        batches
            .iter()
            .skip(batches.len().saturating_sub(count))
            .map(without_partitions)
            .collect()
    }

    /// Batch `batch_time`, whole.
    pub fn batch(&self, batch_time: i64) -> Option<BatchRecord> {
        self.lock()
            .iter()
            .rev()
            .find(|batch| batch.batch_time == batch_time)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(history: &BatchHistory, time: i64) {
        let report = StreamReport {
            version: 1,
            plugin: "split_words".into(),
            records_in: 3,
            records_out: 6,
            partitions: vec![PartitionDetail {
                partition: 0,
                records_in: 3,
                records_out: 6,
                ..PartitionDetail::default()
            }],
            ..StreamReport::default()
        };
        history.batch_done(&BatchOutcome {
            batch_time: BatchTime(time),
            scheduling_delay: Duration::from_millis(1),
            processing: Duration::from_millis(9),
            output_records: 6,
            sources: vec![("lines", 3, Default::default())],
            streams: vec![("words", &report)],
            outcomes: vec![CounterSnapshot::default()],
            windows: Vec::new(),
            states: Vec::new(),
        });
    }

    #[test]
    fn pages_are_newest_first_and_old_batches_lose_their_detail_then_go() {
        let history = BatchHistory::default();
        for time in 1..=(RETAINED_BATCHES as i64 + 5) {
            done(&history, time * 1000);
        }
        let page = history.page(0, 2);
        assert_eq!(page.total, RETAINED_BATCHES);
        let times: Vec<i64> = page.batches.iter().map(|b| b.batch_time).collect();
        assert_eq!(times, [1_005_000, 1_004_000]);
        assert!(page.batches[0].streams[0].partitions.is_empty());
        let newest = history.batch(1_005_000).expect("kept");
        assert_eq!(newest.streams[0].partitions.len(), 1);
        assert_eq!(newest.total_delay_ms, 10.0);
        let aged = 1_005_000 - DETAILED_BATCHES as i64 * 1000;
        assert!(
            history.batch(aged).expect("kept").streams[0]
                .partitions
                .is_empty()
        );
        assert_eq!(
            history.batch(aged + 1000).expect("kept").streams[0]
                .partitions
                .len(),
            1
        );
        assert!(history.batch(5_000).is_none());
        assert_eq!(history.recent(3).len(), 3);
    }
}

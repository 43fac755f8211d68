//! What watches the batches go by: the Prometheus metrics
//! ([`crate::metrics`]) and the batch history the web UI shows
//! ([`crate::history`]). The scheduler tells [`Observers`] once per batch,
//! after its outputs are written, or when it failed.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::executor::StreamReport;
use crate::history::BatchHistory;
use crate::metrics::Metrics;
use crate::recovery::CounterSnapshot;
use crate::source::SourceStats;
use crate::time::BatchTime;

/// What one completed batch tells its observers.
pub struct BatchOutcome<'a> {
    /// The batch.
    pub batch_time: BatchTime,
    /// How late it started.
    pub scheduling_delay: Duration,
    /// How long it took.
    pub processing: Duration,
    /// Records handed to the sinks.
    pub output_records: u64,
    /// Per source: its name, the records it gave, its counters.
    pub sources: Vec<(&'a str, u64, SourceStats)>,
    /// Per stream, in plan order: its name and report.
    pub streams: Vec<(&'a str, &'a StreamReport)>,
    /// Per stream, in plan order: what its `on_error` policy did in this
    /// batch (see [`Observers::outcomes_since_last`]).
    pub outcomes: Vec<CounterSnapshot>,
    /// Per windowed stream: its name and bytes held.
    pub windows: Vec<(&'a str, u64)>,
    /// Per stateful stream: its name, keys and bytes held.
    pub states: Vec<(&'a str, u64, u64)>,
}

/// The metrics and the history of one pipeline.
pub struct Observers {
    /// Its Prometheus metrics.
    pub metrics: Metrics,
    /// Its last batches.
    pub history: BatchHistory,
    /// Each stream's `on_error` counters at the last batch.
    last_outcomes: Mutex<Vec<CounterSnapshot>>,
}

impl Observers {
    /// The observers of pipeline `pipeline`, with nothing seen yet.
    pub fn new(pipeline: &str) -> Self {
        Observers {
            metrics: Metrics::new(pipeline),
            history: BatchHistory::default(),
            last_outcomes: Mutex::new(Vec::new()),
        }
    }

    /// What each stream's `on_error` policy did since the last call, from
    /// its counters so far (`totals`, in plan order).
    pub fn outcomes_since_last(&self, totals: Vec<CounterSnapshot>) -> Vec<CounterSnapshot> {
        let mut last = self
            .last_outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.resize(totals.len(), CounterSnapshot::default());
        let deltas = totals
            .iter()
            .zip(last.iter())
            .map(|(now, before)| CounterSnapshot {
                failed_calls: now.failed_calls.saturating_sub(before.failed_calls),
                retries: now.retries.saturating_sub(before.retries),
                skipped_partitions: now
                    .skipped_partitions
                    .saturating_sub(before.skipped_partitions),
                skipped_records: now.skipped_records.saturating_sub(before.skipped_records),
                dead_letter_records: now
                    .dead_letter_records
                    .saturating_sub(before.dead_letter_records),
            })
            .collect();
        *last = totals;
        deltas
    }

    /// A batch completed.
    pub fn batch_done(&self, batch: &BatchOutcome<'_>) {
        self.metrics.batch_done(batch);
        self.history.batch_done(batch);
    }

    /// Batch `batch_time` failed with `message` after `processing`.
    pub fn batch_failed(
        &self,
        batch_time: BatchTime,
        scheduling_delay: Duration,
        processing: Duration,
        message: String,
    ) {
        self.metrics.batch_failed();
        self.history
            .batch_failed(batch_time, scheduling_delay, processing, message);
    }
}

//! The pipeline's Prometheus metrics, served at `/metrics` by the web UI
//! ([`crate::ui`]).
//!
//! Names follow Prometheus' conventions: `sluice_` prefix, `_total` on
//! counters, `_seconds` on durations; every series carries the label
//! `pipeline`, per-stream ones `stream`, per-source ones `source`. The
//! scheduler updates them once per batch ([`Metrics::batch_done`]), so a
//! scrape costs the pipeline nothing but a lock on the registry.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::observe::BatchOutcome;

/// A label set: `[(name, value)]`.
type Labels = Vec<(String, String)>;

/// Per-stream `on_error` outcomes, as counters.
#[derive(Default)]
struct Outcomes {
    failed_calls: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    skipped_records: Family<Labels, Counter>,
    dead_letter_records: Family<Labels, Counter>,
}

fn stream_labels(stream: &str) -> Labels {
    vec![("stream".to_owned(), stream.to_owned())]
}

fn source_labels(source: &str) -> Labels {
    vec![("source".to_owned(), source.to_owned())]
}

/// Batch durations: 1 ms to about 17 min, doubling.
fn duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 21)
}

/// Histograms of per-stream durations.
fn duration_histograms() -> Family<Labels, Histogram, fn() -> Histogram> {
    Family::new_with_constructor(|| Histogram::new(duration_buckets()))
}

/// Everything `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    batches: Counter,
    input_records: Family<Labels, Counter>,
    processing: Histogram,
    scheduling_delay: Histogram,
    total_delay: Histogram,
    records_in: Family<Labels, Counter>,
    records_out: Family<Labels, Counter>,
    calls: Family<Labels, Counter>,
    call_time: Family<Labels, Histogram, fn() -> Histogram>,
    outcomes: Outcomes,
    failed_batches: Counter,
    state_keys: Family<Labels, Gauge>,
    state_bytes: Family<Labels, Gauge>,
    window_bytes: Family<Labels, Gauge>,
    source_held_bytes: Family<Labels, Gauge>,
    source_lag: Family<Labels, Gauge>,
}

impl Metrics {
    /// The metrics of pipeline `pipeline`, all at zero.
    pub fn new(pipeline: &str) -> Self {
        let registry = Registry::with_prefix_and_labels(
            "sluice",
            [(
                std::borrow::Cow::Borrowed("pipeline"),
                std::borrow::Cow::Owned(pipeline.to_owned()),
            )]
            .into_iter(),
        );
        let mut metrics = Metrics {
            registry,
            batches: Counter::default(),
            input_records: Family::default(),
            processing: Histogram::new(duration_buckets()),
            scheduling_delay: Histogram::new(duration_buckets()),
            total_delay: Histogram::new(duration_buckets()),
            records_in: Family::default(),
            records_out: Family::default(),
            calls: Family::default(),
            call_time: duration_histograms(),
            outcomes: Outcomes::default(),
            failed_batches: Counter::default(),
            state_keys: Family::default(),
            state_bytes: Family::default(),
            window_bytes: Family::default(),
            source_held_bytes: Family::default(),
            source_lag: Family::default(),
        };
        let r = &mut metrics.registry;
        r.register("batches", "Batches completed", metrics.batches.clone());
        r.register(
            "batches_failed",
            "Batches that failed (their outputs not written)",
            metrics.failed_batches.clone(),
        );
        r.register(
            "input_records",
            "Records the sources gave the batches",
            metrics.input_records.clone(),
        );
        r.register_with_unit(
            "batch_processing",
            "How long each batch took, from its start to its outputs written",
            Unit::Seconds,
            metrics.processing.clone(),
        );
        r.register_with_unit(
            "batch_scheduling_delay",
            "How late each batch started after its batch time",
            Unit::Seconds,
            metrics.scheduling_delay.clone(),
        );
        r.register_with_unit(
            "batch_total_delay",
            "Scheduling delay plus processing time of each batch",
            Unit::Seconds,
            metrics.total_delay.clone(),
        );
        r.register(
            "stream_input_records",
            "Records each stream took in",
            metrics.records_in.clone(),
        );
        r.register(
            "stream_output_records",
            "Records each stream gave (a window: what it emitted)",
            metrics.records_out.clone(),
        );
        r.register(
            "stream_calls",
            "Plugin calls of each stream's current version (one per partition batch)",
            metrics.calls.clone(),
        );
        r.register_with_unit(
            "stream_call",
            "Time in each stream's plugin calls per batch, summed over partitions",
            Unit::Seconds,
            metrics.call_time.clone(),
        );
        r.register(
            "stream_failed_calls",
            "Plugin calls that failed, including those retried or isolated",
            metrics.outcomes.failed_calls.clone(),
        );
        r.register(
            "stream_retries",
            "Calls retried (`on_error = \"retry\"`)",
            metrics.outcomes.retries.clone(),
        );
        r.register(
            "stream_skipped_records",
            "Records dropped with their partition batch (`on_error = \"skip\"`)",
            metrics.outcomes.skipped_records.clone(),
        );
        r.register(
            "stream_dead_letter_records",
            "Records written to the dead-letter directory",
            metrics.outcomes.dead_letter_records.clone(),
        );
        r.register(
            "state_keys",
            "Keys each stateful stream holds",
            metrics.state_keys.clone(),
        );
        r.register_with_unit(
            "state",
            "Bytes each stateful stream holds",
            Unit::Bytes,
            metrics.state_bytes.clone(),
        );
        r.register_with_unit(
            "window",
            "Bytes each windowed stream holds",
            Unit::Bytes,
            metrics.window_bytes.clone(),
        );
        r.register_with_unit(
            "source_held",
            "Bytes a source holds between batches (a socket's buffer)",
            Unit::Bytes,
            metrics.source_held_bytes.clone(),
        );
        r.register(
            "source_lag_records",
            "Records on the brokers not yet read (Kafka)",
            metrics.source_lag.clone(),
        );
        metrics
    }

    /// Counts a failed batch.
    pub fn batch_failed(&self) {
        self.failed_batches.inc();
    }

    /// Counts a completed batch.
    pub fn batch_done(&self, batch: &BatchOutcome<'_>) {
        self.batches.inc();
        let (delay, processing) = (
            batch.scheduling_delay.as_secs_f64(),
            batch.processing.as_secs_f64(),
        );
        self.scheduling_delay.observe(delay);
        self.processing.observe(processing);
        self.total_delay.observe(delay + processing);
        for (source, records, stats) in &batch.sources {
            let labels = source_labels(source);
            self.input_records.get_or_create(&labels).inc_by(*records);
            self.source_held_bytes
                .get_or_create(&labels)
                .set(i64::try_from(stats.held_bytes).unwrap_or(i64::MAX));
            self.source_lag
                .get_or_create(&labels)
                .set(i64::try_from(stats.lag).unwrap_or(i64::MAX));
        }
        for (stream, report) in &batch.streams {
            let labels = stream_labels(stream);
            self.records_in
                .get_or_create(&labels)
                .inc_by(report.records_in);
            self.records_out
                .get_or_create(&labels)
                .inc_by(report.records_out);
            self.calls.get_or_create(&labels).inc_by(report.calls);
            if report.calls > 0 {
                self.call_time
                    .get_or_create(&labels)
                    .observe(report.call_time.as_secs_f64());
            }
        }
        for ((stream, _), outcome) in batch.streams.iter().zip(&batch.outcomes) {
            let labels = stream_labels(stream);
            let add = |family: &Family<Labels, Counter>, increase: u64| {
                family.get_or_create(&labels).inc_by(increase);
            };
            add(&self.outcomes.failed_calls, outcome.failed_calls);
            add(&self.outcomes.retries, outcome.retries);
            add(&self.outcomes.skipped_records, outcome.skipped_records);
            add(
                &self.outcomes.dead_letter_records,
                outcome.dead_letter_records,
            );
        }
        for (stream, bytes) in &batch.windows {
            self.window_bytes
                .get_or_create(&stream_labels(stream))
                .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
        for (stream, keys, bytes) in &batch.states {
            let labels = stream_labels(stream);
            self.state_keys
                .get_or_create(&labels)
                .set(i64::try_from(*keys).unwrap_or(i64::MAX));
            self.state_bytes
                .get_or_create(&labels)
                .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
    }

    /// The metrics in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::executor::StreamReport;
    use crate::recovery::CounterSnapshot;
    use crate::source::SourceStats;

    #[test]
    fn a_batch_shows_in_the_exposition_with_prometheus_names() {
        let metrics = Metrics::new("p");
        let report = StreamReport {
            calls: 2,
            records_in: 10,
            records_out: 30,
            call_time: Duration::from_millis(5),
            ..StreamReport::default()
        };
        let outcomes = CounterSnapshot {
            retries: 1,
            ..CounterSnapshot::default()
        };
        metrics.batch_done(&BatchOutcome {
            batch_time: crate::time::BatchTime(1_000),
            output_records: 30,
            scheduling_delay: Duration::from_millis(2),
            processing: Duration::from_millis(40),
            sources: vec![("lines", 10, SourceStats::default())],
            streams: vec![("words", &report)],
            outcomes: vec![outcomes],
            windows: Vec::new(),
            states: vec![("totals", 3, 300)],
        });
        let text = metrics.render();
        for line in [
            "sluice_batches_total{pipeline=\"p\"} 1",
            "sluice_input_records_total{pipeline=\"p\",source=\"lines\"} 10",
            "sluice_stream_output_records_total{pipeline=\"p\",stream=\"words\"} 30",
            "sluice_stream_calls_total{pipeline=\"p\",stream=\"words\"} 2",
            "sluice_stream_retries_total{pipeline=\"p\",stream=\"words\"} 1",
            "sluice_batch_processing_seconds_count{pipeline=\"p\"} 1",
            "sluice_state_bytes{pipeline=\"p\",stream=\"totals\"} 300",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}

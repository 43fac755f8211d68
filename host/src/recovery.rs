//! What happens when a plugin call fails: the stream's `on_error` policy.
//!
//! - `fail`: the error stops the pipeline (the batch is not delivered).
//! - `retry`: a transient failure (a timeout) is retried with exponential
//!   backoff, up to `retries` times; a deterministic one (a trap, a limit,
//!   invalid output, an operator error) fails at once, since calls are
//!   deterministic and would fail the same way again.
//! - `skip`: the failing partition batch is dropped, counted and logged.
//! - `dead_letter`: the batch is split until the records that make the call
//!   fail are found; each goes to the dead-letter directory with its error,
//!   and every other record is processed normally. An operator error that
//!   names its record is used directly instead of bisecting.
//!
//! Every outcome is counted in [`StreamCounters`].

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batch::{Batch, RecordType};
use crate::error::{CallError, CallFailure, CallSite, Error};
use crate::operator::Operator;
use crate::plan::ErrorPolicy;
use crate::render::json_record_value;

/// Calls one dead-letter isolation may make per partition batch; records of
/// segments left unresolved when it runs out are dead-lettered together.
pub const MAX_ISOLATION_CALLS: u32 = 512;

/// Outcome counters of one stream, over the whole run.
#[derive(Debug, Default)]
pub struct StreamCounters {
    failed_calls: AtomicU64,
    retries: AtomicU64,
    skipped_partitions: AtomicU64,
    skipped_records: AtomicU64,
    dead_letter_records: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

/// A copy of a stream's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Calls that failed (including those retried or isolated).
    pub failed_calls: u64,
    /// Retries made.
    pub retries: u64,
    /// Partition batches dropped by `skip`.
    pub skipped_partitions: u64,
    /// Records in those batches.
    pub skipped_records: u64,
    /// Records sent to the dead-letter directory.
    pub dead_letter_records: u64,
}

impl StreamCounters {
    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            failed_calls: get(&self.failed_calls),
            retries: get(&self.retries),
            skipped_partitions: get(&self.skipped_partitions),
            skipped_records: get(&self.skipped_records),
            dead_letter_records: get(&self.dead_letter_records),
        }
    }

    /// The message of the latest failed call, if any failed.
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().map_or(None, |last| last.clone())
    }

    fn note_failure(&self, error: &CallError) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = Some(error.to_string());
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One record that made its call fail, with the error.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Where the failing call happened.
    pub site: CallSite,
    /// The record's index in its partition batch.
    pub record_index: usize,
    /// The failure class, e.g. `trap`.
    pub kind: &'static str,
    /// The error message.
    pub error: String,
    /// What the plugin wrote to stderr.
    pub stderr: String,
    /// The record as a JSON object (`{"key": …, "value": …}`).
    pub record: serde_json::Value,
}

impl DeadLetter {
    /// The dead-letter file's line for this record (without newline).
    pub fn to_json_line(&self) -> String {
        let site = &self.site;
        serde_json::json!({
            "pipeline": site.pipeline,
            "stream": site.stream,
            "plugin": site.plugin,
            "sha256": site.hash,
            "batch_time": site.batch_time.0,
            "partition": site.partition,
            "phase": site.phase.name(),
            "attempt": site.attempt,
            "record_index": self.record_index,
            "error_kind": self.kind,
            "error": self.error,
            "stderr": self.stderr,
            "record": self.record,
        })
        .to_string()
    }
}

/// The result of one partition batch under a policy.
pub struct Outcome {
    /// The records to pass on.
    pub output: Batch,
    /// Records isolated by `dead_letter`.
    pub dead_letters: Vec<DeadLetter>,
    /// Whether the first call failed (and the policy handled it).
    pub recovered: bool,
}

/// How one stream's calls are made and their failures handled.
pub struct Recovery<'a> {
    /// The stream's operator.
    pub operator: &'a dyn Operator,
    /// The stream's policy.
    pub policy: &'a ErrorPolicy,
    /// The stream's counters.
    pub counters: &'a StreamCounters,
    /// The records the operator takes (to render dead letters).
    pub input_type: RecordType,
    /// The records it gives (for an empty result).
    pub output_type: RecordType,
    /// Whether outputs of separate calls must be combined again (a reducer
    /// after the exchange, whose output must hold each key once).
    pub recombine: bool,
}

impl Recovery<'_> {
    /// Applies the operator to `input`, handling a failure by the policy.
    ///
    /// # Errors
    ///
    /// The call's error when the policy gives up (`fail`, `retry` exhausted
    /// or deterministic), or an error that is not the plugin's.
    pub fn apply(&self, input: &Batch, site: &CallSite) -> Result<Outcome, Error> {
        let first = match self.operator.apply(input, site) {
            Ok(output) => return Ok(self.done(output)),
            Err(Error::Call(e)) => e,
            Err(other) => return Err(other),
        };
        StreamCounters::add(&self.counters.failed_calls, 1);
        self.counters.note_failure(&first);
        let handled = match self.policy {
            ErrorPolicy::Fail => Err(Error::Call(first)),
            ErrorPolicy::Retry { retries, backoff } => self
                .retry(first, *retries, *backoff, |site| {
                    self.operator.apply(input, site)
                })
                .map(|o| self.done(o)),
            ErrorPolicy::Skip => {
                StreamCounters::add(&self.counters.skipped_partitions, 1);
                StreamCounters::add(&self.counters.skipped_records, input.len() as u64);
                tracing::warn!(
                    stream = %first.site.stream,
                    partition = first.site.partition,
                    records = input.len(),
                    error_kind = first.failure.kind(),
                    "partition batch skipped (on_error = skip): {first}"
                );
                Ok(self.done(Batch::empty(self.output_type)))
            }
            ErrorPolicy::DeadLetter { .. } => self.isolate(input, first),
        };
        handled.map(|outcome| Outcome {
            recovered: true,
            ..outcome
        })
    }

    fn done(&self, output: Batch) -> Outcome {
        Outcome {
            output,
            dead_letters: Vec::new(),
            recovered: false,
        }
    }

    /// Makes a call that keeps or reads state (`update_state_by_key`,
    /// `map_with_state`, a window's inverse): `call` at `site`, and at the
    /// next attempts. Only `fail` and `retry` apply: the plan refuses the
    /// policies that would drop part of the state's update.
    ///
    /// # Errors
    ///
    /// The call's error when the policy gives up.
    pub fn stateful<T>(
        &self,
        site: &CallSite,
        call: impl Fn(&CallSite) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let first = match call(site) {
            Ok(done) => return Ok(done),
            Err(Error::Call(e)) => e,
            Err(other) => return Err(other),
        };
        StreamCounters::add(&self.counters.failed_calls, 1);
        self.counters.note_failure(&first);
        match self.policy {
            ErrorPolicy::Retry { retries, backoff } => self.retry(first, *retries, *backoff, call),
            _ => Err(Error::Call(first)),
        }
    }

    /// Calls again with `call` after a transient failure, up to `retries`
    /// times with a doubling wait.
    fn retry<T>(
        &self,
        mut error: Box<CallError>,
        retries: u32,
        backoff: std::time::Duration,
        call: impl Fn(&CallSite) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut wait = backoff;
        loop {
            if !error.failure.is_transient() {
                tracing::warn!(
                    error_kind = error.failure.kind(),
                    "not retried: the failure is deterministic and would happen again"
                );
                return Err(Error::Call(error));
            }
            if error.site.attempt > retries {
                return Err(Error::Call(error));
            }
            tracing::warn!(
                retry_in = ?wait,
                "{error}; retrying (on_error = retry, {} of {retries})",
                error.site.attempt
            );
            StreamCounters::add(&self.counters.retries, 1);
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
            let mut site = error.site.clone();
            site.attempt += 1;
            match call(&site) {
                Ok(output) => return Ok(output),
                Err(Error::Call(e)) => {
                    StreamCounters::add(&self.counters.failed_calls, 1);
                    error = e;
                }
                Err(other) => return Err(other),
            }
        }
    }

    fn isolate(&self, input: &Batch, first: Box<CallError>) -> Result<Outcome, Error> {
        let mut isolation = Isolation {
            recovery: self,
            input,
            outputs: Vec::new(),
            dead_letters: Vec::new(),
            calls_left: MAX_ISOLATION_CALLS,
        };
        isolation.bisect(0..input.len(), &first)?;
        let Isolation {
            outputs,
            dead_letters,
            ..
        } = isolation;
        StreamCounters::add(
            &self.counters.dead_letter_records,
            dead_letters.len() as u64,
        );
        tracing::warn!(
            stream = %first.site.stream,
            partition = first.site.partition,
            dead_letters = dead_letters.len(),
            error_kind = first.failure.kind(),
            "records isolated into the dead-letter directory (on_error = dead_letter): {first}"
        );
        let mut output = Batch::empty(self.output_type);
        let parts = outputs.len();
        for part in &outputs {
            output.extend_from(part);
        }
        if self.recombine && parts > 1 {
            // Each key must appear once after the exchange.
            output = self.operator.apply(&output, &first.site)?;
        }
        Ok(Outcome {
            output,
            dead_letters,
            recovered: true,
        })
    }
}

/// The state of one dead-letter isolation.
struct Isolation<'a, 'b> {
    recovery: &'b Recovery<'a>,
    input: &'b Batch,
    outputs: Vec<Batch>,
    dead_letters: Vec<DeadLetter>,
    calls_left: u32,
}

impl Isolation<'_, '_> {
    /// `range` fails with `error`: find its bad records.
    fn bisect(&mut self, range: Range<usize>, error: &CallError) -> Result<(), Error> {
        if range.len() <= 1 {
            for index in range {
                self.dead_letter(index, error, None);
            }
            return Ok(());
        }
        if let CallFailure::Operator {
            record: Some(blamed),
            ..
        } = error.failure
            && (blamed as usize) < range.len()
        {
            let bad = range.start + blamed as usize;
            self.try_segment(range.start..bad, error)?;
            self.dead_letter(bad, error, None);
            return self.try_segment(bad + 1..range.end, error);
        }
        let middle = range.start + range.len() / 2;
        self.try_segment(range.start..middle, error)?;
        self.try_segment(middle..range.end, error)
    }

    /// Calls the operator on `range`; bisects it further if it fails.
    fn try_segment(&mut self, range: Range<usize>, parent: &CallError) -> Result<(), Error> {
        if range.is_empty() {
            return Ok(());
        }
        if self.calls_left == 0 {
            let note = format!(
                " (not isolated further: {MAX_ISOLATION_CALLS} calls made for this partition batch; the record is one of {} that failed together)",
                range.len()
            );
            for index in range {
                self.dead_letter(index, parent, Some(&note));
            }
            return Ok(());
        }
        self.calls_left -= 1;
        let segment = self.input.slice(range.clone());
        let mut site = parent.site.clone();
        site.attempt = 1;
        match self.recovery.operator.apply(&segment, &site) {
            Ok(output) => {
                self.outputs.push(output);
                Ok(())
            }
            Err(Error::Call(e)) => {
                StreamCounters::add(&self.recovery.counters.failed_calls, 1);
                // The error's record index is relative to the segment.
                self.bisect(range, &e)
            }
            Err(other) => Err(other),
        }
    }

    fn dead_letter(&mut self, index: usize, error: &CallError, note: Option<&str>) {
        let input_type = self.recovery.input_type;
        let record = json_record_value(self.input, index, input_type.key, input_type.value);
        self.dead_letters.push(DeadLetter {
            site: error.site.clone(),
            record_index: index,
            kind: error.failure.kind(),
            error: format!("{}{}", error.failure, note.unwrap_or_default()),
            stderr: error.stderr.clone(),
            record,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::batch::Column;
    use crate::time::BatchTime;

    /// Traps whenever its batch holds a value starting with `bad`.
    struct TrapsOnBad {
        calls: AtomicU32,
        failures: AtomicU32,
    }

    impl Operator for TrapsOnBad {
        fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let Column::Varlen(values) = &input.values else {
                unreachable!()
            };
            if (0..values.len()).any(|i| values.get_str(i).starts_with("bad")) {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Call(Box::new(CallError {
                    site: site.clone(),
                    failure: CallFailure::Trap("boom".into()),
                    stderr: String::new(),
                })));
            }
            Ok(input.slice(0..input.len()))
        }
    }

    fn site() -> CallSite {
        CallSite {
            pipeline: "p".into(),
            stream: "s".into(),
            plugin: "op".into(),
            hash: "0".repeat(64),
            batch_time: BatchTime(0),
            partition: 3,
            phase: crate::error::Phase::Only,
            shadow: false,
            attempt: 1,
        }
    }

    fn values(batch: &Batch) -> Vec<String> {
        let Column::Varlen(values) = &batch.values else {
            unreachable!()
        };
        (0..values.len())
            .map(|i| values.get_str(i).to_owned())
            .collect()
    }

    #[test]
    fn dead_letter_finds_every_bad_record_and_keeps_the_rest_in_order() {
        let records: Vec<String> = (0..1000)
            .map(|i| {
                if i == 17 || i == 640 {
                    format!("bad-{i}")
                } else {
                    format!("ok-{i}")
                }
            })
            .collect();
        let input = Batch::text(records.iter().map(String::as_str));
        let operator = TrapsOnBad {
            calls: AtomicU32::new(0),
            failures: AtomicU32::new(0),
        };
        let counters = StreamCounters::default();
        let recovery = Recovery {
            operator: &operator,
            policy: &ErrorPolicy::DeadLetter {
                dir: "unused".into(),
            },
            counters: &counters,
            input_type: RecordType::TEXT,
            output_type: RecordType::TEXT,
            recombine: false,
        };
        let outcome = recovery.apply(&input, &site()).unwrap();
        let expected: Vec<String> = records
            .iter()
            .filter(|r| r.starts_with("ok"))
            .cloned()
            .collect();
        assert_eq!(values(&outcome.output), expected);
        let dead: Vec<(usize, serde_json::Value)> = outcome
            .dead_letters
            .iter()
            .map(|d| (d.record_index, d.record.clone()))
            .collect();
        assert_eq!(
            dead,
            vec![
                (17, serde_json::json!({"value": "bad-17"})),
                (640, serde_json::json!({"value": "bad-640"}))
            ]
        );
        assert_eq!(outcome.dead_letters[0].kind, "trap");
        assert_eq!(outcome.dead_letters[0].site.partition, 3);
        // About 2·log2(n) calls per bad record, not n.
        let calls = operator.calls.load(Ordering::Relaxed);
        assert!(calls <= 2 * 2 * 10 + 1, "{calls} calls");
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.dead_letter_records, 2);
        assert_eq!(
            snapshot.failed_calls,
            u64::from(operator.failures.load(Ordering::Relaxed))
        );
    }

    #[test]
    fn skip_drops_the_partition_and_counts_it() {
        let input = Batch::text(["ok", "bad", "ok"]);
        let operator = TrapsOnBad {
            calls: AtomicU32::new(0),
            failures: AtomicU32::new(0),
        };
        let counters = StreamCounters::default();
        let recovery = Recovery {
            operator: &operator,
            policy: &ErrorPolicy::Skip,
            counters: &counters,
            input_type: RecordType::TEXT,
            output_type: RecordType::TEXT,
            recombine: false,
        };
        let outcome = recovery.apply(&input, &site()).unwrap();
        assert!(outcome.output.is_empty());
        assert_eq!(
            counters.snapshot(),
            CounterSnapshot {
                failed_calls: 1,
                retries: 0,
                skipped_partitions: 1,
                skipped_records: 3,
                dead_letter_records: 0,
            }
        );
    }
}

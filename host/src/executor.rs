//! Runs one batch through the plan: every stream, partition by partition, on
//! a worker pool sized to the cores.
//!
//! Streams run in topological order. A narrow stream (map, flat-map, filter)
//! applies its operator to each partition of its input in parallel, keeping
//! the partitioning. A `reduce_by_key` stream ends a stage, as in Spark:
//! it combines each input partition (map-side combine), exchanges the
//! combined records by key hash into R partitions, and combines each of
//! those again, all in parallel.
//!
//! A failing call is handled by the stream's `on_error` policy (see
//! [`crate::recovery`]); records it isolates come back with the batch's
//! output, to be written before the sinks see the batch.
//!
//! Each batch runs with the operators it is given ([`StreamOperators`], a
//! snapshot of the deploy registry taken when the batch starts), so every
//! partition of a stream runs the same version. A stream's shadow
//! candidate, if any, is called on the same partition batches; its output
//! is compared with the current version's and dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::batch::Batch;
use crate::error::{CallSite, Error, Phase};
use crate::exchange::exchange;
use crate::operator::{StreamOperators, Versioned};
use crate::plan::{NodeRef, Plan};
use crate::plugin::OperatorKind;
use crate::recovery::{CounterSnapshot, DeadLetter, Outcome, Recovery, StreamCounters};
use crate::time::BatchTime;

/// Runs batches of one plan.
pub struct Executor {
    plan: Arc<Plan>,
    counters: Vec<StreamCounters>,
    pool: rayon::ThreadPool,
}

/// The output of one batch.
pub struct BatchOutput {
    /// For each sink of the plan, in order, the partitions it receives.
    pub sinks: Vec<Arc<Vec<Batch>>>,
    /// Records read from the sources.
    pub input_records: usize,
    /// For each stream of the plan, in order, the records its `on_error =
    /// "dead_letter"` policy isolated.
    pub dead_letters: Vec<Vec<DeadLetter>>,
    /// For each stream of the plan, in order, how its versions did.
    pub streams: Vec<StreamReport>,
}

/// How one stream did in one batch.
#[derive(Clone, Debug, Default)]
pub struct StreamReport {
    /// The version that ran.
    pub version: u32,
    /// Whether its policy dropped or dead-lettered records (a failing
    /// batch, for automatic rollback).
    pub degraded: bool,
    /// The latest failure's message, when the batch was degraded.
    pub failure: Option<String>,
    /// Time spent in the current version's calls, summed over partitions.
    pub call_time: Duration,
    /// The shadow candidate's results, when one ran.
    pub shadow: Option<ShadowReport>,
}

/// How a shadow candidate did in one batch.
#[derive(Clone, Debug, Default)]
pub struct ShadowReport {
    /// The candidate's version number.
    pub version: u32,
    /// Calls compared.
    pub calls: u64,
    /// Calls whose output differed from the current version's.
    pub differing_calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// The latest failure's message.
    pub last_error: Option<String>,
    /// Time spent in the candidate's calls, summed over partitions.
    pub call_time: Duration,
}

impl Executor {
    /// An executor for `plan`, with `threads` workers.
    ///
    /// # Errors
    ///
    /// When the worker pool cannot be started.
    pub fn new(plan: Arc<Plan>, threads: usize) -> Result<Self, Error> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("sluice-worker-{i}"))
            .stack_size(8 << 20)
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the worker pool: {e}")))?;
        let counters = plan
            .streams
            .iter()
            .map(|_| StreamCounters::default())
            .collect();
        Ok(Executor {
            plan,
            counters,
            pool,
        })
    }

    /// Each stream's name and outcome counters, in plan order.
    pub fn counters(&self) -> Vec<(String, CounterSnapshot)> {
        self.plan
            .streams
            .iter()
            .zip(&self.counters)
            .map(|(stream, counters)| (stream.name.clone(), counters.snapshot()))
            .collect()
    }

    /// The plan this executor runs.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Runs batch `batch_time` with `operators` (one per stream of the
    /// plan, in order). `inputs` holds, per source of the plan, the batch's
    /// input partitions; they are kept, so a failed batch can run again.
    ///
    /// # Errors
    ///
    /// The first operator failure; the batch is then not delivered.
    pub fn run(
        &self,
        batch_time: BatchTime,
        inputs: &[Arc<Vec<Batch>>],
        operators: &[StreamOperators],
    ) -> Result<BatchOutput, Error> {
        if operators.len() != self.plan.streams.len() {
            return Err(Error::Internal(format!(
                "{} operators for {} streams",
                operators.len(),
                self.plan.streams.len()
            )));
        }
        let input_records = inputs.iter().flat_map(|p| p.iter()).map(Batch::len).sum();
        let mut sources: Vec<Arc<Vec<Batch>>> = inputs.to_vec();
        sources.resize_with(self.plan.sources.len(), || Arc::new(Vec::new()));
        let mut streams: Vec<Arc<Vec<Batch>>> = Vec::with_capacity(self.plan.streams.len());
        let mut dead_letters = Vec::with_capacity(self.plan.streams.len());
        let mut reports = Vec::with_capacity(self.plan.streams.len());
        for (index, stream) in self.plan.streams.iter().enumerate() {
            let input = match stream.from {
                NodeRef::Source(i) => sources[i].clone(),
                NodeRef::Stream(i) => streams[i].clone(),
            };
            let before = self.counters[index].snapshot();
            let run = self
                .pool
                .install(|| self.run_stream(index, &operators[index], batch_time, &input))?;
            let after = self.counters[index].snapshot();
            let mut report = run.report;
            report.degraded = after.skipped_partitions > before.skipped_partitions
                || after.dead_letter_records > before.dead_letter_records;
            if report.degraded {
                report.failure = self.counters[index].last_failure();
            }
            streams.push(Arc::new(run.output));
            dead_letters.push(run.dead_letters);
            reports.push(report);
        }
        let sinks = self
            .plan
            .sinks
            .iter()
            .map(|sink| match sink.from {
                NodeRef::Source(i) => sources[i].clone(),
                NodeRef::Stream(i) => streams[i].clone(),
            })
            .collect();
        Ok(BatchOutput {
            sinks,
            input_records,
            dead_letters,
            streams: reports,
        })
    }

    fn run_stream(
        &self,
        index: usize,
        operators: &StreamOperators,
        batch_time: BatchTime,
        input: &[Batch],
    ) -> Result<StreamRun, Error> {
        let stream = &self.plan.streams[index];
        let site = |version: &Versioned, partition: usize, phase: Phase, shadow: bool| CallSite {
            pipeline: self.plan.name.clone(),
            stream: stream.name.clone(),
            plugin: version.plugin.clone(),
            hash: version.hash.clone(),
            batch_time,
            partition,
            phase,
            shadow,
            attempt: 1,
        };
        let unordered = stream.op == OperatorKind::ReduceByKey;
        let mut run = StreamRun {
            output: Vec::new(),
            dead_letters: Vec::new(),
            report: StreamReport {
                version: operators.current.version,
                shadow: operators.shadow.as_ref().map(|s| ShadowReport {
                    version: s.version,
                    ..ShadowReport::default()
                }),
                ..StreamReport::default()
            },
        };
        let mut apply_all = |parts: &[Batch], phase: Phase, recombine: bool| {
            let recovery = Recovery {
                operator: &*operators.current.operator,
                policy: &stream.on_error,
                counters: &self.counters[index],
                input_type: stream.input_type,
                output_type: stream.output_type,
                recombine,
            };
            let calls = parts
                .par_iter()
                .enumerate()
                .map(|(partition, batch)| {
                    if batch.is_empty() {
                        // Nothing to call the plugin for.
                        return Ok(PartitionRun::empty(stream.output_type));
                    }
                    let started = Instant::now();
                    let outcome = recovery
                        .apply(batch, &site(&operators.current, partition, phase, false))?;
                    let call_time = started.elapsed();
                    let shadow = operators.shadow.as_ref().map(|shadow| {
                        let started = Instant::now();
                        let result = shadow
                            .operator
                            .apply(batch, &site(shadow, partition, phase, true));
                        let elapsed = started.elapsed();
                        let verdict = match result {
                            // A recovered call's output is no reference.
                            Ok(_) if outcome.recovered => ShadowVerdict::NotCompared,
                            Ok(output) => {
                                let same = if unordered {
                                    output.same_records_any_order(&outcome.output)
                                } else {
                                    output == outcome.output
                                };
                                if same {
                                    ShadowVerdict::Same
                                } else {
                                    ShadowVerdict::Differs
                                }
                            }
                            Err(e) => ShadowVerdict::Failed(e.to_string()),
                        };
                        (verdict, elapsed)
                    });
                    Ok(PartitionRun {
                        outcome,
                        call_time,
                        shadow,
                    })
                })
                .collect::<Result<Vec<PartitionRun>, Error>>()?;
            let mut outputs = Vec::with_capacity(calls.len());
            for call in calls {
                run.report.call_time += call.call_time;
                if let (Some(report), Some((verdict, elapsed))) =
                    (&mut run.report.shadow, call.shadow)
                {
                    report.call_time += elapsed;
                    match verdict {
                        ShadowVerdict::Same => report.calls += 1,
                        ShadowVerdict::Differs => {
                            report.calls += 1;
                            report.differing_calls += 1;
                        }
                        ShadowVerdict::NotCompared => {}
                        ShadowVerdict::Failed(message) => {
                            report.failed_calls += 1;
                            report.last_error = Some(message);
                        }
                    }
                }
                run.dead_letters.extend(call.outcome.dead_letters);
                outputs.push(call.outcome.output);
            }
            Ok::<_, Error>(outputs)
        };
        if stream.op != OperatorKind::ReduceByKey {
            run.output = apply_all(input, Phase::Only, false)?;
            return Ok(run);
        }
        let combined = apply_all(input, Phase::BeforeExchange, false)?;
        let exchanged = exchange(&combined, stream.reduce_partitions, stream.output_type);
        drop(combined);
        run.output = apply_all(&exchanged, Phase::AfterExchange, true)?;
        Ok(run)
    }
}

/// One stream's part of a batch.
struct StreamRun {
    output: Vec<Batch>,
    dead_letters: Vec<DeadLetter>,
    report: StreamReport,
}

/// One partition's call, and its shadow's.
struct PartitionRun {
    outcome: Outcome,
    call_time: Duration,
    shadow: Option<(ShadowVerdict, Duration)>,
}

impl PartitionRun {
    fn empty(output_type: crate::batch::RecordType) -> Self {
        PartitionRun {
            outcome: Outcome {
                output: Batch::empty(output_type),
                dead_letters: Vec::new(),
                recovered: false,
            },
            call_time: Duration::ZERO,
            shadow: None,
        }
    }
}

/// How a shadow call compared with the current version's.
enum ShadowVerdict {
    Same,
    Differs,
    NotCompared,
    Failed(String),
}

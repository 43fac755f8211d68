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

use std::sync::Arc;

use rayon::prelude::*;

use crate::batch::Batch;
use crate::error::{CallSite, Error};
use crate::exchange::exchange;
use crate::operator::{Operator, WasmOperator};
use crate::plan::{NodeRef, Plan};
use crate::plugin::{OperatorKind, PluginEngine};
use crate::recovery::{CounterSnapshot, DeadLetter, Outcome, Recovery, StreamCounters};
use crate::time::BatchTime;

/// Runs batches of one plan.
pub struct Executor {
    plan: Arc<Plan>,
    operators: Vec<Arc<dyn Operator>>,
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
}

impl Executor {
    /// An executor calling each stream's plugin, with `threads` workers.
    ///
    /// # Errors
    ///
    /// When the worker pool cannot be started.
    pub fn new(plan: Arc<Plan>, engine: Arc<PluginEngine>, threads: usize) -> Result<Self, Error> {
        let operators = plan
            .streams
            .iter()
            .map(|s| {
                Arc::new(WasmOperator {
                    engine: engine.clone(),
                    plugin: s.plugin.clone(),
                    output: s.output_type,
                }) as Arc<dyn Operator>
            })
            .collect();
        Self::with_operators(plan, operators, threads)
    }

    /// An executor with explicit operators, one per stream of `plan`, in
    /// order (the benchmark's native baseline uses this).
    ///
    /// # Errors
    ///
    /// When the worker pool cannot be started.
    pub fn with_operators(
        plan: Arc<Plan>,
        operators: Vec<Arc<dyn Operator>>,
        threads: usize,
    ) -> Result<Self, Error> {
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
            operators,
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

    /// Runs batch `batch_time`. `inputs` holds, per source of the plan, the
    /// batch's input partitions.
    ///
    /// # Errors
    ///
    /// The first operator failure; the batch is then not delivered.
    pub fn run(
        &self,
        batch_time: BatchTime,
        inputs: Vec<Vec<Batch>>,
    ) -> Result<BatchOutput, Error> {
        let input_records = inputs.iter().flatten().map(Batch::len).sum();
        let mut sources: Vec<Arc<Vec<Batch>>> = inputs.into_iter().map(Arc::new).collect();
        sources.resize_with(self.plan.sources.len(), || Arc::new(Vec::new()));
        let mut streams: Vec<Arc<Vec<Batch>>> = Vec::with_capacity(self.plan.streams.len());
        let mut dead_letters = Vec::with_capacity(self.plan.streams.len());
        for (index, stream) in self.plan.streams.iter().enumerate() {
            let input = match stream.from {
                NodeRef::Source(i) => sources[i].clone(),
                NodeRef::Stream(i) => streams[i].clone(),
            };
            let (output, isolated) = self
                .pool
                .install(|| self.run_stream(index, batch_time, &input))?;
            streams.push(Arc::new(output));
            dead_letters.push(isolated);
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
        })
    }

    fn run_stream(
        &self,
        index: usize,
        batch_time: BatchTime,
        input: &[Batch],
    ) -> Result<(Vec<Batch>, Vec<DeadLetter>), Error> {
        let stream = &self.plan.streams[index];
        let site = |partition: usize, phase: &'static str| CallSite {
            pipeline: self.plan.name.clone(),
            stream: stream.name.clone(),
            plugin: stream.plugin.name().to_owned(),
            hash: stream.plugin.hash().to_owned(),
            batch_time,
            partition,
            phase,
            attempt: 1,
        };
        let mut dead_letters = Vec::new();
        let mut apply_all = |parts: &[Batch], phase: &'static str, recombine: bool| {
            let recovery = Recovery {
                operator: &*self.operators[index],
                policy: &stream.on_error,
                counters: &self.counters[index],
                input_type: stream.input_type,
                output_type: stream.output_type,
                recombine,
            };
            let outcomes = parts
                .par_iter()
                .enumerate()
                .map(|(partition, batch)| {
                    if batch.is_empty() {
                        // Nothing to call the plugin for.
                        return Ok(Outcome {
                            output: Batch::empty(stream.output_type),
                            dead_letters: Vec::new(),
                        });
                    }
                    recovery.apply(batch, &site(partition, phase))
                })
                .collect::<Result<Vec<Outcome>, Error>>()?;
            Ok::<_, Error>(
                outcomes
                    .into_iter()
                    .map(|outcome| {
                        dead_letters.extend(outcome.dead_letters);
                        outcome.output
                    })
                    .collect::<Vec<Batch>>(),
            )
        };
        if stream.op != OperatorKind::ReduceByKey {
            let output = apply_all(input, "", false)?;
            return Ok((output, dead_letters));
        }
        let combined = apply_all(input, " (before the exchange)", false)?;
        let exchanged = exchange(&combined, stream.reduce_partitions, stream.output_type);
        drop(combined);
        let output = apply_all(&exchanged, " (after the exchange)", true)?;
        Ok((output, dead_letters))
    }
}

//! Runs one batch through the plan: chain by chain, partition by
//! partition, on a worker pool sized to the cores.
//!
//! The plan's streams are grouped into [`Chain`]s (see `chain`):
//! consecutive narrow streams (map, flat-map, filter) whose output only the
//! next one reads, ended by the map-side combine of a `reduce_by_key` they
//! feed. A chain runs each input partition through all its streams on one
//! worker, with no barrier between streams; a partition's intermediate
//! output is freed as soon as the next stream has taken it, so only the
//! chain's last output is ever kept for all partitions. Partitions run in
//! parallel, in as many waves as there are partitions per worker. A chain
//! ending with a `reduce_by_key` then exchanges the combined records by key
//! hash into R partitions and combines each of those again, in parallel:
//! the stage boundary, as in Spark.
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
//!
//! The end of a chain moves records by its [`Shape`]: `ByKey` (reduce,
//! count by value) exchanges by key and combines again; `Global` (count)
//! gathers every partition's partial into one record; `Gathered` (window)
//! takes the partitions as they are; `Repartition` cuts the batch again into
//! the stream's `partitions`. Host operators ([`crate::builtin`])
//! run through the same calls as plugins.
//!
//! A stream that reads several (`union`, a join, `cogroup`) runs after its
//! inputs, on its own (see [`crate::combine`]); static tables are read
//! again at the start of a batch when their files changed (see
//! [`crate::table`]), so a batch sees one version of each.
//!
//! A windowed stream (`reduce_by_key_and_window`, …) keeps each batch's
//! result in its [`WindowState`]; at a slide (see `window`) the window's
//! partials are exchanged and combined again into its output (`window`
//! gives them as they are, oldest first). The window takes the batch only
//! once every chain has succeeded, so a batch that fails and runs again is
//! counted once. A sink writes only at the times its input emits: every
//! batch, or a window's slides downstream.

mod adapter;
mod chain;
mod incremental;
pub mod replay;
mod state;
mod window;

pub use chain::{Chain, chains};

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::batch::{Batch, Column};
use crate::error::{CallSite, Error, Phase};
use crate::exchange::{gather, route};
use crate::operator::{StreamOperators, Versioned};
use crate::plan::{NodeRef, Plan, Shape, StreamOp};
use crate::recovery::{CounterSnapshot, DeadLetter, Recovery, StreamCounters};
use crate::state::{KeyedState, NextState};
use crate::time::BatchTime;
use crate::window::WindowState;

/// Runs batches of one plan.
pub struct Executor {
    plan: Arc<Plan>,
    chains: Vec<Chain>,
    counters: Vec<StreamCounters>,
    /// Per stream, its window's partials, for windowed streams.
    windows: Vec<Option<Mutex<WindowState>>>,
    /// Per stream, its per-key states, for `update_state_by_key` streams.
    states: Vec<Option<Mutex<KeyedState>>>,
    /// The static tables, as last read.
    tables: Vec<Mutex<crate::table::Table>>,
    pool: rayon::ThreadPool,
    /// Keeps plugin streams' calls for `sluice replay` (`keep_batches`).
    recorder: Option<crate::replay::BatchRecorder>,
}

/// What a stream keeps between batches (for checkpoints).
#[derive(Clone, Copy)]
pub enum Kept<'a> {
    /// A windowed stream's partials (and totals).
    Window(&'a Mutex<WindowState>),
    /// A stateful stream's per-key states.
    State(&'a Mutex<KeyedState>),
}

/// The output of one batch.
pub struct BatchOutput {
    /// For each sink of the plan, in order, the partitions it receives;
    /// `None` when its input emits nothing at this batch time (a window
    /// between two slides).
    pub sinks: Vec<Option<Arc<Vec<Batch>>>>,
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
    /// Its plugin's name (empty for a stream without one).
    pub plugin: String,
    /// Its plugin's sha256.
    pub hash: String,
    /// Whether its policy dropped or dead-lettered records (a failing
    /// batch, for automatic rollback).
    pub degraded: bool,
    /// The latest failure's message, when the batch was degraded.
    pub failure: Option<String>,
    /// Calls of the current version (partitions it had records for); 0 in
    /// a batch that brought the stream nothing.
    pub calls: u64,
    /// Time spent in the current version's calls, summed over partitions.
    pub call_time: Duration,
    /// The shadow candidate's results, when one ran.
    pub shadow: Option<ShadowReport>,
    /// Records the stream took in, over all partitions.
    pub records_in: u64,
    /// Records the stream gave (a window: what it emitted).
    pub records_out: u64,
    /// Its plugin calls, one per partition and phase, in the order they
    /// ended (at most [`MAX_PARTITION_DETAILS`]).
    pub partitions: Vec<PartitionDetail>,
}

/// The most calls a [`StreamReport`] describes one by one.
pub const MAX_PARTITION_DETAILS: usize = 1024;

/// One plugin call of a stream on one partition in a batch: what the web
/// UI's batch detail shows.
#[derive(Clone, Debug, Default)]
pub struct PartitionDetail {
    /// The partition.
    pub partition: usize,
    /// Which of the stream's calls (`None`: its only one).
    pub phase: Option<&'static str>,
    /// Records the call took in (for a state call: keys).
    pub records_in: u64,
    /// Records it gave.
    pub records_out: u64,
    /// How long it took, retries included.
    pub call_time: Duration,
    /// Attempts, failures, memory and fuel.
    pub costs: crate::plugin::costs::CallCosts,
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
        let windows = plan
            .streams
            .iter()
            .map(|s| {
                s.window.map(|_| {
                    Mutex::new(if s.incremental() {
                        WindowState::with_totals(s.exchange.buckets(), s.output_type)
                    } else {
                        WindowState::default()
                    })
                })
            })
            .collect();
        let states = plan
            .streams
            .iter()
            .map(|s| {
                let spec = s.state.as_ref()?;
                let buckets = s.exchange.buckets();
                // The plan checked the initial states' keys.
                let mut state = match &spec.initial {
                    Some(initial) => KeyedState::load(buckets, spec.record_type, initial),
                    None => KeyedState::new(buckets, spec.record_type),
                };
                if plan.checkpoint {
                    state.track_removed_keys();
                }
                Some(Mutex::new(state))
            })
            .collect();
        Ok(Executor {
            recorder: crate::replay::BatchRecorder::new(&plan.name, &plan.state_dir, plan.keep),
            chains: chains(&plan),
            windows,
            states,
            tables: plan.tables.iter().cloned().map(Mutex::new).collect(),
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

    /// Each windowed stream's name and what its window holds, in plan
    /// order.
    pub fn window_sizes(&self) -> Vec<(String, crate::window::WindowSize)> {
        self.plan
            .streams
            .iter()
            .zip(&self.windows)
            .filter_map(|(stream, window)| {
                let window = window.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
                Some((stream.name.clone(), window.size()))
            })
            .collect()
    }

    /// Each `update_state_by_key` stream's name and what its state holds,
    /// in plan order.
    pub fn state_sizes(&self) -> Vec<(String, crate::state::StateSize)> {
        self.plan
            .streams
            .iter()
            .zip(&self.states)
            .filter_map(|(stream, state)| {
                let state = state.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
                Some((stream.name.clone(), state.size()))
            })
            .collect()
    }

    /// Each stream that keeps something between batches, with what it
    /// keeps, in plan order.
    pub fn kept(&self) -> Vec<(&crate::plan::StreamSpec, Kept<'_>)> {
        self.plan
            .streams
            .iter()
            .zip(self.windows.iter().zip(&self.states))
            .filter_map(|(stream, kept)| match kept {
                (Some(window), _) => Some((stream, Kept::Window(window))),
                (_, Some(state)) => Some((stream, Kept::State(state))),
                (None, None) => None,
            })
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
        let streams = self.plan.streams.len();
        if operators.len() != streams {
            return Err(Error::Internal(format!(
                "{} operators for {streams} streams",
                operators.len(),
            )));
        }
        let input_records = inputs.iter().flat_map(|p| p.iter()).map(Batch::len).sum();
        let mut sources: Vec<Arc<Vec<Batch>>> = inputs.to_vec();
        sources.resize_with(self.plan.sources.len(), || Arc::new(Vec::new()));
        let mut outputs: Vec<Option<Arc<Vec<Batch>>>> = vec![None; streams];
        let mut dead_letters: Vec<Vec<DeadLetter>> = (0..streams).map(|_| Vec::new()).collect();
        let mut reports: Vec<StreamReport> = operators
            .iter()
            .map(|operators| StreamReport {
                version: operators.current.version,
                plugin: operators.current.plugin.clone(),
                hash: operators.current.hash.clone(),
                shadow: operators.shadow.as_ref().map(|s| ShadowReport {
                    version: s.version,
                    ..ShadowReport::default()
                }),
                ..StreamReport::default()
            })
            .collect();
        let mut windows = Vec::new();
        let mut states: Vec<(usize, NextState)> = Vec::new();
        let tables = self.refresh_tables(batch_time);
        let materialised = |outputs: &[Option<Arc<Vec<Batch>>>], node: NodeRef| match node {
            NodeRef::Source(i) => Ok(sources[i].clone()),
            NodeRef::Table(i) => tables
                .get(i)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("table {i} of {} is read", tables.len()))),
            NodeRef::Stream(i) => outputs[i].clone().ok_or_else(|| {
                Error::Internal(format!(
                    "stream `{}` is read before it ran",
                    self.plan.streams[i].name
                ))
            }),
        };
        for chain in &self.chains {
            let last = &self.plan.streams[chain.last()];
            if last.shape() == Shape::Combine {
                if !batch_time.is_multiple_of(last.slide) {
                    // Its streams emit nothing now (windows between two
                    // slides); a table alone must not make an output.
                    outputs[chain.last()] = Some(Arc::new(Vec::new()));
                    continue;
                }
                let inputs = last
                    .inputs
                    .iter()
                    .map(|&node| materialised(&outputs, node))
                    .collect::<Result<Vec<_>, _>>()?;
                let output = self
                    .pool
                    .install(|| self.combine(last, &inputs, batch_time))?;
                let report = &mut reports[chain.last()];
                report.records_in = inputs.iter().map(|i| records(i)).sum();
                report.records_out = records(&output);
                outputs[chain.last()] = Some(Arc::new(output));
                continue;
            }
            let input = materialised(&outputs, chain.input)?;
            if snapshot_shape(&self.plan, chain) {
                reports[chain.last()].records_in = records(&input);
            }
            let before: Vec<CounterSnapshot> = chain
                .streams()
                .map(|i| self.counters[i].snapshot())
                .collect();
            let run = ChainRun {
                executor: self,
                chain,
                operators,
                batch_time,
            };
            let snapshot_of = match (self.plan.streams[chain.last()].shape(), chain.input) {
                (Shape::Snapshot, NodeRef::Stream(from)) => Some(from),
                _ => None,
            };
            let mut output = match (snapshot_of, &self.states[chain.last()]) {
                // `state_snapshots`: the states its input keeps once this
                // batch is applied.
                (Some(from), _) => {
                    let pending = states.iter().find(|(s, _)| *s == from).map(|(_, n)| n);
                    let (Some(state), Some(next)) = (&self.states[from], pending) else {
                        return Err(Error::Internal(format!(
                            "stream `{}` reads the state of a stream that keeps none",
                            self.plan.streams[chain.last()].name
                        )));
                    };
                    state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .snapshot_with(next, self.pool.current_num_threads())
                }
                (None, Some(state)) => {
                    let (next, output) = self.pool.install(|| {
                        let routed = run.partitions(&input, &mut reports, &mut dead_letters)?;
                        run.update_state(state, routed, &mut reports)
                    })?;
                    states.push((chain.last(), next));
                    output
                }
                (None, None) => self
                    .pool
                    .install(|| run.run(&input, &mut reports, &mut dead_letters))?,
            };
            if let Some(window) = &self.windows[chain.last()] {
                let (next, emitted) = self
                    .pool
                    .install(|| run.window(window, output, &mut reports, &mut dead_letters))?;
                windows.push((chain.last(), next));
                output = emitted;
            }
            reports[chain.last()].records_out = records(&output);
            outputs[chain.last()] = Some(Arc::new(output));
            for (i, before) in chain.streams().zip(before) {
                let after = self.counters[i].snapshot();
                let report = &mut reports[i];
                report.degraded = after.skipped_partitions > before.skipped_partitions
                    || after.dead_letter_records > before.dead_letter_records;
                if report.degraded {
                    report.failure = self.counters[i].last_failure();
                }
            }
        }
        let sinks = self
            .plan
            .sinks
            .iter()
            .map(|sink| {
                let emits = batch_time.is_multiple_of(self.plan.node_slide(sink.from));
                emits.then(|| materialised(&outputs, sink.from)).transpose()
            })
            .collect::<Result<_, _>>()?;
        // Every chain succeeded: the states and windows take this batch.
        for (stream, next) in states {
            if let Some(state) = &self.states[stream] {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                state.commit(next, batch_time.0);
                let size = state.size();
                tracing::info!(stream = %self.plan.streams[stream].name, %batch_time, keys = size.keys, bytes = size.bytes, changed_since_snapshot = size.changed, removed_since_snapshot = size.removed, "state");
            }
        }
        for (stream, next) in windows {
            if let Some(window) = &self.windows[stream] {
                let mut window = window.lock().unwrap_or_else(|e| e.into_inner());
                window.commit(next);
                let size = window.size();
                tracing::debug!(stream = %self.plan.streams[stream].name, %batch_time, batches = size.batches, records = size.records, bytes = size.bytes, "window state");
            }
        }
        Ok(BatchOutput {
            sinks,
            input_records,
            dead_letters,
            streams: reports,
        })
    }
}

/// The records of a batch's partitions.
fn records(partitions: &[Batch]) -> u64 {
    partitions.iter().map(|p| p.len() as u64).sum()
}

/// Whether `chain` is a `state_snapshots` stream, which reads its input's
/// state, not its records through a call.
fn snapshot_shape(plan: &Plan, chain: &Chain) -> bool {
    plan.streams[chain.last()].shape() == Shape::Snapshot
}

impl Executor {
    /// Each table's records for batch `batch_time`, read again first if its
    /// file changed: the swap happens between two batches.
    fn refresh_tables(&self, batch_time: BatchTime) -> Vec<Arc<Vec<Batch>>> {
        self.tables
            .iter()
            .map(|table| {
                let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
                match table.refresh() {
                    crate::table::Refresh::Unchanged => {}
                    crate::table::Refresh::Reloaded(records) => {
                        tracing::info!(pipeline = %self.plan.name, table = %table.spec().name, %batch_time, records, "table read again: its file changed");
                    }
                    crate::table::Refresh::Kept(reason) => {
                        tracing::warn!(pipeline = %self.plan.name, table = %table.spec().name, %batch_time, "table kept as it was: {reason}");
                    }
                }
                table.records()
            })
            .collect()
    }

    /// The output of `spec`, a `union`, join or `cogroup`, from its
    /// inputs' partitions (in `spec.inputs`' order).
    fn combine(
        &self,
        spec: &crate::plan::StreamSpec,
        inputs: &[Arc<Vec<Batch>>],
        batch_time: BatchTime,
    ) -> Result<Vec<Batch>, Error> {
        if spec.op == StreamOp::Union {
            return Ok(crate::combine::union(inputs));
        }
        let ([left, right], [left_node, right_node]) = (inputs, &spec.inputs[..]) else {
            return Err(Error::Internal(format!(
                "stream `{}` joins {} inputs",
                spec.name,
                inputs.len()
            )));
        };
        crate::combine::join(
            spec,
            (left, right),
            (
                self.plan.node_type(*left_node),
                self.plan.node_type(*right_node),
            ),
            &crate::combine::JoinSite {
                pipeline: &self.plan.name,
                batch_time,
            },
        )
    }
}

/// One chain of one batch.
struct ChainRun<'a> {
    executor: &'a Executor,
    chain: &'a Chain,
    operators: &'a [StreamOperators],
    batch_time: BatchTime,
}

impl ChainRun<'_> {
    /// Runs the chain over `input`'s partitions, in parallel, each
    /// partition through every stream of the chain on one worker; then the
    /// exchange and the combine after it when the chain ends with a reduce.
    /// Adds each stream's calls to `reports` and `dead_letters`; returns the
    /// chain's last stream's output.
    fn partitions(
        &self,
        input: &[Batch],
        reports: &mut [StreamReport],
        dead_letters: &mut [Vec<DeadLetter>],
    ) -> Result<Vec<Vec<Batch>>, Error> {
        let plan = &self.executor.plan;
        let reduce = self.chain.reduce.map(|i| (i, &plan.streams[i]));
        let partitions = input
            .par_iter()
            .enumerate()
            .map(|(partition, batch)| {
                let mut calls = Vec::with_capacity(self.chain.narrow.len() + 1);
                let mut current = Cow::Borrowed(batch);
                for &stream in &self.chain.narrow {
                    let (output, mut call) = self.call(stream, partition, Phase::Only, &current)?;
                    call.records_in = current.len() as u64;
                    call.records_out = output.len() as u64;
                    // The previous stream's output is freed here.
                    current = Cow::Owned(output);
                    calls.push(call);
                }
                let Some((stream, spec)) = reduce else {
                    return Ok((calls, vec![current.into_owned()]));
                };
                // What the last stream takes in; what it gives is counted
                // once its output is whole.
                let taken = PartitionCall {
                    records_in: current.len() as u64,
                    ..PartitionCall::default()
                };
                if matches!(spec.shape(), Shape::Gathered | Shape::Repartition) {
                    // `window`, `repartition`: the records as they are, no
                    // call.
                    calls.push(taken);
                    return Ok((calls, vec![current.into_owned()]));
                }
                if spec.shape() == Shape::Stateful {
                    // Routed into the state's buckets; the update is one
                    // call per partition of the state, after this.
                    calls.push(taken);
                    return Ok((
                        calls,
                        route(&current, spec.exchange.buckets(), spec.input_type),
                    ));
                }
                let (combined, mut call) =
                    self.call(stream, partition, Phase::BeforeExchange, &current)?;
                call.records_in = taken.records_in;
                drop(current);
                calls.push(call);
                if spec.shape() == Shape::Global {
                    return Ok((calls, vec![combined]));
                }
                // Routed here, on the worker: the combined batch is freed
                // at once instead of waiting for every partition.
                let routed = route(&combined, spec.exchange.buckets(), spec.output_type);
                Ok((calls, routed))
            })
            .collect::<Result<Vec<(Vec<PartitionCall>, Vec<Batch>)>, Error>>()?;
        let mut outputs = Vec::with_capacity(partitions.len());
        for (calls, output) in partitions {
            for (stream, call) in self.chain.streams().zip(calls) {
                call.report(&mut reports[stream], &mut dead_letters[stream]);
            }
            outputs.push(output);
        }
        Ok(outputs)
    }

    fn run(
        &self,
        input: &[Batch],
        reports: &mut [StreamReport],
        dead_letters: &mut [Vec<DeadLetter>],
    ) -> Result<Vec<Batch>, Error> {
        let outputs = self.partitions(input, reports, dead_letters)?;
        let plan = &self.executor.plan;
        let Some((stream, spec)) = self.chain.reduce.map(|i| (i, &plan.streams[i])) else {
            return Ok(outputs.into_iter().flatten().collect());
        };
        match spec.shape() {
            Shape::Narrow | Shape::Gathered => return Ok(outputs.into_iter().flatten().collect()),
            Shape::Repartition => {
                let all = Batch::concat(outputs.into_iter().flatten().collect(), spec.output_type);
                return Ok(all.split(spec.exchange.buckets()));
            }
            Shape::Global => {
                let partials =
                    Batch::concat(outputs.into_iter().flatten().collect(), spec.output_type);
                if partials.is_empty() {
                    // `count` of an empty batch is 0, as in Spark; `reduce`
                    // of one gives nothing.
                    return Ok(if spec.op == StreamOp::Count {
                        vec![Batch {
                            keys: None,
                            values: Column::Int64(vec![0]),
                        }]
                    } else {
                        Vec::new()
                    });
                }
                let output = self.call_whole(
                    stream,
                    Phase::AfterExchange,
                    &partials,
                    reports,
                    dead_letters,
                )?;
                return Ok(vec![output]);
            }
            Shape::ByKey => {}
            Shape::Stateful | Shape::Snapshot | Shape::Combine => {
                return Err(Error::Internal(format!(
                    "stream `{}` keeps or reads state, or reads several streams, but runs as a chain",
                    spec.name
                )));
            }
        }
        let combined_bytes = outputs.iter().flatten().map(Batch::byte_size).sum();
        self.gather_and_combine(
            stream,
            Phase::AfterExchange,
            outputs,
            combined_bytes,
            reports,
            dead_letters,
        )
    }

    /// The exchange's second half for `stream`: `routed` (each piece's
    /// buckets, as [`route`] gives them) gathered into partitions sized by
    /// `bytes`, each combined by the stream's operator in parallel.
    fn gather_and_combine(
        &self,
        stream: usize,
        phase: Phase,
        routed: Vec<Vec<Batch>>,
        bytes: usize,
        reports: &mut [StreamReport],
        dead_letters: &mut [Vec<DeadLetter>],
    ) -> Result<Vec<Batch>, Error> {
        let spec = &self.executor.plan.streams[stream];
        let groups = spec.exchange.gathered(bytes);
        let exchanged = gather(routed, &groups, spec.output_type);
        let calls = exchanged
            .par_iter()
            .enumerate()
            .map(|(partition, batch)| self.call(stream, partition, phase, batch))
            .collect::<Result<Vec<(Batch, PartitionCall)>, Error>>()?;
        drop(exchanged);
        Ok(calls
            .into_iter()
            .map(|(output, call)| {
                call.report(&mut reports[stream], &mut dead_letters[stream]);
                output
            })
            .collect())
    }

    /// One call of `stream` on all of `batch` (a `Global` stream's
    /// partials), reported.
    fn call_whole(
        &self,
        stream: usize,
        phase: Phase,
        batch: &Batch,
        reports: &mut [StreamReport],
        dead_letters: &mut [Vec<DeadLetter>],
    ) -> Result<Batch, Error> {
        let (output, call) = self.call(stream, 0, phase, batch)?;
        call.report(&mut reports[stream], &mut dead_letters[stream]);
        Ok(output)
    }

    /// Where a call of `stream` by `version` on `partition` happens.
    fn site(
        &self,
        stream: usize,
        partition: usize,
        phase: Phase,
        version: &Versioned,
        shadow: bool,
    ) -> CallSite {
        CallSite {
            pipeline: self.executor.plan.name.clone(),
            stream: self.executor.plan.streams[stream].name.clone(),
            plugin: version.plugin.clone(),
            hash: version.hash.clone(),
            batch_time: self.batch_time,
            partition,
            phase,
            shadow,
            attempt: 1,
        }
    }

    /// `stream`'s `on_error` policy over `operator`; `recombine`: whether
    /// outputs of separate calls must be combined again.
    fn recovery<'a>(
        &'a self,
        stream: usize,
        operator: &'a dyn crate::operator::Operator,
        recombine: bool,
    ) -> Recovery<'a> {
        let spec = &self.executor.plan.streams[stream];
        Recovery {
            operator,
            policy: &spec.on_error,
            counters: &self.executor.counters[stream],
            input_type: spec.call_types.input,
            output_type: spec.call_types.output,
            recombine,
        }
    }

    /// One call of `stream` on one partition batch, under its `on_error`
    /// policy, with its shadow candidate's call when it has one.
    fn call(
        &self,
        stream: usize,
        partition: usize,
        phase: Phase,
        batch: &Batch,
    ) -> Result<(Batch, PartitionCall), Error> {
        let spec = &self.executor.plan.streams[stream];
        let operators = &self.operators[stream];
        if batch.is_empty() {
            // Nothing to call the plugin for.
            return Ok((Batch::empty(spec.output_type), PartitionCall::default()));
        }
        let site = |version: &Versioned, shadow: bool| {
            self.site(stream, partition, phase, version, shadow)
        };
        let recovery = self.recovery(
            stream,
            &*operators.current.operator,
            matches!(phase, Phase::AfterExchange | Phase::Window),
        );
        let call_input = spec.adapter.call_input(batch);
        let started = Instant::now();
        let current_site = site(&operators.current, false);
        let outcome = recovery.apply(&call_input, &current_site);
        let costs = operators.current.operator.take_costs(&current_site);
        let outcome = outcome?;
        let call_time = started.elapsed();
        let shadow = operators.shadow.as_ref().map(|shadow| {
            let started = Instant::now();
            let result = shadow.operator.apply(&call_input, &site(shadow, true));
            let elapsed = started.elapsed();
            let verdict = match result {
                // A recovered call's output is no reference.
                Ok(_) if outcome.recovered => ShadowVerdict::NotCompared,
                Ok(output) => {
                    let same = if spec.shape() == Shape::ByKey {
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
        drop(call_input);
        let output = spec.adapter.stream_output(spec, batch, outcome.output)?;
        if let Some(recorder) = &self.executor.recorder
            && spec.plugin.is_some()
            && !outcome.recovered
        {
            let version = &operators.current;
            recorder.record(
                &spec.name,
                self.batch_time,
                partition,
                phase,
                &crate::replay::KeptVersion {
                    plugin: version.plugin.clone(),
                    hash: version.hash.clone(),
                    version: version.version,
                },
                batch,
                &output,
            );
        }
        let detail = PartitionDetail {
            partition,
            phase: phase.name(),
            records_in: batch.len() as u64,
            records_out: output.len() as u64,
            call_time,
            costs,
        };
        Ok((
            output,
            PartitionCall {
                called: true,
                dead_letters: outcome.dead_letters,
                call_time,
                shadow,
                detail: Some(detail),
                ..PartitionCall::default()
            },
        ))
    }
}

/// How one partition's call of one stream went, and its shadow's.
#[derive(Default)]
struct PartitionCall {
    /// Whether the plugin was called (not for an empty partition).
    called: bool,
    /// Records the stream took in on this partition, where counted here.
    records_in: u64,
    /// Records it gave, where counted here.
    records_out: u64,
    dead_letters: Vec<DeadLetter>,
    call_time: Duration,
    shadow: Option<(ShadowVerdict, Duration)>,
    /// The call, for the batch detail.
    detail: Option<PartitionDetail>,
}

impl PartitionCall {
    /// Says the call gave `records` (where the caller counts them).
    fn records_out(&mut self, records: usize) {
        if let Some(detail) = &mut self.detail {
            detail.records_out = records as u64;
        }
    }

    /// Adds the call's time, shadow verdict and dead letters to its
    /// stream's report.
    fn report(self, report: &mut StreamReport, dead_letters: &mut Vec<DeadLetter>) {
        report.calls += u64::from(self.called);
        report.call_time += self.call_time;
        report.records_in += self.records_in;
        report.records_out += self.records_out;
        if let Some(detail) = self.detail
            && report.partitions.len() < MAX_PARTITION_DETAILS
        {
            report.partitions.push(detail);
        }
        if let (Some(shadow), Some((verdict, elapsed))) = (&mut report.shadow, self.shadow) {
            shadow.call_time += elapsed;
            match verdict {
                ShadowVerdict::Same => shadow.calls += 1,
                ShadowVerdict::Differs => {
                    shadow.calls += 1;
                    shadow.differing_calls += 1;
                }
                ShadowVerdict::NotCompared => {}
                ShadowVerdict::Failed(message) => {
                    shadow.failed_calls += 1;
                    shadow.last_error = Some(message);
                }
            }
        }
        dead_letters.extend(self.dead_letters);
    }
}

/// How a shadow call compared with the current version's.
enum ShadowVerdict {
    Same,
    Differs,
    NotCompared,
    Failed(String),
}

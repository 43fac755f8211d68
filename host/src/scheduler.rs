//! The driver: a batch timer that runs one job per batch, in order.
//!
//! Batch times are multiples of `batch_interval` since the epoch, as with
//! Spark's `RecurringTimer`: the first is the next multiple after the
//! pipeline is ready, so window boundaries are stable across restarts. When
//! a files source reads the files already there (`include_existing`), the
//! first batch runs at once (labelled with its aligned time) rather than up
//! to an interval later. Each batch polls every source, cuts what arrived
//! into input partitions sized by data (see [`crate::partition`]), runs the
//! plan, and hands the result to every sink (those whose input emits at
//! that time), in batch order. A batch that cannot
//! start on time because the previous one is still running waits; the wait
//! is the *scheduling delay*, measured for every batch and logged when it
//! exceeds the interval.
//!
//! Each batch runs with the plugin versions current when it starts (a
//! snapshot of the [`Registry`]); versions deployed meanwhile take over at
//! the next batch. A batch that fails on a freshly deployed version is
//! rolled back and run again on the previous version before anything is
//! written, so no record is lost or doubled.
//!
//! The run stops after `max_batches`, after `stop_when_idle` consecutive
//! batches without input (not counting those run while a source held back
//! input its sender had sent, see [`idle_batches`]), or when asked to
//! ([`Shutdown`]); the batch under way is always finished first. A
//! graceful stop (the first Ctrl-C or SIGTERM, or `sluice stop
//! --graceful`) is Spark's `stopGracefully`: the sources stop taking in
//! input, the batches go on at their times until everything received has
//! been processed, then the run ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::checkpoint::{self, Checkpointer, Recovered};
use crate::deploy::Registry;
use crate::error::Error;
use crate::executor::{Executor, StreamReport};
use crate::observe::{BatchOutcome, Observers};
use crate::plan::ErrorPolicy;
use crate::recovery::CounterSnapshot;
use crate::sink::dead_letter::DeadLetterWriter;
use crate::sink::{self, Sink};
use crate::source::{self, Source, SourceInput, SourceStats};
use crate::status::StatusBoard;
use crate::time::BatchTime;

/// When a run stops by itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct StopConditions {
    /// Stop after this many batches.
    pub max_batches: Option<u64>,
    /// Stop after this many consecutive batches without input, not
    /// counting those run while a source paced its reads
    /// ([`idle_batches`]).
    pub stop_when_idle: Option<u64>,
}

/// The consecutive batches without input after a batch that took in
/// `input_records`, `idle` before it. A batch that got nothing while a
/// source `held_back` input its sender had sent (a socket source pacing its
/// reads) leaves the count as it was: behind schedule, batches run back to
/// back to catch up, and one that starts a millisecond after the last gets
/// nothing from a paced source because its rate lets nothing through in a
/// millisecond, not because the sender is done.
pub fn idle_batches(idle: u64, input_records: usize, held_back: bool) -> u64 {
    match (input_records, held_back) {
        (0, false) => idle + 1,
        (0, true) => idle,
        _ => 0,
    }
}

/// What the run was asked to do about stopping; each request only ever
/// moves it further (a graceful stop can become an immediate one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shutdown {
    /// Keep running.
    #[default]
    Running,
    /// Stop taking in input, process what was received, then stop.
    Graceful,
    /// Stop after the batch under way.
    Now,
}

impl Shutdown {
    /// Asks `sender`'s run to stop this way, unless it was already asked
    /// for a stop at least as prompt; returns what it is asked now.
    pub fn request(self, sender: &tokio::sync::watch::Sender<Shutdown>) -> Shutdown {
        sender.send_if_modified(|asked| {
            let further = self > *asked;
            if further {
                *asked = self;
            }
            further
        });
        *sender.borrow()
    }

    /// What a repeated stop signal asks: graceful first, then at once.
    pub fn next(self) -> Shutdown {
        match self {
            Shutdown::Running => Shutdown::Graceful,
            Shutdown::Graceful | Shutdown::Now => Shutdown::Now,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Batches completed.
    pub batches: u64,
    /// Input records over all batches.
    pub input_records: u64,
    /// The largest scheduling delay seen.
    pub max_scheduling_delay: Duration,
    /// The largest processing time of a batch.
    pub max_processing_time: Duration,
    /// Each source's name and counters.
    pub sources: Vec<(String, SourceStats)>,
    /// Each stream's name and `on_error` outcome counters.
    pub streams: Vec<(String, CounterSnapshot)>,
}

/// The state a batch job needs; moved into the blocking job and back.
struct Job {
    executor: Executor,
    sources: Vec<Box<dyn Source>>,
    sinks: Vec<Box<dyn Sink>>,
    /// Per stream, its dead-letter directory when `on_error = "dead_letter"`.
    dead_letters: Vec<Option<DeadLetterWriter>>,
    /// With `checkpoint = true`: where each batch is recorded.
    checkpointer: Option<Checkpointer>,
    /// The sink that commits the batch's consumed Kafka offsets in its
    /// transaction, written after the others.
    offsets_sink: Option<usize>,
}

/// What a completed batch reports.
struct BatchDone {
    /// The sequence number of the snapshot that ran it.
    seq: u64,
    /// Each source's counters and partitions after polling.
    sources: Vec<(SourceStats, Vec<source::kafka::PartitionProgress>)>,
    /// The records each source gave the batch.
    source_records: Vec<u64>,
    /// Its checkpoint, in a checkpointed pipeline.
    checkpoint: Option<checkpoint::CheckpointReport>,
    input_records: usize,
    /// Records handed to the sinks.
    output_records: u64,
    streams: Vec<StreamReport>,
}

impl Job {
    /// Stops every source taking in input (a graceful stop).
    fn stop_receiving(&mut self, pipeline: &str) -> Result<(), Error> {
        tracing::info!(
            pipeline,
            "graceful stop: no more input is taken; processing what was received (stop again to stop after the current batch)"
        );
        for source in &mut self.sources {
            source.stop_receiving()?;
        }
        Ok(())
    }

    /// Each source's name and what `get` says of it, for the sources it
    /// says something of.
    fn by_source<T>(&self, get: impl Fn(&dyn Source) -> Option<T>) -> BTreeMap<String, T> {
        self.executor
            .plan()
            .sources
            .iter()
            .zip(&self.sources)
            .filter_map(|(spec, source)| Some((spec.name.clone(), get(source.as_ref())?)))
            .collect()
    }

    /// Whether a source still holds input it received.
    fn has_pending(&self) -> bool {
        self.sources.iter().any(|s| s.has_pending())
    }

    /// Polls, runs and writes one batch; `replay` is what each source read
    /// for it before, when it was in flight at a crash.
    fn run(
        &mut self,
        batch_time: BatchTime,
        registry: &Registry,
        replay: Option<&BTreeMap<String, SourceInput>>,
    ) -> Result<BatchDone, Error> {
        let plan = self.executor.plan().clone();
        let partitioning = plan.partitioning;
        let mut inputs: Vec<Arc<Vec<Batch>>> = Vec::with_capacity(self.sources.len());
        for (spec, source) in plan.sources.iter().zip(&mut self.sources) {
            let chunks = match replay.and_then(|r| r.get(&spec.name)) {
                Some(input) => source.replay(input, batch_time, &partitioning)?,
                None => source.poll(batch_time, &partitioning)?,
            };
            inputs.push(Arc::new(partitioning.cut(chunks, spec.record_type())));
        }
        if self.checkpointer.is_some() {
            let read = self.by_source(|source| source.last_input());
            if let Some(checkpointer) = &mut self.checkpointer {
                checkpointer.batch_started(batch_time, read)?;
            }
        }
        let (seq, output) = loop {
            let snapshot = registry.begin_batch(batch_time);
            match self.executor.run(batch_time, &inputs, &snapshot.operators) {
                Ok(output) => break (snapshot.seq, output),
                Err(Error::Call(e))
                    if registry.batch_failed(batch_time, &snapshot.operators, &e) =>
                {
                    tracing::warn!(%batch_time, stream = %e.site.stream, "running the batch again on the previous version");
                }
                Err(e) => return Err(e),
            }
        };
        // Dead letters first: if they cannot be written, the batch is not
        // delivered, and no record is lost.
        for (writer, letters) in self.dead_letters.iter().zip(&output.dead_letters) {
            if let Some(writer) = writer {
                writer.write(batch_time, letters)?;
            }
        }
        for (i, (sink, partitions)) in self.sinks.iter_mut().zip(&output.sinks).enumerate() {
            // A window between two slides emits nothing, as in Spark.
            if let Some(partitions) = partitions
                && self.offsets_sink != Some(i)
            {
                sink.write(batch_time, partitions)?;
            }
        }
        if let Some(i) = self.offsets_sink
            && let Some(Some(partitions)) = output.sinks.get(i)
        {
            let offsets: Vec<_> = self
                .sources
                .iter()
                .filter_map(|source| source.consumed_offsets())
                .collect();
            if let Some(sink) = self.sinks.get_mut(i) {
                sink.write_with_offsets(batch_time, partitions, &offsets)?;
            }
        }
        if self.checkpointer.is_some() {
            let positions = self.by_source(|source| source.position());
            if let Some(checkpointer) = &mut self.checkpointer {
                checkpointer.batch_done(
                    batch_time,
                    positions,
                    self.executor.kept(),
                    registry.kept_versions(),
                )?;
            }
        }
        Ok(BatchDone {
            seq,
            sources: self
                .sources
                .iter()
                .map(|s| (s.stats(), s.partitions()))
                .collect(),
            source_records: inputs
                .iter()
                .map(|parts| parts.iter().map(|p| p.len() as u64).sum())
                .collect(),
            input_records: output.input_records,
            output_records: output
                .sinks
                .iter()
                .flatten()
                .flat_map(|partitions| partitions.iter())
                .map(|partition| partition.len() as u64)
                .sum(),
            streams: output.streams,
            checkpoint: self.checkpointer.as_ref().and_then(Checkpointer::report),
        })
    }
}

/// The sink that commits the batch's consumed Kafka offsets in its
/// transaction: the last transactional Kafka sink, when the pipeline reads
/// Kafka (logged, as are the transactional sinks that do not).
fn offsets_sink(plan: &crate::plan::Plan, sinks: &[Box<dyn Sink>]) -> Option<usize> {
    let kafka_sources: Vec<&str> = plan
        .sources
        .iter()
        .filter(|s| matches!(s.kind, crate::plan::SourceSpecKind::Kafka(_)))
        .map(|s| s.name.as_str())
        .collect();
    if kafka_sources.is_empty() {
        return None;
    }
    let carriers: Vec<usize> = (0..sinks.len())
        .filter(|&i| sinks[i].commits_offsets())
        .collect();
    let &carrier = carriers.last()?;
    let name = |i: usize| plan.sinks.get(i).map_or("?", |s| s.name.as_str());
    tracing::info!(pipeline = %plan.name, sink = name(carrier), sources = ?kafka_sources, "each batch's consumed Kafka offsets are committed in the sink's transaction, after the other sinks are written: exactly-once from Kafka to this sink");
    for &other in &carriers[..carriers.len() - 1] {
        tracing::warn!(pipeline = %plan.name, sink = name(other), carrier = name(carrier), "this transactional sink's transactions do not carry the consumed offsets (only one sink's can): a crash between its commit and the offsets' may write a batch to it twice");
    }
    Some(carrier)
}

/// Whether a graceful stop has processed everything its sources received
/// (logged when it has).
fn drained(job: Option<&Job>, pipeline: &str) -> bool {
    let drained = job.is_none_or(|job| !job.has_pending());
    if drained {
        tracing::info!(
            pipeline,
            "graceful stop: everything received was processed; stopping"
        );
    }
    drained
}

/// With `checkpoint = true`, opens the pipeline's checkpoints and puts
/// every source, window and state back where the last run left it.
///
/// # Errors
///
/// When no checkpoint is usable, or one names a source the pipeline no
/// longer has, or a stream changed so that its state cannot follow.
fn resume(
    plan: &crate::plan::Plan,
    sources: &mut [Box<dyn Source>],
    executor: &Executor,
    registry: &Registry,
) -> Result<(Option<Checkpointer>, Recovered), Error> {
    let dir = checkpoint::dir_in(&plan.state_dir);
    if !plan.checkpoint {
        if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
            tracing::warn!(pipeline = %plan.name, dir = %dir.display(), "checkpoints of an earlier run are there but `checkpoint` is off: they are ignored, and the sources start anew");
        }
        return Ok((None, Recovered::default()));
    }
    let (checkpointer, recovered) = Checkpointer::open(&plan.name, &dir)?;
    for name in recovered.positions.keys() {
        if !plan.sources.iter().any(|s| &s.name == name) {
            return Err(Error::Checkpoint {
                pipeline: plan.name.clone(),
                message: format!(
                    "the checkpoint in {} holds source `{name}`, which the pipeline no longer has; put the source back, or run with `--fresh` to start over",
                    dir.display()
                ),
                kind: crate::error::ErrorKind::User,
            });
        }
    }
    for (spec, source) in plan.sources.iter().zip(sources.iter_mut()) {
        if let Some(position) = recovered.positions.get(&spec.name) {
            source.restore(position)?;
        }
    }
    checkpointer.restore_streams(&recovered, executor.kept())?;
    registry
        .restore_versions(&recovered.deployed)
        .map_err(|why| Error::Checkpoint {
            pipeline: plan.name.clone(),
            message: format!(
                "{why}; deploy it again after a start with `--fresh`, or restore the pipeline file it was checked against"
            ),
            kind: crate::error::ErrorKind::User,
        })?;
    Ok((Some(checkpointer), recovered))
}

/// Runs `executor`'s plan, with the versions in `registry`, until a stop
/// condition or `shutdown` fires; reports progress on `status`.
///
/// # Errors
///
/// The first error of a source, plugin or sink; batches before it were
/// delivered, the failing one was not.
pub async fn run(
    executor: Executor,
    registry: Arc<Registry>,
    status: Arc<StatusBoard>,
    observers: Option<Arc<Observers>>,
    stop: StopConditions,
    mut shutdown: tokio::sync::watch::Receiver<Shutdown>,
) -> Result<RunSummary, Error> {
    let plan = executor.plan().clone();
    let mut sources = plan
        .sources
        .iter()
        .map(source::open)
        .collect::<Result<Vec<_>, _>>()?;
    // Resuming may deploy kept versions, which compiles and runs plugin
    // code: off the async runtime.
    let (resuming, resume_plan) = (registry.clone(), plan.clone());
    let (executor, sources, resumed) = tokio::task::spawn_blocking(move || {
        let resumed = resume(&resume_plan, &mut sources, &executor, &resuming);
        (executor, sources, resumed)
    })
    .await
    .map_err(|e| Error::Internal(format!("resuming did not finish: {e}")))?;
    let (checkpointer, recovered) = resumed?;
    let sinks = plan
        .sinks
        .iter()
        .map(|spec| sink::open(spec, &plan.name, registry.engine()))
        .collect::<Result<Vec<_>, _>>()?;
    let offsets_sink = offsets_sink(&plan, &sinks);
    let dead_letters = plan
        .streams
        .iter()
        .map(|stream| match &stream.on_error {
            ErrorPolicy::DeadLetter { dir } => {
                Some(DeadLetterWriter::new(&stream.name, dir.clone()))
            }
            _ => None,
        })
        .collect();
    let mut job = Some(Job {
        executor,
        sources,
        sinks,
        dead_letters,
        checkpointer,
        offsets_sink,
    });
    let interval = plan.batch_interval;
    let mut start = BatchTime::now().next_multiple(interval);
    if let Some(done) = recovered.last_done {
        start = start.max(done.plus(interval));
    }
    let mut run_at_once = plan.sources.iter().any(|s| {
        matches!(
            s.kind,
            crate::plan::SourceSpecKind::Files {
                include_existing: true,
                ..
            }
        )
    });
    tracing::info!(pipeline = %plan.name, interval = ?interval, partitions = %plan.partitioning, "pipeline started");
    let mut summary = RunSummary::default();
    let mut idle = 0u64;
    let mut next = start;
    let mut draining = false;
    // Batches recorded after the last checkpoint (the one in flight at a
    // crash) run again first, in order, at their own times.
    let mut replays: std::collections::VecDeque<_> = recovered.in_flight.into();
    let resume_at = start;
    if let Some((time, _)) = replays.front() {
        next = *time;
        run_at_once = true;
    }
    loop {
        let wait = if std::mem::take(&mut run_at_once) {
            Duration::ZERO
        } else {
            Duration::from_millis((next.0 - BatchTime::now().0).max(0) as u64)
        };
        let tick = tokio::time::Instant::now() + wait;
        // Until the tick, or an immediate stop; a graceful one starts
        // draining at once and the batch still runs at its time.
        loop {
            let asked = *shutdown.borrow_and_update();
            if asked == Shutdown::Graceful && !draining {
                draining = true;
                if let Some(job) = &mut job {
                    job.stop_receiving(&plan.name)?;
                }
            }
            if asked == Shutdown::Now || tokio::time::Instant::now() >= tick {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(tick) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        // Nobody can ask any more: wait for the tick.
                        tokio::time::sleep_until(tick).await;
                    }
                }
            }
        }
        if *shutdown.borrow() == Shutdown::Now {
            tracing::info!(pipeline = %plan.name, "stop requested; stopping between batches");
            break;
        }
        if draining && drained(job.as_ref(), &plan.name) {
            break;
        }
        let batch_time = next;
        let scheduling_delay =
            Duration::from_millis((BatchTime::now().0 - batch_time.0).max(0) as u64);
        let started = Instant::now();
        status.batch_started(batch_time, scheduling_delay);
        let Some(mut state) = job.take() else {
            return Err(Error::Internal("batch job state lost".into()));
        };
        let batch_registry = registry.clone();
        let batch_replay = match replays.front() {
            Some((time, _)) if *time == batch_time => {
                tracing::info!(pipeline = %plan.name, %batch_time, "running again the batch that was in flight when the last run stopped, from the same input");
                replays.pop_front().map(|(_, inputs)| inputs)
            }
            _ => None,
        };
        let (mut state, result) = tokio::task::spawn_blocking(move || {
            let result = state.run(batch_time, &batch_registry, batch_replay.as_ref());
            (state, result)
        })
        .await
        .map_err(|e| Error::Internal(format!("batch job panicked: {e}")))?;
        // What no call site took (sinks, inverse reducers) goes.
        registry.engine().costs().forget_batch(batch_time);
        let (window_sizes, state_sizes) =
            (state.executor.window_sizes(), state.executor.state_sizes());
        status.state_kept(window_sizes.clone(), state_sizes.clone());
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                if let Some(observers) = &observers {
                    observers.batch_failed(
                        batch_time,
                        scheduling_delay,
                        started.elapsed(),
                        e.to_string(),
                    );
                }
                return Err(e);
            }
        };
        let input_records = done.input_records;
        let held_back = state.sources.iter().any(|s| s.holds_back_input());
        let processing = started.elapsed();
        for (source, &records) in state.sources.iter_mut().zip(&done.source_records) {
            source.batch_completed(&source::BatchReport {
                batch_time,
                records,
                processing,
                scheduling_delay,
            });
        }
        if let Some(observers) = &observers {
            observers.batch_done(&BatchOutcome {
                batch_time,
                scheduling_delay,
                processing,
                output_records: done.output_records,
                sources: plan
                    .sources
                    .iter()
                    .zip(&done.sources)
                    .zip(&done.source_records)
                    .map(|((spec, (stats, _)), &records)| (spec.name.as_str(), records, *stats))
                    .collect(),
                streams: plan
                    .streams
                    .iter()
                    .map(|s| s.name.as_str())
                    .zip(&done.streams)
                    .collect(),
                outcomes: observers.outcomes_since_last(
                    state
                        .executor
                        .counters()
                        .into_iter()
                        .map(|(_, counters)| counters)
                        .collect(),
                ),
                windows: window_sizes
                    .iter()
                    .map(|(name, size)| (name.as_str(), size.bytes as u64))
                    .collect(),
                states: state_sizes
                    .iter()
                    .map(|(name, size)| (name.as_str(), size.keys as u64, size.bytes as u64))
                    .collect(),
            });
        }
        job = Some(state);
        registry.batch_finished(batch_time, done.seq, &done.streams, processing);
        status.batch_finished(batch_time, input_records, processing);
        status.checkpointed(done.checkpoint.clone());
        status.sources_polled(
            plan.sources
                .iter()
                .zip(done.sources)
                .map(|(spec, (stats, partitions))| (spec.name.clone(), stats, partitions))
                .collect(),
        );
        summary.batches += 1;
        summary.input_records += input_records as u64;
        summary.max_scheduling_delay = summary.max_scheduling_delay.max(scheduling_delay);
        summary.max_processing_time = summary.max_processing_time.max(processing);
        let versions: Vec<u32> = done.streams.iter().map(|r| r.version).collect();
        tracing::debug!(%batch_time, input_records, ?versions, ?scheduling_delay, ?processing, "batch done");
        if scheduling_delay > interval {
            tracing::warn!(%batch_time, ?scheduling_delay, ?processing, "batches are falling behind: processing takes longer than batch_interval");
        }
        idle = idle_batches(idle, input_records, held_back);
        if stop.max_batches.is_some_and(|max| summary.batches >= max) {
            break;
        }
        if draining && drained(job.as_ref(), &plan.name) {
            break;
        }
        if stop.stop_when_idle.is_some_and(|n| idle >= n) {
            tracing::info!(pipeline = %plan.name, idle_batches = idle, "no input for a while; stopping (--stop-when-idle)");
            break;
        }
        next = match replays.front() {
            Some((time, _)) => {
                run_at_once = true;
                *time
            }
            None => next.plus(interval).max(resume_at),
        };
    }
    if let Some(job) = &job {
        for (spec, source) in plan.sources.iter().zip(&job.sources) {
            let stats = source.stats();
            if stats.problems() > 0 {
                tracing::warn!(pipeline = %plan.name, source = %spec.name, ?stats, "input problems during the run (skipped or changed input, counted)");
            }
            summary.sources.push((spec.name.clone(), stats));
        }
        summary.streams = job.executor.counters();
    }
    for (stream, counters) in &summary.streams {
        if counters.failed_calls > 0 {
            tracing::warn!(
                pipeline = %plan.name,
                stream = %stream,
                failed_calls = counters.failed_calls,
                retries = counters.retries,
                skipped_partitions = counters.skipped_partitions,
                skipped_records = counters.skipped_records,
                dead_letter_records = counters.dead_letter_records,
                "plugin failures during the run"
            );
        }
    }
    tracing::info!(
        pipeline = %plan.name,
        batches = summary.batches,
        input_records = summary.input_records,
        replaced_lines = summary.sources.iter().map(|(_, s)| s.replaced_lines).sum::<u64>(),
        skipped_lines = summary.sources.iter().map(|(_, s)| s.skipped_lines).sum::<u64>(),
        max_scheduling_delay = ?summary.max_scheduling_delay,
        max_processing_time = ?summary.max_processing_time,
        "pipeline stopped"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_without_input_count_unless_a_source_held_input_back() {
        assert_eq!(idle_batches(0, 0, false), 1);
        assert_eq!(idle_batches(4, 0, false), 5);
        // Input resets the count, held back or not.
        assert_eq!(idle_batches(4, 10, false), 0);
        assert_eq!(idle_batches(4, 1, true), 0);
        // Nothing while a source paced its reads: left as it was.
        assert_eq!(idle_batches(4, 0, true), 4);
    }
}

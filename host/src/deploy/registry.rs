//! The plugin registry: every stream's versions, which one is current, and
//! what happened to them.
//!
//! A batch takes a [`Registry::begin_batch`] snapshot when it starts and
//! runs every partition of a stream with that one version; a deploy,
//! rollback or promotion changes the registry at once but is seen from the
//! next batch on. Version 1 of a stream is its plugin from the pipeline
//! file; each deploy adds the next number. The versions a stream can roll
//! back to form a stack: a deploy pushes, a rollback pops.
//!
//! After each batch, [`Registry::batch_finished`] records how each version
//! did; a deployed version that fails `rollback_after` consecutive batches
//! is rolled back. A batch that fails outright (`on_error = "fail"`) on a
//! deployed version is rolled back at once by [`Registry::batch_failed`]
//! and the scheduler runs the same batch again on the previous version, so
//! no record is lost.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::candidate::{self, CandidateError};
use crate::control::protocol::{EventInfo, ShadowStats, StreamStatus, VersionInfo};
use crate::error::CallError;
use crate::executor::StreamReport;
use crate::operator::{StreamOperators, Versioned};
use crate::plan::Plan;
use crate::plugin::PluginEngine;
use crate::time::BatchTime;

/// Versions of a stream kept loaded (compiled and pre-instantiated) for
/// rollback; older ones are unloaded and can no longer be rolled back to.
pub const MAX_LOADED_VERSIONS: usize = 8;

/// Events kept per stream for `sluice history`.
const MAX_EVENTS: usize = 1000;

/// Where a version came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The pipeline file.
    PipelineFile,
    /// `sluice deploy`.
    Deploy,
    /// `sluice run --watch` saw the file change.
    Watch,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::PipelineFile => "pipeline file",
            Origin::Deploy => "deploy",
            Origin::Watch => "watch",
        }
    }
}

/// Why a registry change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No stream has that name.
    #[error("pipeline `{pipeline}` has no stream `{stream}` (streams: {known})")]
    UnknownStream {
        /// The pipeline.
        pipeline: String,
        /// The name asked for.
        stream: String,
        /// The streams there are.
        known: String,
    },
    /// The new version failed a check; the current one keeps running.
    #[error(
        "pipeline `{pipeline}`, stream `{stream}`: refused ({kind}), v{current} keeps running: {source}"
    )]
    Refused {
        /// The pipeline.
        pipeline: String,
        /// The stream.
        stream: String,
        /// The version that keeps running.
        current: u32,
        /// The failure class.
        kind: &'static str,
        /// Why.
        source: Box<CandidateError>,
    },
    /// The request makes no sense in the stream's state.
    #[error("pipeline `{pipeline}`, stream `{stream}`: {message}")]
    Invalid {
        /// The pipeline.
        pipeline: String,
        /// The stream.
        stream: String,
        /// Why, and what to do.
        message: String,
    },
}

/// One version of a stream's plugin.
struct Version {
    number: u32,
    plugin: String,
    hash: String,
    origin: Origin,
    loaded_at: BatchTime,
    /// `None` once unloaded.
    operator: Option<Versioned>,
    first_batch: Option<BatchTime>,
    last_batch: Option<BatchTime>,
    batches: u64,
    failed_batches: u64,
    shadow: Option<ShadowStats>,
}

impl Version {
    fn info(&self, state: &str) -> VersionInfo {
        VersionInfo {
            version: self.number,
            plugin: self.plugin.clone(),
            sha256: self.hash.clone(),
            origin: self.origin.name().to_owned(),
            state: state.to_owned(),
            loaded_at: self.loaded_at.0,
            first_batch: self.first_batch.map(|t| t.0),
            last_batch: self.last_batch.map(|t| t.0),
            batches: self.batches,
            failed_batches: self.failed_batches,
            shadow: self.shadow.clone(),
        }
    }

    fn label(&self) -> String {
        format!(
            "v{} ({}, sha256 {})",
            self.number,
            self.plugin,
            &self.hash[..12]
        )
    }
}

/// One stream's versions.
struct StreamVersions {
    versions: Vec<Version>,
    /// Indices into `versions`: the rollback stack, current last.
    active: Vec<usize>,
    shadow: Option<usize>,
    consecutive_failures: u32,
    events: Vec<EventInfo>,
}

impl StreamVersions {
    fn current(&self) -> &Version {
        // The stack is never empty: version 1 is pushed at start and a
        // rollback never pops the last entry.
        &self.versions[self.active[self.active.len() - 1]]
    }

    fn event(&mut self, message: String) {
        if self.events.len() >= MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push(EventInfo {
            at: BatchTime::now().0,
            message,
        });
    }

    fn state_of(&self, index: usize) -> &'static str {
        if self.active.last() == Some(&index) {
            "current"
        } else if self.shadow == Some(index) {
            "shadow"
        } else if self.active.contains(&index) {
            "previous"
        } else {
            "retired"
        }
    }

    /// Makes version `index` current (pushing it on the stack).
    fn push_current(&mut self, index: usize) {
        self.active.push(index);
        self.consecutive_failures = 0;
        while self.active.len() > MAX_LOADED_VERSIONS {
            let oldest = self.active.remove(0);
            self.versions[oldest].operator = None;
            let label = self.versions[oldest].label();
            self.event(format!(
                "{label} unloaded: only the {MAX_LOADED_VERSIONS} latest versions are kept for rollback"
            ));
        }
    }

    /// Pops the current version; the one before becomes current.
    fn pop_current(&mut self) -> Option<(usize, usize)> {
        if self.active.len() < 2 {
            return None;
        }
        let from = self.active.pop()?;
        self.consecutive_failures = 0;
        Some((from, self.active[self.active.len() - 1]))
    }
}

/// A completed batch, as deploy waiters see it.
#[derive(Clone, Debug)]
pub struct CompletedBatch {
    /// Its snapshot's sequence number (see [`Snapshot::seq`]).
    pub seq: u64,
    /// Its batch time.
    pub batch_time: BatchTime,
    /// The version each stream ran, in plan order.
    pub versions: Vec<u32>,
    /// Whether each stream's calls all succeeded.
    pub ok: Vec<bool>,
    /// When it ended.
    pub ended: Instant,
    /// Its processing time.
    pub processing: Duration,
}

/// What one batch (one attempt at it) runs.
pub struct Snapshot {
    /// Numbers snapshots in the order they were taken; a change made before
    /// snapshot `n` was taken is seen by every snapshot from `n` on.
    pub seq: u64,
    /// Each stream's current version and shadow, in plan order.
    pub operators: Vec<StreamOperators>,
}

/// Every stream's versions; shared by the scheduler, the control endpoint
/// and the file watcher.
pub struct Registry {
    plan: Arc<Plan>,
    engine: Arc<PluginEngine>,
    streams: Mutex<Vec<StreamVersions>>,
    /// The next snapshot's sequence number; changed only under `streams`'
    /// lock, so a change and a snapshot are ordered.
    next_seq: AtomicU64,
    completed: tokio::sync::watch::Sender<Option<CompletedBatch>>,
    stopped: tokio::sync::watch::Sender<bool>,
}

/// A version just made current or shadowed.
pub struct Change {
    /// The stream's index.
    pub stream: usize,
    /// What happened, in one sentence.
    pub message: String,
    /// The version.
    pub version: VersionInfo,
    /// When it became current (or shadowed).
    pub at: Instant,
    /// The first snapshot that sees the change.
    pub from_seq: u64,
    /// For a new version: how long compiling and checking it took.
    pub check: Option<Duration>,
}

impl Registry {
    /// A registry holding each stream's plugin from the pipeline file as
    /// version 1.
    pub fn new(plan: Arc<Plan>, engine: Arc<PluginEngine>) -> Self {
        let initial = crate::executor::Executor::initial_operators(&plan, &engine);
        let now = BatchTime::now();
        let streams = plan
            .streams
            .iter()
            .zip(initial)
            .map(|(spec, operators)| {
                let mut versions = StreamVersions {
                    versions: vec![Version {
                        number: 1,
                        plugin: spec.plugin.name().to_owned(),
                        hash: spec.plugin.hash().to_owned(),
                        origin: Origin::PipelineFile,
                        loaded_at: now,
                        operator: Some(operators.current),
                        first_batch: None,
                        last_batch: None,
                        batches: 0,
                        failed_batches: 0,
                        shadow: None,
                    }],
                    active: vec![0],
                    shadow: None,
                    consecutive_failures: 0,
                    events: Vec::new(),
                };
                let label = versions.versions[0].label();
                versions.event(format!("{label} loaded from the pipeline file"));
                versions
            })
            .collect();
        Registry {
            plan,
            engine,
            streams: Mutex::new(streams),
            next_seq: AtomicU64::new(0),
            completed: tokio::sync::watch::channel(None).0,
            stopped: tokio::sync::watch::channel(false).0,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    fn lock(&self) -> MutexGuard<'_, Vec<StreamVersions>> {
        // A panic while holding the lock cannot leave the bookkeeping
        // inconsistent in a way that matters more than stopping; go on.
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The index of stream `name`.
    ///
    /// # Errors
    ///
    /// When there is no such stream.
    pub fn stream_index(&self, name: &str) -> Result<usize, RegistryError> {
        self.plan
            .streams
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| RegistryError::UnknownStream {
                pipeline: self.plan.name.clone(),
                stream: name.to_owned(),
                known: self
                    .plan
                    .streams
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn invalid(&self, index: usize, message: String) -> RegistryError {
        RegistryError::Invalid {
            pipeline: self.plan.name.clone(),
            stream: self.plan.streams[index].name.clone(),
            message,
        }
    }

    /// What batch `batch_time` runs: each stream's current version and
    /// shadow candidate.
    pub fn begin_batch(&self, batch_time: BatchTime) -> Snapshot {
        let mut streams = self.lock();
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut snapshot = Vec::with_capacity(streams.len());
        for (index, stream) in streams.iter_mut().enumerate() {
            let current_index = stream.active[stream.active.len() - 1];
            let current = &mut stream.versions[current_index];
            if current.first_batch.is_none() {
                current.first_batch = Some(batch_time);
                if current.number > 1 {
                    tracing::info!(
                        pipeline = %self.plan.name,
                        stream = %self.plan.streams[index].name,
                        version = current.number,
                        plugin = %current.plugin,
                        sha256 = %current.hash,
                        %batch_time,
                        "first batch on the new version"
                    );
                }
            }
            let Some(operator) = current.operator.clone() else {
                // Unreachable: versions on the stack stay loaded.
                continue;
            };
            let shadow = stream
                .shadow
                .and_then(|i| stream.versions[i].operator.clone());
            snapshot.push(StreamOperators {
                current: operator,
                shadow,
            });
        }
        Snapshot {
            seq,
            operators: snapshot,
        }
    }

    /// Records how batch `batch_time` went and rolls back deployed versions
    /// that failed `rollback_after` consecutive batches.
    pub fn batch_finished(
        &self,
        batch_time: BatchTime,
        seq: u64,
        reports: &[StreamReport],
        processing: Duration,
    ) {
        let mut streams = self.lock();
        for (index, (stream, report)) in streams.iter_mut().zip(reports).enumerate() {
            let spec = &self.plan.streams[index];
            if let Some(ran) = stream
                .versions
                .iter_mut()
                .find(|v| v.number == report.version)
            {
                ran.batches += 1;
                ran.last_batch = Some(batch_time);
                if report.degraded {
                    ran.failed_batches += 1;
                }
            }
            if let Some(shadow) = &report.shadow
                && let Some(candidate) = stream
                    .versions
                    .iter_mut()
                    .find(|v| v.number == shadow.version)
            {
                candidate.first_batch.get_or_insert(batch_time);
                candidate.last_batch = Some(batch_time);
                candidate.batches += 1;
                if shadow.failed_calls > 0 {
                    candidate.failed_batches += 1;
                }
                let stats = candidate.shadow.get_or_insert_with(ShadowStats::default);
                stats.batches += 1;
                stats.calls += shadow.calls;
                stats.differing_calls += shadow.differing_calls;
                if shadow.differing_calls > 0 {
                    stats.differing_batches += 1;
                }
                stats.failed_calls += shadow.failed_calls;
                if shadow.last_error.is_some() {
                    stats.last_error.clone_from(&shadow.last_error);
                }
                stats.time_ms += shadow.call_time.as_secs_f64() * 1000.0;
                stats.current_time_ms += report.call_time.as_secs_f64() * 1000.0;
            }
            if stream.current().number != report.version {
                continue;
            }
            if !report.degraded {
                stream.consecutive_failures = 0;
                continue;
            }
            stream.consecutive_failures += 1;
            let failures = stream.consecutive_failures;
            if spec.rollback_after == 0 || failures < spec.rollback_after {
                continue;
            }
            let reason = format!(
                "{failures} consecutive failing batches (rollback_after = {}); last failure: {}",
                spec.rollback_after,
                report.failure.as_deref().unwrap_or("unknown")
            );
            self.roll_back_locked(stream, index, &reason, true);
        }
        drop(streams);
        let completed = CompletedBatch {
            seq,
            batch_time,
            versions: reports.iter().map(|r| r.version).collect(),
            ok: reports.iter().map(|r| !r.degraded).collect(),
            ended: Instant::now(),
            processing,
        };
        self.completed.send_replace(Some(completed));
    }

    /// A batch failed with `error` (the stream's `on_error` gave up). If the
    /// failing stream runs a deployed version that the batch used and may be
    /// rolled back, rolls back at once and returns `true`: the caller runs
    /// the batch again. The batch was not delivered, so nothing is lost.
    pub fn batch_failed(
        &self,
        batch_time: BatchTime,
        ran: &[StreamOperators],
        error: &CallError,
    ) -> bool {
        let Ok(index) = self.stream_index(&error.site.stream) else {
            return false;
        };
        let Some(version) = ran.get(index).map(|o| o.current.version) else {
            return false;
        };
        let spec = &self.plan.streams[index];
        let mut streams = self.lock();
        let stream = &mut streams[index];
        if let Some(failed) = stream.versions.iter_mut().find(|v| v.number == version) {
            failed.batches += 1;
            failed.failed_batches += 1;
            failed.last_batch = Some(batch_time);
        }
        if spec.rollback_after == 0 || stream.current().number != version {
            return false;
        }
        let reason = format!(
            "batch {batch_time} failed and was not delivered: {}; it runs again on the previous version",
            error.failure
        );
        self.roll_back_locked(stream, index, &reason, true)
    }

    /// Pops the current version with an event; `false` when there is none
    /// to go back to.
    fn roll_back_locked(
        &self,
        stream: &mut StreamVersions,
        index: usize,
        reason: &str,
        automatic: bool,
    ) -> bool {
        let Some((from, to)) = stream.pop_current() else {
            return false;
        };
        let (from, to) = (stream.versions[from].label(), stream.versions[to].label());
        let how = if automatic {
            "automatic rollback"
        } else {
            "rollback"
        };
        let message = format!("{how} from {from} to {to}: {reason}");
        tracing::warn!(
            pipeline = %self.plan.name,
            stream = %self.plan.streams[index].name,
            "{message}"
        );
        stream.event(message);
        true
    }

    /// Checks `bytes` (named `file`) as a new version of stream `name` and,
    /// if every check passes, makes it current (or the shadow candidate).
    /// Compiles: call it off the async runtime.
    ///
    /// # Errors
    ///
    /// An unknown stream, a refused candidate, or the same component as the
    /// current version.
    pub fn deploy(
        &self,
        name: &str,
        file: &Path,
        bytes: &[u8],
        origin: Origin,
        shadow: bool,
    ) -> Result<Change, RegistryError> {
        let index = self.stream_index(name)?;
        let spec = &self.plan.streams[index];
        let started = Instant::now();
        let checked = candidate::check(&self.engine, &self.plan, index, file, bytes);
        let mut streams = self.lock();
        let stream = &mut streams[index];
        let plugin = match checked {
            Ok(plugin) => plugin,
            Err(source) => {
                let error = RegistryError::Refused {
                    pipeline: self.plan.name.clone(),
                    stream: name.to_owned(),
                    current: stream.current().number,
                    kind: source.kind(),
                    source: Box::new(source),
                };
                tracing::warn!(origin = origin.name(), "{error}");
                stream.event(format!(
                    "{} of {} refused: {error}",
                    origin.name(),
                    file.display()
                ));
                return Err(error);
            }
        };
        if plugin.hash() == stream.current().hash {
            let current = stream.current().label();
            return Err(self.invalid(
                index,
                format!(
                    "{} is the same component as the current version {current}; nothing to do",
                    file.display()
                ),
            ));
        }
        let number = stream.versions.len() as u32 + 1;
        let same_as = stream
            .versions
            .iter()
            .find(|v| v.hash == plugin.hash())
            .map(|v| format!(" (same component as v{})", v.number))
            .unwrap_or_default();
        let operator = Versioned::wasm(self.engine.clone(), plugin, spec.output_type, number);
        stream.versions.push(Version {
            number,
            plugin: operator.plugin.clone(),
            hash: operator.hash.clone(),
            origin,
            loaded_at: BatchTime::now(),
            operator: Some(operator),
            first_batch: None,
            last_batch: None,
            batches: 0,
            failed_batches: 0,
            shadow: shadow.then(ShadowStats::default),
        });
        let new = stream.versions.len() - 1;
        let label = stream.versions[new].label();
        let checked_in = started.elapsed();
        let message = if shadow {
            if let Some(old) = stream.shadow.replace(new) {
                stream.versions[old].operator = None;
            }
            format!(
                "{label}{same_as} runs as shadow of {} ({}, checked in {checked_in:.0?})",
                stream.current().label(),
                origin.name()
            )
        } else {
            let previous = stream.current().label();
            stream.push_current(new);
            format!(
                "{label}{same_as} is current, replacing {previous} from the next batch ({}, checked in {checked_in:.0?})",
                origin.name()
            )
        };
        tracing::info!(pipeline = %self.plan.name, stream = %name, "{message}");
        stream.event(message.clone());
        let state = stream.state_of(new);
        Ok(Change {
            stream: index,
            message,
            version: stream.versions[new].info(state),
            at: Instant::now(),
            from_seq: self.next_seq.load(Ordering::Relaxed),
            check: Some(checked_in),
        })
    }

    /// Makes the version before the current one current again.
    ///
    /// # Errors
    ///
    /// An unknown stream, or no previous version.
    pub fn rollback(&self, name: &str) -> Result<Change, RegistryError> {
        let index = self.stream_index(name)?;
        let mut streams = self.lock();
        let stream = &mut streams[index];
        if !self.roll_back_locked(stream, index, "requested", false) {
            return Err(self.invalid(
                index,
                format!(
                    "{} is the only loaded version; there is nothing to roll back to",
                    stream.current().label()
                ),
            ));
        }
        let current = stream.active[stream.active.len() - 1];
        Ok(Change {
            stream: index,
            message: stream
                .events
                .last()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
            version: stream.versions[current].info("current"),
            at: Instant::now(),
            from_seq: self.next_seq.load(Ordering::Relaxed),
            check: None,
        })
    }

    /// Makes the shadow candidate current.
    ///
    /// # Errors
    ///
    /// An unknown stream, or no shadow candidate.
    pub fn promote(&self, name: &str) -> Result<Change, RegistryError> {
        let index = self.stream_index(name)?;
        let mut streams = self.lock();
        let stream = &mut streams[index];
        let Some(candidate) = stream.shadow.take() else {
            return Err(self.no_shadow(index));
        };
        let previous = stream.current().label();
        stream.push_current(candidate);
        let version = &stream.versions[candidate];
        let stats = version.shadow.clone().unwrap_or_default();
        let message = format!(
            "{} promoted from shadow, replacing {previous} from the next batch (output differed in {} of {} shadowed batches, {} failed calls)",
            version.label(),
            stats.differing_batches,
            stats.batches,
            stats.failed_calls
        );
        tracing::info!(pipeline = %self.plan.name, stream = %name, "{message}");
        let info = version.info("current");
        stream.event(message.clone());
        Ok(Change {
            stream: index,
            message,
            version: info,
            at: Instant::now(),
            from_seq: self.next_seq.load(Ordering::Relaxed),
            check: None,
        })
    }

    /// Stops shadowing and unloads the candidate.
    ///
    /// # Errors
    ///
    /// An unknown stream, or no shadow candidate.
    pub fn discard(&self, name: &str) -> Result<Change, RegistryError> {
        let index = self.stream_index(name)?;
        let mut streams = self.lock();
        let stream = &mut streams[index];
        let Some(candidate) = stream.shadow.take() else {
            return Err(self.no_shadow(index));
        };
        let version = &mut stream.versions[candidate];
        version.operator = None;
        let message = format!("shadow {} discarded", version.label());
        let info = version.info("retired");
        tracing::info!(pipeline = %self.plan.name, stream = %name, "{message}");
        stream.event(message.clone());
        Ok(Change {
            stream: index,
            message,
            version: info,
            at: Instant::now(),
            from_seq: self.next_seq.load(Ordering::Relaxed),
            check: None,
        })
    }

    fn no_shadow(&self, index: usize) -> RegistryError {
        self.invalid(
            index,
            "has no shadow candidate; deploy one with `sluice deploy --shadow`".to_owned(),
        )
    }

    /// The latest event of stream `index`.
    pub fn last_event(&self, index: usize) -> Option<String> {
        self.lock()[index].events.last().map(|e| e.message.clone())
    }

    /// Every stream's state, in plan order.
    pub fn status(&self) -> Vec<StreamStatus> {
        let streams = self.lock();
        streams
            .iter()
            .zip(&self.plan.streams)
            .map(|(stream, spec)| StreamStatus {
                stream: spec.name.clone(),
                op: spec.op.op_name().to_owned(),
                current: stream.current().info("current"),
                shadow: stream.shadow.map(|i| stream.versions[i].info("shadow")),
                rollback_to: (stream.active.len() >= 2)
                    .then(|| stream.versions[stream.active[stream.active.len() - 2]].number),
                consecutive_failures: stream.consecutive_failures,
                rollback_after: spec.rollback_after,
            })
            .collect()
    }

    /// Stream `name`'s versions and events.
    ///
    /// # Errors
    ///
    /// An unknown stream.
    pub fn history(&self, name: &str) -> Result<(Vec<VersionInfo>, Vec<EventInfo>), RegistryError> {
        let index = self.stream_index(name)?;
        let streams = self.lock();
        let stream = &streams[index];
        let versions = stream
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| v.info(stream.state_of(i)))
            .collect();
        Ok((versions, stream.events.clone()))
    }

    /// The pipeline has stopped: no batch will complete any more.
    pub fn pipeline_stopped(&self) {
        self.stopped.send_replace(true);
    }

    /// Whether the pipeline has stopped, for waiters.
    pub fn stopped(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopped.subscribe()
    }

    /// Completed batches, for waiting on a version's first batch.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<CompletedBatch>> {
        self.completed.subscribe()
    }

    /// Whether version `number` of stream `index` ran, or may still run, a
    /// batch: it is current, or it already did.
    pub fn may_run(&self, index: usize, number: u32) -> bool {
        let streams = self.lock();
        let stream = &streams[index];
        stream.current().number == number
            || stream
                .shadow
                .is_some_and(|i| stream.versions[i].number == number)
    }

    /// The content hash of stream `index`'s current version.
    pub fn current_hash(&self, index: usize) -> String {
        self.lock()[index].current().hash.clone()
    }
}

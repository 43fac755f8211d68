//! The plugin registry: every stream's versions behind one lock, the
//! snapshot each batch runs, and the sequence numbers that order changes
//! and snapshots. The rules of one stream's versions (the rollback stack,
//! shadows, automatic rollback, events) are in [`super::versions`].
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::candidate::{self, CandidateError};
use super::info::{EventInfo, StreamStatus, VersionInfo};
use super::versions::{BatchOutcome, Origin, StreamVersions, Version, VersionState};
use crate::error::CallError;
use crate::executor::StreamReport;
use crate::operator::{StreamOperators, Versioned};
use crate::plan::Plan;
use crate::plugin::PluginEngine;
use crate::time::BatchTime;

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
    streams: Mutex<Vec<StreamVersions<Versioned>>>,
    /// Each stream's inverse reducer, from the pipeline file (not deployed).
    inverses: Vec<Option<Versioned>>,
    /// The next snapshot's sequence number; changed only under `streams`'
    /// lock, so a change and a snapshot are ordered.
    next_seq: AtomicU64,
    completed: tokio::sync::watch::Sender<Option<CompletedBatch>>,
    stopped: tokio::sync::watch::Sender<bool>,
    /// With `checkpoint = true`: where deployed components are kept, so a
    /// restart runs them again.
    kept_plugins: Option<PathBuf>,
}

/// A deployed version, as a checkpoint keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptVersion {
    /// Its version number when it was kept.
    pub number: u32,
    /// The plugin's name.
    pub plugin: String,
    /// The component's sha256 (its file is `<hash>/<plugin>.wasm` among
    /// the kept plugins).
    pub hash: String,
}

/// A stream's deployed versions, as a checkpoint keeps them: its rollback
/// stack above the pipeline file's version, and its shadow candidate.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptVersions {
    /// Oldest first; the last is current.
    pub stack: Vec<KeptVersion>,
    /// The shadow candidate.
    pub shadow: Option<KeptVersion>,
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

/// Where a kept component lies: named as it was deployed, so it keeps its
/// plugin name when deployed again.
fn kept_path(dir: &Path, hash: &str, plugin: &str) -> PathBuf {
    dir.join(hash).join(format!("{plugin}.wasm"))
}

/// The first 12 hex digits of a hash, as logs show it.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

impl Registry {
    /// The engine plugins of the pipeline run on.
    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    /// A registry holding each stream's plugin from the pipeline file as
    /// version 1.
    pub fn new(plan: Arc<Plan>, engine: Arc<PluginEngine>) -> Self {
        let now = BatchTime::now();
        let initial = StreamOperators::initial(&plan, &engine);
        let inverses = initial.iter().map(|o| o.inverse.clone()).collect();
        let streams = plan
            .streams
            .iter()
            .zip(initial)
            .map(|(spec, operators)| {
                let first = Version::new(
                    1,
                    spec.implementation_name().to_owned(),
                    spec.implementation_hash().to_owned(),
                    Origin::PipelineFile,
                    now,
                    operators.current,
                );
                StreamVersions::new(first, now)
            })
            .collect();
        Registry {
            engine,
            inverses,
            streams: Mutex::new(streams),
            next_seq: AtomicU64::new(0),
            completed: tokio::sync::watch::channel(None).0,
            stopped: tokio::sync::watch::channel(false).0,
            kept_plugins: plan
                .checkpoint
                .then(|| crate::checkpoint::dir_in(&plan.state_dir).join("plugins")),
            plan,
        }
    }

    /// Each stream's deployed versions (streams with none are left out),
    /// for a checkpoint.
    pub fn kept_versions(&self) -> BTreeMap<String, KeptVersions> {
        let kept = |v: &Version<Versioned>| KeptVersion {
            number: v.number,
            plugin: v.plugin.clone(),
            hash: v.hash.clone(),
        };
        self.lock()
            .iter()
            .zip(&self.plan.streams)
            .filter_map(|(stream, spec)| {
                let versions = KeptVersions {
                    stack: stream.stack().skip(1).map(kept).collect(),
                    shadow: stream.shadow().map(kept),
                };
                (versions != KeptVersions::default()).then(|| (spec.name.clone(), versions))
            })
            .collect()
    }

    /// Deploys again the versions a checkpoint kept (see
    /// [`Registry::kept_versions`]), in order, each checked as a deploy is.
    /// Compiles: call it off the async runtime.
    ///
    /// # Errors
    ///
    /// A sentence naming the stream and version that cannot run now (its
    /// component is missing or damaged, or the pipeline file changed so
    /// that it is refused).
    pub fn restore_versions(&self, kept: &BTreeMap<String, KeptVersions>) -> Result<(), String> {
        let Some(dir) = &self.kept_plugins else {
            return Ok(());
        };
        for (name, versions) in kept {
            let deployments = versions
                .stack
                .iter()
                .map(|v| (v, false))
                .chain(versions.shadow.iter().map(|v| (v, true)));
            for (version, shadow) in deployments {
                let what = format!(
                    "stream `{name}`, deployed v{} ({}, sha256 {})",
                    version.number,
                    version.plugin,
                    short(&version.hash)
                );
                let index = self
                    .stream_index(name)
                    .map_err(|e| format!("{what}: {e}"))?;
                if !shadow && self.current_hash(index) == version.hash {
                    continue;
                }
                let path = kept_path(dir, &version.hash, &version.plugin);
                let bytes = crate::checkpoint::store::read_bytes(&path)
                    .map_err(|why| format!("{what}: its component {} {why}", path.display()))?;
                self.deploy(name, &path, &bytes, Origin::Checkpoint, shadow)
                    .map_err(|e| format!("{what} cannot run again: {e}"))?;
            }
        }
        Ok(())
    }

    /// Keeps `bytes`, the component `hash` of plugin `plugin`, for
    /// restarts (checkpointed pipelines only).
    fn keep_plugin(&self, hash: &str, plugin: &str, bytes: &[u8]) -> std::io::Result<()> {
        let Some(dir) = &self.kept_plugins else {
            return Ok(());
        };
        let path = kept_path(dir, hash, plugin);
        if crate::checkpoint::store::read_bytes(&path).is_ok() {
            return Ok(());
        }
        std::fs::create_dir_all(dir.join(hash))?;
        crate::checkpoint::store::write_bytes(&path, bytes, || {})
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    fn lock(&self) -> MutexGuard<'_, Vec<StreamVersions<Versioned>>> {
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

    /// Logs `message` about stream `index` and adds it to its events.
    fn log_event(&self, stream: &mut StreamVersions<Versioned>, index: usize, message: &str) {
        tracing::info!(pipeline = %self.plan.name, stream = %self.plan.streams[index].name, "{message}");
        stream.event(BatchTime::now(), message.to_owned());
    }

    /// The [`Change`] that made `version` what it is to stream `index`.
    fn change(
        &self,
        index: usize,
        message: String,
        version: VersionInfo,
        check: Option<Duration>,
    ) -> Change {
        Change {
            stream: index,
            message,
            version,
            at: Instant::now(),
            from_seq: self.next_seq.load(Ordering::Relaxed),
            check,
        }
    }

    /// What batch `batch_time` runs: each stream's current version and
    /// shadow candidate.
    pub fn begin_batch(&self, batch_time: BatchTime) -> Snapshot {
        let mut streams = self.lock();
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut snapshot = Vec::with_capacity(streams.len());
        for (index, stream) in streams.iter_mut().enumerate() {
            let current = stream.current_mut();
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
            let shadow = stream.shadow().and_then(|v| v.operator.clone());
            snapshot.push(StreamOperators {
                current: operator,
                shadow,
                inverse: self.inverses.get(index).cloned().flatten(),
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
            if let Some(shadow) = &report.shadow {
                stream.shadowed(batch_time, shadow, report.call_time);
            }
            let outcome = if report.degraded {
                BatchOutcome::Failed
            } else if report.calls == 0 {
                BatchOutcome::Idle
            } else {
                BatchOutcome::Succeeded
            };
            let Some(failures) =
                stream.finished(batch_time, report.version, outcome, spec.rollback_after)
            else {
                continue;
            };
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
        if !stream.failed_outright(batch_time, version, spec.rollback_after) {
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
        stream: &mut StreamVersions<Versioned>,
        index: usize,
        reason: &str,
        automatic: bool,
    ) -> bool {
        let Some(back) = stream.roll_back() else {
            return false;
        };
        let how = if automatic {
            "automatic rollback"
        } else {
            "rollback"
        };
        let message = format!("{how} from {} to {}: {reason}", back.from, back.to);
        tracing::warn!(
            pipeline = %self.plan.name,
            stream = %self.plan.streams[index].name,
            "{message}"
        );
        stream.event(BatchTime::now(), message);
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
        if spec.plugin.is_none() {
            return Err(RegistryError::Invalid {
                pipeline: self.plan.name.clone(),
                stream: spec.name.clone(),
                message: format!(
                    "`{}` is run by the host: there is no plugin to deploy",
                    spec.op
                ),
            });
        }
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
                stream.event(
                    BatchTime::now(),
                    format!("{} of {} refused: {error}", origin.name(), file.display()),
                );
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
        if let Err(e) = self.keep_plugin(plugin.hash(), plugin.name(), bytes) {
            return Err(self.invalid(
                index,
                format!(
                    "{} cannot be kept for restarts under {} ({e}); free disk space and deploy again",
                    file.display(),
                    crate::checkpoint::dir_in(&self.plan.state_dir).join("plugins").display()
                ),
            ));
        }
        let number = stream.next_number();
        let same_as = stream
            .versions()
            .find(|v| v.hash == plugin.hash())
            .map(|v| format!(" (same component as v{})", v.number))
            .unwrap_or_default();
        let operator = Versioned::wasm(self.engine.clone(), plugin, spec.call_types.output, number);
        let version = Version::new(
            number,
            operator.plugin.clone(),
            operator.hash.clone(),
            origin,
            BatchTime::now(),
            operator,
        );
        let label = version.label();
        let previous = stream.current().label();
        let info = stream.add(version, shadow, BatchTime::now());
        let checked_in = started.elapsed();
        let message = if shadow {
            format!(
                "{label}{same_as} runs as shadow of {previous} ({}, checked in {checked_in:.0?})",
                origin.name()
            )
        } else {
            format!(
                "{label}{same_as} is current, replacing {previous} from the next batch ({}, checked in {checked_in:.0?})",
                origin.name()
            )
        };
        self.log_event(stream, index, &message);
        Ok(self.change(index, message, info, Some(checked_in)))
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
        let message = stream.last_event().unwrap_or_default().to_owned();
        let info = stream.current().info(VersionState::Current);
        Ok(self.change(index, message, info, None))
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
        let previous = stream.current().label();
        let Some(version) = stream.promote(BatchTime::now()) else {
            return Err(self.no_shadow(index));
        };
        let stats = version.shadow.clone().unwrap_or_default();
        let message = format!(
            "{} promoted from shadow, replacing {previous} from the next batch (output differed in {} of {} shadowed batches, {} failed calls)",
            version.label(),
            stats.differing_batches,
            stats.batches,
            stats.failed_calls
        );
        let info = version.info(VersionState::Current);
        self.log_event(stream, index, &message);
        Ok(self.change(index, message, info, None))
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
        let Some(version) = stream.discard() else {
            return Err(self.no_shadow(index));
        };
        let message = format!("shadow {} discarded", version.label());
        let info = version.info(VersionState::Retired);
        self.log_event(stream, index, &message);
        Ok(self.change(index, message, info, None))
    }

    fn no_shadow(&self, index: usize) -> RegistryError {
        self.invalid(
            index,
            "has no shadow candidate; deploy one with `sluice deploy --shadow`".to_owned(),
        )
    }

    /// The latest event of stream `index`.
    pub fn last_event(&self, index: usize) -> Option<String> {
        self.lock()[index].last_event().map(str::to_owned)
    }

    /// Every stream's state, in plan order.
    pub fn status(&self) -> Vec<StreamStatus> {
        let streams = self.lock();
        streams
            .iter()
            .zip(&self.plan.streams)
            .map(|(stream, spec)| StreamStatus {
                stream: spec.name.clone(),
                op: spec.op.name().to_owned(),
                current: stream.current().info(VersionState::Current),
                shadow: stream.shadow().map(|v| v.info(VersionState::Shadow)),
                rollback_to: stream.rollback_to(),
                consecutive_failures: stream.consecutive_failures(),
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
        Ok((stream.infos(), stream.events().cloned().collect()))
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
    /// batch: it is current, or the shadow candidate.
    pub fn may_run(&self, index: usize, number: u32) -> bool {
        self.lock()[index].may_run(number)
    }

    /// The content hash of stream `index`'s current version.
    pub fn current_hash(&self, index: usize) -> String {
        self.lock()[index].current().hash.clone()
    }
}

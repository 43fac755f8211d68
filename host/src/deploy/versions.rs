//! One stream's versions: a pure bookkeeping value with no locks, no
//! engine and no clock of its own, so every rule is unit-tested without
//! WebAssembly.
//!
//! - The versions a stream can roll back to form a stack: a deploy pushes,
//!   a rollback pops, the bottom (version 1, the pipeline file's plugin)
//!   is never popped. At most [`MAX_LOADED_VERSIONS`] stay loaded.
//! - At most one shadow candidate runs beside the current version.
//! - The automatic-rollback rule: a deployed version whose batches fail
//!   `rollback_after` times in a row is rolled back ([`StreamVersions::finished`]).
//! - Every change is an event in a bounded log for `sluice history`.
//!
//! `Op` is what a batch calls for a loaded version (the registry uses
//! [`crate::operator::Versioned`]); unloading a version drops it.

use std::collections::VecDeque;

use super::info::{EventInfo, ShadowStats, VersionInfo};
use crate::executor::ShadowReport;
use crate::time::BatchTime;

/// Versions of a stream kept loaded (compiled and pre-instantiated) for
/// rollback; older ones are unloaded and can no longer be rolled back to.
pub const MAX_LOADED_VERSIONS: usize = 8;

/// Events kept per stream for `sluice history`.
pub const MAX_EVENTS: usize = 1000;

/// Where a version came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The pipeline file.
    PipelineFile,
    /// `sluice deploy`.
    Deploy,
    /// `sluice run --watch` saw the file change.
    Watch,
    /// Deployed before a restart, kept by the checkpoint.
    Checkpoint,
}

impl Origin {
    /// How `sluice history` names it.
    pub fn name(self) -> &'static str {
        match self {
            Origin::PipelineFile => "pipeline file",
            Origin::Deploy => "deploy",
            Origin::Watch => "watch",
            Origin::Checkpoint => "checkpoint",
        }
    }
}

/// What a version is to its stream now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionState {
    /// Batches run it.
    Current,
    /// It runs beside the current version; its output is compared, not used.
    Shadow,
    /// On the rollback stack below the current version.
    Previous,
    /// Neither: rolled back from, discarded or unloaded.
    Retired,
}

impl VersionState {
    /// How `sluice status` and `sluice history` name it.
    pub fn name(self) -> &'static str {
        match self {
            VersionState::Current => "current",
            VersionState::Shadow => "shadow",
            VersionState::Previous => "previous",
            VersionState::Retired => "retired",
        }
    }
}

/// One version of a stream's plugin.
#[derive(Debug)]
pub struct Version<Op> {
    /// The stream's version number (1: the pipeline file's plugin).
    pub number: u32,
    /// The plugin's name.
    pub plugin: String,
    /// The component's sha256.
    pub hash: String,
    /// Where it came from.
    pub origin: Origin,
    /// When it was loaded.
    pub loaded_at: BatchTime,
    /// What batches call; `None` once unloaded.
    pub operator: Option<Op>,
    /// The first batch it ran.
    pub first_batch: Option<BatchTime>,
    /// The latest batch it ran.
    pub last_batch: Option<BatchTime>,
    /// Batches it ran.
    pub batches: u64,
    /// Batches in which it failed.
    pub failed_batches: u64,
    /// For a shadow candidate: how it compared.
    pub shadow: Option<ShadowStats>,
}

impl<Op> Version<Op> {
    /// A version that has run no batch yet.
    pub fn new(
        number: u32,
        plugin: String,
        hash: String,
        origin: Origin,
        loaded_at: BatchTime,
        operator: Op,
    ) -> Self {
        Version {
            number,
            plugin,
            hash,
            origin,
            loaded_at,
            operator: Some(operator),
            first_batch: None,
            last_batch: None,
            batches: 0,
            failed_batches: 0,
            shadow: None,
        }
    }

    /// What the control protocol shows of it.
    pub fn info(&self, state: VersionState) -> VersionInfo {
        VersionInfo {
            version: self.number,
            plugin: self.plugin.clone(),
            sha256: self.hash.clone(),
            origin: self.origin.name().to_owned(),
            state: state.name().to_owned(),
            loaded_at: self.loaded_at.0,
            first_batch: self.first_batch.map(|t| t.0),
            last_batch: self.last_batch.map(|t| t.0),
            batches: self.batches,
            failed_batches: self.failed_batches,
            shadow: self.shadow.clone(),
        }
    }

    /// `v2 (split_words, sha256 0123456789ab)`, for messages.
    pub fn label(&self) -> String {
        format!(
            "v{} ({}, sha256 {})",
            self.number,
            self.plugin,
            &self.hash[..self.hash.len().min(12)]
        )
    }

    fn ran(&mut self, batch_time: BatchTime, failed: bool) {
        self.first_batch.get_or_insert(batch_time);
        self.last_batch = Some(batch_time);
        self.batches += 1;
        if failed {
            self.failed_batches += 1;
        }
    }
}

/// How one batch went for a stream's version, for automatic rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The stream had no records: the version was not called.
    Idle,
    /// Every call succeeded (or was retried into success).
    Succeeded,
    /// Its `on_error` policy dropped or dead-lettered records.
    Failed,
}

/// A rollback: the version left and the one now current, as labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledBack {
    /// The version rolled back from.
    pub from: String,
    /// The version now current.
    pub to: String,
}

/// One stream's versions.
#[derive(Debug)]
pub struct StreamVersions<Op> {
    versions: Vec<Version<Op>>,
    /// Indices into `versions`: the rollback stack, current last; never
    /// empty.
    active: Vec<usize>,
    shadow: Option<usize>,
    consecutive_failures: u32,
    events: VecDeque<EventInfo>,
}

impl<Op> StreamVersions<Op> {
    /// A stream whose only version is `first`, current.
    pub fn new(first: Version<Op>, at: BatchTime) -> Self {
        let mut stream = StreamVersions {
            versions: vec![first],
            active: vec![0],
            shadow: None,
            consecutive_failures: 0,
            events: VecDeque::new(),
        };
        let label = stream.versions[0].label();
        let origin = stream.versions[0].origin.name();
        stream.event(at, format!("{label} loaded from the {origin}"));
        stream
    }

    /// The version batches run.
    pub fn current(&self) -> &Version<Op> {
        &self.versions[self.current_index()]
    }

    fn current_index(&self) -> usize {
        self.active[self.active.len() - 1]
    }

    /// The current version, to note its first batch.
    pub fn current_mut(&mut self) -> &mut Version<Op> {
        let index = self.current_index();
        &mut self.versions[index]
    }

    /// The shadow candidate, if one runs.
    pub fn shadow(&self) -> Option<&Version<Op>> {
        self.shadow.map(|i| &self.versions[i])
    }

    /// Version `number`, if the stream has it.
    pub fn get(&self, number: u32) -> Option<&Version<Op>> {
        self.versions.iter().find(|v| v.number == number)
    }

    fn get_mut(&mut self, number: u32) -> Option<&mut Version<Op>> {
        self.versions.iter_mut().find(|v| v.number == number)
    }

    /// The number the next version gets.
    pub fn next_number(&self) -> u32 {
        self.versions.len() as u32 + 1
    }

    /// The version the stream would roll back to.
    pub fn rollback_to(&self) -> Option<u32> {
        (self.active.len() >= 2).then(|| self.versions[self.active[self.active.len() - 2]].number)
    }

    /// Failing batches in a row of the current version.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// What version `number` is to the stream now.
    pub fn state_of(&self, number: u32) -> VersionState {
        let Some(index) = self.versions.iter().position(|v| v.number == number) else {
            return VersionState::Retired;
        };
        if self.active.last() == Some(&index) {
            VersionState::Current
        } else if self.shadow == Some(index) {
            VersionState::Shadow
        } else if self.active.contains(&index) {
            VersionState::Previous
        } else {
            VersionState::Retired
        }
    }

    /// Every version with its state, oldest first.
    pub fn infos(&self) -> Vec<VersionInfo> {
        self.versions
            .iter()
            .map(|v| v.info(self.state_of(v.number)))
            .collect()
    }

    /// What happened, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &EventInfo> {
        self.events.iter()
    }

    /// The latest event's message.
    pub fn last_event(&self) -> Option<&str> {
        self.events.back().map(|e| e.message.as_str())
    }

    /// Logs `message`; the oldest event goes past [`MAX_EVENTS`].
    pub fn event(&mut self, at: BatchTime, message: String) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(EventInfo { at: at.0, message });
    }

    /// The rollback stack, oldest first: the current version last.
    pub fn stack(&self) -> impl Iterator<Item = &Version<Op>> {
        self.active.iter().map(|&i| &self.versions[i])
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = &Version<Op>> {
        self.versions.iter()
    }

    /// Adds `version` (numbered [`Self::next_number`]) and makes it current,
    /// or the shadow candidate (replacing and unloading the previous one);
    /// returns what it now is.
    pub fn add(&mut self, mut version: Version<Op>, shadow: bool, at: BatchTime) -> VersionInfo {
        let index = self.versions.len();
        if shadow {
            version.shadow = Some(ShadowStats::default());
            self.versions.push(version);
            if let Some(old) = self.shadow.replace(index) {
                self.versions[old].operator = None;
            }
            self.versions[index].info(VersionState::Shadow)
        } else {
            self.versions.push(version);
            self.push_current(index, at);
            self.versions[index].info(VersionState::Current)
        }
    }

    /// Makes the shadow candidate current; `None` when there is none.
    pub fn promote(&mut self, at: BatchTime) -> Option<&Version<Op>> {
        let candidate = self.shadow.take()?;
        self.push_current(candidate, at);
        Some(&self.versions[candidate])
    }

    /// Stops shadowing and unloads the candidate; `None` when there is none.
    pub fn discard(&mut self) -> Option<&Version<Op>> {
        let candidate = self.shadow.take()?;
        let version = &mut self.versions[candidate];
        version.operator = None;
        Some(version)
    }

    /// Makes version `index` current (pushing it on the stack), unloading
    /// the oldest past [`MAX_LOADED_VERSIONS`].
    fn push_current(&mut self, index: usize, at: BatchTime) {
        self.active.push(index);
        self.consecutive_failures = 0;
        while self.active.len() > MAX_LOADED_VERSIONS {
            let oldest = self.active.remove(0);
            self.versions[oldest].operator = None;
            let label = self.versions[oldest].label();
            self.event(
                at,
                format!(
                    "{label} unloaded: only the {MAX_LOADED_VERSIONS} latest versions are kept for rollback"
                ),
            );
        }
    }

    /// Pops the current version; the one below becomes current. `None`
    /// when the current version is the only one loaded.
    pub fn roll_back(&mut self) -> Option<RolledBack> {
        if self.active.len() < 2 {
            return None;
        }
        let from = self.active.pop()?;
        self.consecutive_failures = 0;
        Some(RolledBack {
            from: self.versions[from].label(),
            to: self.current().label(),
        })
    }

    /// Records a batch on version `number` and, when it is the current
    /// version, applies the automatic-rollback rule: returns the number of
    /// failing batches in a row once it reaches `rollback_after` (0:
    /// never). The caller then rolls back. An idle batch neither breaks nor
    /// extends a run of failures: it says nothing of the version.
    pub fn finished(
        &mut self,
        batch_time: BatchTime,
        number: u32,
        outcome: BatchOutcome,
        rollback_after: u32,
    ) -> Option<u32> {
        if let Some(ran) = self.get_mut(number) {
            ran.ran(batch_time, outcome == BatchOutcome::Failed);
        }
        if self.current().number != number {
            return None;
        }
        match outcome {
            BatchOutcome::Idle => return None,
            BatchOutcome::Succeeded => {
                self.consecutive_failures = 0;
                return None;
            }
            BatchOutcome::Failed => {}
        }
        self.consecutive_failures += 1;
        (rollback_after > 0 && self.consecutive_failures >= rollback_after)
            .then_some(self.consecutive_failures)
    }

    /// Records a batch that failed outright on version `number` (it was not
    /// delivered) and returns whether to roll back at once: the version is
    /// current and a deployed one may be rolled back (`rollback_after` is
    /// not 0). The caller rolls back and runs the batch again.
    pub fn failed_outright(
        &mut self,
        batch_time: BatchTime,
        number: u32,
        rollback_after: u32,
    ) -> bool {
        if let Some(failed) = self.get_mut(number) {
            failed.ran(batch_time, true);
        }
        rollback_after > 0 && self.current().number == number && self.active.len() >= 2
    }

    /// Records how the shadow candidate did in a batch, beside the current
    /// version's `current_time` on the same input.
    pub fn shadowed(
        &mut self,
        batch_time: BatchTime,
        report: &ShadowReport,
        current_time: std::time::Duration,
    ) {
        let Some(candidate) = self.get_mut(report.version) else {
            return;
        };
        candidate.ran(batch_time, report.failed_calls > 0);
        let stats = candidate.shadow.get_or_insert_with(ShadowStats::default);
        stats.batches += 1;
        stats.calls += report.calls;
        stats.differing_calls += report.differing_calls;
        if report.differing_calls > 0 {
            stats.differing_batches += 1;
        }
        stats.failed_calls += report.failed_calls;
        if report.last_error.is_some() {
            stats.last_error.clone_from(&report.last_error);
        }
        stats.time_ms += report.call_time.as_secs_f64() * 1000.0;
        stats.current_time_ms += current_time.as_secs_f64() * 1000.0;
    }

    /// Whether version `number` ran, or may still run, a batch: it is
    /// current or the shadow candidate.
    pub fn may_run(&self, number: u32) -> bool {
        self.current().number == number || self.shadow().is_some_and(|v| v.number == number)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::BatchOutcome::{Failed, Idle, Succeeded};
    use super::*;

    const T: BatchTime = BatchTime(1_000);

    fn version(number: u32) -> Version<&'static str> {
        Version::new(
            number,
            "split".into(),
            format!("{number:0<64}"),
            if number == 1 {
                Origin::PipelineFile
            } else {
                Origin::Deploy
            },
            T,
            "op",
        )
    }

    fn stream() -> StreamVersions<&'static str> {
        StreamVersions::new(version(1), T)
    }

    fn deploy(stream: &mut StreamVersions<&'static str>) -> u32 {
        let number = stream.next_number();
        stream.add(version(number), false, T);
        number
    }

    #[test]
    fn deploys_push_and_rollbacks_pop_down_to_the_first_version() {
        let mut s = stream();
        assert_eq!(deploy(&mut s), 2);
        assert_eq!(deploy(&mut s), 3);
        assert_eq!(s.current().number, 3);
        assert_eq!(s.rollback_to(), Some(2));
        assert_eq!(s.state_of(2), VersionState::Previous);
        let back = s.roll_back().unwrap();
        assert_eq!(back.from, format!("v3 (split, sha256 {:0<12})", 3));
        assert_eq!(back.to, format!("v2 (split, sha256 {:0<12})", 2));
        assert_eq!(s.state_of(3), VersionState::Retired);
        assert!(s.roll_back().is_some());
        assert_eq!(s.current().number, 1);
        assert_eq!(s.roll_back(), None, "version 1 is never popped");
        assert_eq!(s.current().number, 1);
    }

    #[test]
    fn only_the_latest_versions_stay_loaded() {
        let mut s = stream();
        for _ in 0..MAX_LOADED_VERSIONS {
            deploy(&mut s);
        }
        assert!(s.get(1).unwrap().operator.is_none(), "v1 unloaded");
        assert!(s.get(2).unwrap().operator.is_some());
        assert_eq!(s.state_of(1), VersionState::Retired);
        assert!(
            s.last_event()
                .unwrap()
                .ends_with("unloaded: only the 8 latest versions are kept for rollback")
        );
        for _ in 1..MAX_LOADED_VERSIONS {
            assert!(s.roll_back().is_some());
        }
        assert_eq!(s.current().number, 2, "the oldest loaded version");
        assert_eq!(s.roll_back(), None);
    }

    #[test]
    fn the_current_version_is_rolled_back_after_rollback_after_failures_in_a_row() {
        let mut s = stream();
        deploy(&mut s);
        assert_eq!(s.finished(T, 2, Failed, 3), None);
        assert_eq!(s.finished(T, 2, Failed, 3), None);
        assert_eq!(s.finished(T, 2, Succeeded, 3), None, "a good batch resets");
        assert_eq!(s.consecutive_failures(), 0);
        assert_eq!(s.finished(T, 2, Failed, 3), None);
        assert_eq!(
            s.finished(T, 2, Idle, 3),
            None,
            "an idle batch does not reset"
        );
        assert_eq!(s.finished(T, 2, Failed, 3), None);
        assert_eq!(s.consecutive_failures(), 2);
        assert_eq!(s.finished(T, 2, Idle, 3), None, "nor count as a failure");
        assert_eq!(s.finished(T, 2, Failed, 3), Some(3));
        let v2 = s.get(2).unwrap();
        assert_eq!((v2.batches, v2.failed_batches), (8, 5));
        assert_eq!(
            s.finished(T, 2, Failed, 0),
            None,
            "rollback_after = 0: never"
        );
    }

    #[test]
    fn a_batch_failing_outright_rolls_back_a_deployed_version_at_once() {
        let mut s = stream();
        assert!(!s.failed_outright(T, 1, 3), "nothing below version 1");
        deploy(&mut s);
        assert!(!s.failed_outright(T, 2, 0), "rollback_after = 0: never");
        assert!(s.failed_outright(T, 2, 3));
        assert!(!s.failed_outright(T, 1, 3), "not the current version");
        assert_eq!(s.get(2).unwrap().failed_batches, 2);
        assert_eq!(s.get(1).unwrap().failed_batches, 2);
    }

    #[test]
    fn batches_of_a_version_no_longer_current_do_not_count_towards_rollback() {
        let mut s = stream();
        deploy(&mut s);
        assert_eq!(s.finished(T, 1, Failed, 1), None);
        assert_eq!(s.consecutive_failures(), 0);
        assert_eq!(s.get(1).unwrap().failed_batches, 1);
    }

    #[test]
    fn a_shadow_is_compared_then_promoted_or_discarded() {
        let mut s = stream();
        s.add(version(2), true, T);
        assert_eq!(s.current().number, 1);
        assert_eq!(s.state_of(2), VersionState::Shadow);
        assert!(s.may_run(2));
        let report = ShadowReport {
            version: 2,
            calls: 4,
            differing_calls: 1,
            failed_calls: 0,
            last_error: None,
            call_time: Duration::from_millis(3),
        };
        s.shadowed(T, &report, Duration::from_millis(2));
        s.shadowed(
            T,
            &ShadowReport {
                differing_calls: 0,
                ..report.clone()
            },
            Duration::from_millis(2),
        );
        let stats = s.shadow().unwrap().shadow.clone().unwrap();
        assert_eq!(
            (stats.batches, stats.calls, stats.differing_calls),
            (2, 8, 1)
        );
        assert_eq!(stats.differing_batches, 1);
        assert!((stats.time_ms - 6.0).abs() < 1e-9);
        assert!((stats.current_time_ms - 4.0).abs() < 1e-9);
        assert_eq!(s.promote(T).unwrap().number, 2);
        assert_eq!(s.current().number, 2);
        assert_eq!(s.rollback_to(), Some(1));
        assert!(s.promote(T).is_none());

        s.add(version(3), true, T);
        s.add(version(4), true, T);
        assert!(
            s.get(3).unwrap().operator.is_none(),
            "replaced shadow unloaded"
        );
        assert_eq!(s.discard().unwrap().number, 4);
        assert!(!s.may_run(4));
        assert!(s.discard().is_none());
    }

    #[test]
    fn the_event_log_is_bounded() {
        let mut s = stream();
        for i in 0..MAX_EVENTS + 5 {
            s.event(T, format!("event {i}"));
        }
        assert_eq!(s.events().count(), MAX_EVENTS);
        assert_eq!(s.events().next().unwrap().message, "event 5");
        assert_eq!(
            s.last_event(),
            Some(format!("event {}", MAX_EVENTS + 4).as_str())
        );
    }
}

//! The running pipeline's progress, for `sluice status`: uptime, batches,
//! the batch under way, scheduling and processing delays, what the sources
//! counted and what the windows and per-key states hold.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::source::SourceStats;
use crate::source::kafka::PartitionProgress;
use crate::time::BatchTime;
use crate::window::WindowSize;

/// Progress counters the scheduler updates and the control endpoint reads.
pub struct StatusBoard {
    started: Instant,
    progress: Mutex<Progress>,
    /// Where the web UI listens, once it does.
    ui: std::sync::OnceLock<Option<std::net::SocketAddr>>,
}

/// A copy of the progress counters.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Batches completed.
    pub batches: u64,
    /// Input records over all batches.
    pub input_records: u64,
    /// The batch under way.
    pub running: Option<BatchTime>,
    /// The latest completed batch.
    pub last: Option<BatchTime>,
    /// The latest batch's scheduling delay.
    pub scheduling_delay: Duration,
    /// The largest scheduling delay.
    pub max_scheduling_delay: Duration,
    /// The latest batch's processing time.
    pub processing: Duration,
    /// The largest processing time.
    pub max_processing: Duration,
    /// Each source's name, counters and partitions (Kafka's), as of the
    /// latest batch.
    pub sources: Vec<(String, SourceStats, Vec<PartitionProgress>)>,
    /// Each windowed stream's name and what its window holds, as of the
    /// latest batch.
    pub windows: Vec<(String, WindowSize)>,
    /// Each `update_state_by_key` stream's name and what its state holds,
    /// as of the latest batch.
    pub states: Vec<(String, crate::state::StateSize)>,
    /// The latest batch's checkpoint, in a checkpointed pipeline.
    pub checkpoint: Option<crate::checkpoint::CheckpointReport>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            started: Instant::now(),
            progress: Mutex::new(Progress::default()),
            ui: std::sync::OnceLock::new(),
        }
    }
}

impl StatusBoard {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The web UI listens at `address` (`None`: it does not).
    pub fn ui_started(&self, address: Option<std::net::SocketAddr>) {
        let _ = self.ui.set(address);
    }

    /// Where the web UI listens.
    pub fn ui(&self) -> Option<std::net::SocketAddr> {
        self.ui.get().copied().flatten()
    }

    /// Batch `batch_time` started, `scheduling_delay` late.
    pub fn batch_started(&self, batch_time: BatchTime, scheduling_delay: Duration) {
        let mut p = self.lock();
        p.running = Some(batch_time);
        p.scheduling_delay = scheduling_delay;
        p.max_scheduling_delay = p.max_scheduling_delay.max(scheduling_delay);
    }

    /// Batch `batch_time` completed.
    pub fn batch_finished(
        &self,
        batch_time: BatchTime,
        input_records: usize,
        processing: Duration,
    ) {
        let mut p = self.lock();
        p.running = None;
        p.last = Some(batch_time);
        p.batches += 1;
        p.input_records += input_records as u64;
        p.processing = processing;
        p.max_processing = p.max_processing.max(processing);
    }

    /// The latest batch's checkpoint.
    pub fn checkpointed(&self, checkpoint: Option<crate::checkpoint::CheckpointReport>) {
        self.lock().checkpoint = checkpoint;
    }

    /// The sources' counters after the latest batch's poll.
    pub fn sources_polled(&self, sources: Vec<(String, SourceStats, Vec<PartitionProgress>)>) {
        self.lock().sources = sources;
    }

    /// What the windows and the per-key states hold after the latest
    /// batch.
    pub fn state_kept(
        &self,
        windows: Vec<(String, WindowSize)>,
        states: Vec<(String, crate::state::StateSize)>,
    ) {
        let mut p = self.lock();
        p.windows = windows;
        p.states = states;
    }

    /// The counters now.
    pub fn progress(&self) -> Progress {
        self.lock().clone()
    }

    /// Time since the board was made (the pipeline's start).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

//! The control protocol: one JSON request line (for `deploy`, followed by
//! the component's bytes), answered by one JSON response line.
//!
//! Every type here is shared by the server (the running pipeline) and the
//! client (the `sluice` commands), so both ends agree by construction; the
//! `protocol` number guards against a client of another Sluice version.

use serde::{Deserialize, Serialize};

pub use crate::deploy::info::{EventInfo, ShadowStats, StreamStatus, VersionInfo};

/// The protocol's version; a request of another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line accepted (the JSON header, not the component).
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// What a client sends first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// [`PROTOCOL_VERSION`] of the client.
    pub protocol: u32,
    /// The token, required on the TCP listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The command.
    pub request: Request,
}

/// A command to the running pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// The pipeline's and every stream's state.
    Status,
    /// A new version of a stream's plugin; `size` bytes follow the line.
    Deploy {
        /// The stream.
        stream: String,
        /// The component's file name (its stem names the plugin).
        file_name: String,
        /// How many bytes follow.
        size: u64,
        /// Run it beside the current version instead of replacing it.
        shadow: bool,
        /// Answer after the first batch on the new version, not before.
        wait: bool,
    },
    /// Every version of a stream and what happened to them.
    History {
        /// The stream.
        stream: String,
    },
    /// Back to the version that was current before the current one.
    Rollback {
        /// The stream.
        stream: String,
        /// Answer after the first batch on that version.
        wait: bool,
    },
    /// Make the shadow candidate current.
    Promote {
        /// The stream.
        stream: String,
        /// Answer after the first batch on it.
        wait: bool,
    },
    /// Stop shadowing and drop the candidate.
    Discard {
        /// The stream.
        stream: String,
    },
    /// What plugins printed in the last batches.
    Logs {
        /// Only this stream's (or sink's).
        #[serde(default)]
        stream: Option<String>,
        /// Only this batch's (ms since the epoch).
        #[serde(default)]
        batch_time: Option<i64>,
        /// Only what came after this entry (`--follow`).
        #[serde(default)]
        after: Option<u64>,
    },
    /// Stop the run: after the batch under way, or gracefully (no more
    /// input taken, what was received processed first).
    Stop {
        /// Process what was received before stopping.
        graceful: bool,
    },
}

impl Request {
    /// The command's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Deploy { .. } => "deploy",
            Request::History { .. } => "history",
            Request::Rollback { .. } => "rollback",
            Request::Promote { .. } => "promote",
            Request::Discard { .. } => "discard",
            Request::Logs { .. } => "logs",
            Request::Stop { .. } => "stop",
        }
    }
}

/// The answer to a request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Response {
    /// Done.
    Ok {
        /// What it did or found.
        result: Box<Reply>,
    },
    /// Not done, and why.
    Error {
        /// What went wrong and what to do.
        message: String,
    },
}

/// What a successful request returns.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// For `status`.
    Status(StatusReport),
    /// For `history`.
    History(HistoryReport),
    /// For `deploy`, `rollback`, `promote` and `discard`.
    Changed(ChangeReport),
    /// For `stop`.
    Stopping(StopReport),
    /// For `logs`.
    Logs(LogsReport),
}

/// What plugins printed, for `logs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogsReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// The entries asked for, oldest first.
    pub entries: Vec<crate::plugin::logs::LogEntry>,
    /// The batch times output is kept for (ms since the epoch), oldest
    /// first.
    pub kept_batches: Vec<i64>,
}

/// What a `stop` asked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StopReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// One sentence: how it stops.
    pub message: String,
}

/// The pipeline and its streams.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// The process id.
    pub pid: u32,
    /// Time since start, in milliseconds.
    pub uptime_ms: u64,
    /// The batch interval, in milliseconds.
    pub batch_interval_ms: u64,
    /// Batches completed.
    pub batches: u64,
    /// Input records over all batches.
    pub input_records: u64,
    /// The batch being processed (batch time, ms since the epoch).
    pub running_batch: Option<i64>,
    /// The latest completed batch.
    pub last_batch: Option<i64>,
    /// The latest batch's scheduling delay (how late it started), ms.
    pub scheduling_delay_ms: f64,
    /// The largest scheduling delay so far, ms.
    pub max_scheduling_delay_ms: f64,
    /// The latest batch's processing time, ms.
    pub processing_ms: f64,
    /// The largest processing time so far, ms.
    pub max_processing_ms: f64,
    /// Each stream, in plan order.
    pub streams: Vec<StreamStatus>,
    /// Each source's counters, in plan order.
    #[serde(default)]
    pub sources: Vec<SourceStatus>,
    /// What the sources may hold between batches, together
    /// (`source_memory_mib`), in bytes.
    #[serde(default)]
    pub source_memory_bytes: u64,
    /// The latest batch's checkpoint, in a checkpointed pipeline.
    #[serde(default)]
    pub checkpoint: Option<crate::checkpoint::CheckpointReport>,
    /// What each windowed stream's window holds, in plan order.
    #[serde(default)]
    pub windows: Vec<WindowStatus>,
    /// What each `update_state_by_key` stream's state holds, in plan order.
    #[serde(default)]
    pub states: Vec<StateStatus>,
    /// Where the web UI and `/metrics` listen (`http://HOST:PORT/`).
    #[serde(default)]
    pub ui: Option<String>,
}

/// What an `update_state_by_key` stream's state holds after the latest
/// batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateStatus {
    /// The stream.
    pub stream: String,
    /// Keys and bytes held, changes since the last snapshot.
    #[serde(flatten)]
    pub size: crate::state::StateSize,
}

/// What a windowed stream's window holds after the latest batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowStatus {
    /// The stream.
    pub stream: String,
    /// Batches, records and bytes held.
    #[serde(flatten)]
    pub size: crate::window::WindowSize,
}

/// A source's counters in a status report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceStatus {
    /// The source's name.
    pub source: String,
    /// Its counters.
    #[serde(flatten)]
    pub stats: crate::source::SourceStats,
    /// A Kafka source's partitions: offset and lag.
    #[serde(default)]
    pub partitions: Vec<crate::source::kafka::PartitionProgress>,
}

/// A stream's versions and what happened to them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryReport {
    /// The stream.
    pub stream: String,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// What happened, oldest first.
    pub events: Vec<EventInfo>,
}

/// What a `deploy`, `rollback`, `promote` or `discard` did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangeReport {
    /// The stream.
    pub stream: String,
    /// One sentence: what changed.
    pub message: String,
    /// The version now current (or shadowed, for a shadow deploy).
    pub version: VersionInfo,
    /// Compile and check time of a new version, ms.
    pub check_ms: Option<f64>,
    /// The first batch on the version, when the client waited for it.
    pub first_batch: Option<FirstBatch>,
}

/// The first batch a version ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FirstBatch {
    /// Its batch time.
    pub batch_time: i64,
    /// From the version becoming current to the batch's end, ms.
    pub after_ms: f64,
    /// The batch's processing time, ms.
    pub processing_ms: f64,
    /// Whether the stream's calls all succeeded in it.
    pub ok: bool,
}

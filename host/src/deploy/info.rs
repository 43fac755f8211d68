//! What the registry tells about a stream's versions: the values that
//! `sluice status` and `sluice history` show. They belong to `deploy`; the
//! control protocol ([`crate::control::protocol`]) carries them as they are.

use serde::{Deserialize, Serialize};

/// One stream's versions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamStatus {
    /// The stream's name.
    pub stream: String,
    /// Its operator (`map`, …).
    pub op: String,
    /// The version its batches run.
    pub current: VersionInfo,
    /// The shadow candidate, if any.
    pub shadow: Option<VersionInfo>,
    /// Versions the stream can roll back to.
    pub rollback_to: Option<u32>,
    /// Consecutive failing batches of the current version.
    pub consecutive_failures: u32,
    /// Failing batches after which a deployed version is rolled back.
    pub rollback_after: u32,
}

/// One version of a stream's plugin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The stream's version number (1: the pipeline file's plugin).
    pub version: u32,
    /// The plugin's name.
    pub plugin: String,
    /// The component's sha256.
    pub sha256: String,
    /// Where it came from: `pipeline file`, `deploy`, `watch`,
    /// `checkpoint`.
    pub origin: String,
    /// `current`, `previous` (can be rolled back to), `shadow`, `retired`.
    pub state: String,
    /// When it was loaded, ms since the epoch.
    pub loaded_at: i64,
    /// The first batch it ran.
    pub first_batch: Option<i64>,
    /// The latest batch it ran.
    pub last_batch: Option<i64>,
    /// Batches it ran (for a shadow: batches it was compared on).
    pub batches: u64,
    /// Batches in which it failed (a call failed and the batch was
    /// degraded or not delivered).
    pub failed_batches: u64,
    /// For a shadow candidate: how it compared.
    pub shadow: Option<ShadowStats>,
}

/// How a shadow candidate compared with the current version.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShadowStats {
    /// Batches it ran on.
    pub batches: u64,
    /// Batches where some output differed.
    pub differing_batches: u64,
    /// Calls compared.
    pub calls: u64,
    /// Calls whose output differed.
    pub differing_calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// The latest failure.
    pub last_error: Option<String>,
    /// Time in its calls, ms.
    pub time_ms: f64,
    /// Time in the current version's calls on the same batches, ms.
    pub current_time_ms: f64,
}

/// Something that happened to a stream's versions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventInfo {
    /// When, ms since the epoch.
    pub at: i64,
    /// What.
    pub message: String,
}

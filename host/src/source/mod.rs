//! Sources: where lines come from.
//!
//! A [`Source`] is polled once per batch, at the batch's time, and returns
//! every record that arrived since the previous poll as unkeyed text
//! batches, cut by size as it decodes where it can (see
//! [`crate::partition`]); the scheduler evens them out into the batch's
//! input partitions.
//! Sources are owned by the host and never touched by plugins.
//!
//! - [`files`]: new files in a directory (`textFileStream`).
//! - [`socket`]: lines from a TCP server (`socketTextStream`).
//! - [`lines`]: splitting bytes into lines under a UTF-8 policy.

pub mod files;
pub mod lines;
pub mod socket;

use crate::batch::Batch;
use crate::error::Error;
use crate::partition::Partitioning;
use crate::plan::{SourceSpec, SourceSpecKind};
use crate::time::BatchTime;

/// Counters a source keeps, for logs, `sluice status` and the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SourceStats {
    /// Lines delivered.
    pub lines: u64,
    /// Lines whose invalid UTF-8 was replaced.
    pub replaced_lines: u64,
    /// Lines dropped for invalid UTF-8.
    pub skipped_lines: u64,
    /// Lines longer than `max_line_bytes` (split, or dropped under
    /// `long_lines = "skip"`).
    pub long_lines: u64,
    /// Files read (file sources).
    pub files: u64,
    /// Files skipped because they could not be read, after retries.
    pub unreadable_files: u64,
    /// Files that vanished between being listed and read.
    pub vanished_files: u64,
    /// Entries of the directory that are no regular file (FIFOs, devices,
    /// links to them), skipped.
    pub special_files: u64,
    /// Times a socket source stopped reading because its buffer was full.
    pub buffer_full: u64,
}

impl SourceStats {
    /// Lines or files skipped or changed, and buffer stalls: what a user
    /// should look at.
    pub fn problems(&self) -> u64 {
        self.replaced_lines
            + self.skipped_lines
            + self.long_lines
            + self.unreadable_files
            + self.vanished_files
            + self.special_files
            + self.buffer_full
    }
}

/// Something that produces lines for batches.
pub trait Source: Send {
    /// The records that arrived since the previous poll, in order, in
    /// batches of about [`Partitioning::chunk_bytes`] where the source can
    /// cut them as it decodes.
    ///
    /// # Errors
    ///
    /// When the source cannot go on (its directory vanished, a line broke
    /// the `fail` UTF-8 policy, …); the error names the source.
    fn poll(
        &mut self,
        batch_time: BatchTime,
        partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error>;

    /// Counters so far.
    fn stats(&self) -> SourceStats;

    /// Stops taking in input, for a graceful stop: what was received
    /// before stays for the next polls, nothing new is added.
    ///
    /// # Errors
    ///
    /// When the source cannot tell what it has received (its directory
    /// cannot be listed).
    fn stop_receiving(&mut self) -> Result<(), Error>;

    /// Whether input that was received still waits for a poll.
    fn has_pending(&self) -> bool;
}

/// Opens the source `spec` describes. Socket sources start their reader on
/// the current tokio runtime.
///
/// # Errors
///
/// When the source cannot start, e.g. its directory does not exist.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn Source>, Error> {
    Ok(match &spec.kind {
        SourceSpecKind::Files {
            dir,
            include_existing,
            max_files_per_batch,
            max_batch_bytes,
        } => Box::new(
            files::FilesSource::open(&spec.name, dir, *include_existing, spec.lines)?
                .with_max_files_per_batch(*max_files_per_batch)
                .with_max_batch_bytes(*max_batch_bytes),
        ),
        SourceSpecKind::Socket {
            host,
            port,
            buffer_bytes,
            max_rate,
        } => Box::new(socket::SocketSource::start(
            &spec.name,
            host.clone(),
            *port,
            spec.lines,
            socket::Pace {
                buffer_bytes: *buffer_bytes,
                max_rate: *max_rate,
            },
        )),
    })
}

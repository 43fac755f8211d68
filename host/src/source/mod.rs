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
//! - [`kafka`]: records of Kafka topics (`createDirectStream`).
//! - [`lines`]: splitting bytes into lines under a UTF-8 policy.
//! - [`file_runs`]: reading and decoding a batch's files on several threads.
//!
//! A source that can be checkpointed (see [`crate::checkpoint`]) also says
//! what it has read so far ([`SourcePosition`]) and what its last poll read
//! ([`SourceInput`]), and reads that same input again when a batch that was
//! in flight at a crash is run again.

pub mod file_runs;
pub mod files;
pub mod kafka;
pub mod lines;
pub mod rate_estimator;
pub mod socket;
pub mod wal;

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
    /// Bytes a socket source held when the latest batch took its lines.
    pub held_bytes: u64,
    /// The lines a second a socket source reads at most now (`max_rate`,
    /// or what backpressure set); 0 for no limit.
    pub rate_limit: u64,
    /// Records a Kafka source has not read yet (the partitions' high
    /// watermarks less its offsets) at its latest poll.
    pub lag: u64,
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

/// A file's name as the file system spells it: text when it is UTF-8,
/// its bytes otherwise, so a checkpoint names every file exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum FileName {
    /// A UTF-8 name.
    Text(String),
    /// Any other name, byte for byte.
    Bytes(Vec<u8>),
}

impl FileName {
    /// The name of `name`.
    pub fn of(name: &std::ffi::OsStr) -> Self {
        match name.to_str() {
            Some(text) => FileName::Text(text.to_owned()),
            None => FileName::Bytes(std::os::unix::ffi::OsStrExt::as_bytes(name).to_vec()),
        }
    }

    /// The name as the file system takes it.
    pub fn to_os_string(&self) -> std::ffi::OsString {
        match self {
            FileName::Text(text) => text.into(),
            FileName::Bytes(bytes) => {
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes).to_owned()
            }
        }
    }
}

/// What a source has read so far: enough for a restarted pipeline to go on
/// where it stopped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourcePosition {
    /// A `files` source: every name it read or gave up on (and, without
    /// `include_existing`, those present when it first started).
    Files {
        /// The names, sorted.
        done: Vec<FileName>,
    },
    /// A `socket` source: where the next batch starts in its write-ahead
    /// log.
    Socket {
        /// The log offset.
        offset: u64,
    },
    /// A `kafka` source: where each partition's next batch starts.
    Kafka {
        /// Per partition, the next offset.
        offsets: Vec<kafka::PartitionOffset>,
    },
}

/// A file a `files` source read into a batch, and how to tell it was
/// replaced since.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TakenFile {
    /// Its name.
    pub name: FileName,
    /// The bytes read.
    pub size: u64,
    /// Its inode when read (0 when unknown).
    #[serde(default)]
    pub inode: u64,
    /// Its modification time when read, ns since the epoch (0 when
    /// unknown).
    #[serde(default)]
    pub modified_ns: i64,
}

/// What one poll of a source read: enough to read it again.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceInput {
    /// A `files` source: the files, in the order they were read.
    Files {
        /// Each file read, in order.
        files: Vec<TakenFile>,
    },
    /// A `socket` source: the range of its write-ahead log.
    Socket {
        /// The offset of the first line.
        from: u64,
        /// The offset after the last.
        to: u64,
    },
    /// A `kafka` source: the offsets read from each partition.
    Kafka {
        /// One range per partition.
        ranges: Vec<kafka::OffsetRange>,
    },
}

/// The error of a source whose checkpoint holds another kind of source
/// under its name.
pub fn other_kind_in_checkpoint(name: &str) -> Error {
    Error::Source {
        source_name: name.to_owned(),
        message: "the checkpoint holds another kind of source under this name; run with `--fresh` to start over".into(),
        kind: crate::error::ErrorKind::User,
    }
}

/// How a batch went, for a source that adapts its rate to it.
#[derive(Clone, Copy, Debug)]
pub struct BatchReport {
    /// The batch.
    pub batch_time: BatchTime,
    /// The records this source gave it.
    pub records: u64,
    /// How long the batch took.
    pub processing: std::time::Duration,
    /// How long it waited to start.
    pub scheduling_delay: std::time::Duration,
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

    /// Whether the source holds back input its sender has sent (a socket
    /// source pacing its reads to keep to its rate): a batch that got
    /// nothing meanwhile is not idle for `--stop-when-idle`, as more is
    /// on its way. The default: never.
    fn holds_back_input(&self) -> bool {
        false
    }

    /// Learns how the latest batch went (a source with backpressure
    /// adapts its rate); the default ignores it.
    fn batch_completed(&mut self, batch: &BatchReport) {
        let _ = batch;
    }

    /// The offsets the latest poll consumed, for a transactional Kafka sink
    /// to commit with the batch's output; `None` for sources that are not
    /// Kafka's, and for a poll that read nothing.
    fn consumed_offsets(&self) -> Option<crate::kafka::ConsumedOffsets> {
        None
    }

    /// Where each partition of a partitioned source (Kafka) stands, for
    /// `sluice status`; empty for the others.
    fn partitions(&self) -> Vec<kafka::PartitionProgress> {
        Vec::new()
    }

    /// What the source has read so far, for a checkpoint; `None` for a
    /// source that cannot be checkpointed.
    fn position(&self) -> Option<SourcePosition> {
        None
    }

    /// What the last [`Source::poll`] read, for a checkpoint; `None` for a
    /// source that cannot be checkpointed.
    fn last_input(&self) -> Option<SourceInput> {
        None
    }

    /// Goes on from `position`, read from a checkpoint, as if this source
    /// had read everything it names.
    ///
    /// # Errors
    ///
    /// When `position` is not this kind of source's, or the source cannot
    /// tell what it holds now.
    fn restore(&mut self, position: &SourcePosition) -> Result<(), Error> {
        let _ = position;
        Err(Error::Internal("this source cannot be checkpointed".into()))
    }

    /// Reads `input` again: the input of a batch that was in flight when
    /// the pipeline stopped, so that running it again gives what it gave.
    ///
    /// # Errors
    ///
    /// As [`Source::poll`].
    fn replay(
        &mut self,
        input: &SourceInput,
        batch_time: BatchTime,
        partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        let _ = (input, batch_time, partitioning);
        Err(Error::Internal("this source cannot be checkpointed".into()))
    }
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
            backpressure,
            wal,
        } => {
            let wal = match wal {
                Some((dir, sync)) => {
                    Some(wal::Wal::open(dir, *sync).map_err(|e| Error::Source {
                        source_name: spec.name.clone(),
                        message: format!(
                            "cannot open its write-ahead log in {}: {e}",
                            dir.display()
                        ),
                        kind: crate::error::ErrorKind::External,
                    })?)
                }
                None => None,
            };
            Box::new(socket::SocketSource::start(
                &spec.name,
                host.clone(),
                *port,
                spec.lines,
                socket::Pace {
                    buffer_bytes: *buffer_bytes,
                    max_rate: *max_rate,
                    backpressure: *backpressure,
                },
                wal,
            ))
        }
        SourceSpecKind::Kafka(settings) => {
            Box::new(kafka::KafkaSource::open(&spec.name, settings, spec.lines)?)
        }
    })
}

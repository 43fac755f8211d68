//! What `sluice replay` re-runs: each plugin stream's calls of its last
//! batches — every call's input and output, as the stream saw them — kept
//! in the pipeline's `state_dir`.
//!
//! Layout: `<state_dir>/batches/<stream>/<batch time>/` holds `meta.json`
//! (the plugin, sha256 and version that ran) and one `p<partition>-<phase>`
//! file per call: the call's input batch then its output batch, in the
//! checkpoints' column layout ([`crate::checkpoint::columns`]). A stream
//! keeps its last `keep_batches` batch times (default
//! [`DEFAULT_KEEP_BATCHES`]); one stream's batch keeps at most
//! `keep_batch_mib` (default [`DEFAULT_KEEP_BATCH_MIB`]): past that, its
//! calls are removed and an `over-limit` file says why.
//!
//! Keeping is diagnostics, not delivery: the calls are written by a thread
//! of their own, so a batch never waits for the disk (past 64 MiB waiting,
//! a batch is not kept); a write that fails (a full disk) is logged once
//! and the batch goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::batch::{Batch, RecordType};
use crate::checkpoint::columns::{Decoder, Encoder};
use crate::error::Phase;
use crate::time::BatchTime;

/// Batches each plugin stream keeps unless `keep_batches` says.
pub const DEFAULT_KEEP_BATCHES: usize = 3;

/// What one stream keeps of one batch unless `keep_batch_mib` says, MiB:
/// small, since keeping costs a copy and a write of everything kept
/// (measured by `cargo bench --bench observability`: with 2 MB batches all
/// kept, +40–50 % processing time on 2 cores).
pub const DEFAULT_KEEP_BATCH_MIB: usize = 1;

/// The file saying a batch was too big to keep.
const OVER_LIMIT: &str = "over-limit";

/// The file describing a kept batch.
const META: &str = "meta.json";

/// What each stream keeps (`keep_batches`, `keep_batch_mib`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepSpec {
    /// Batch times kept per stream; 0 keeps nothing.
    pub batches: usize,
    /// The most one stream keeps of one batch, in bytes.
    pub batch_bytes: usize,
}

/// Which version of a stream's plugin ran a kept batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVersion {
    /// The plugin's name.
    pub plugin: String,
    /// Its sha256.
    pub hash: String,
    /// The stream's version number.
    pub version: u32,
}

/// One kept call.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptCall {
    /// The partition.
    pub partition: usize,
    /// Which of the stream's calls.
    pub phase: Phase,
    /// What the stream handed the call.
    pub input: Batch,
    /// What the stream got from it.
    pub output: Batch,
}

/// The short name of `phase` in file names.
fn phase_tag(phase: Phase) -> &'static str {
    match phase {
        Phase::Only => "only",
        Phase::BeforeExchange => "before",
        Phase::AfterExchange => "after",
        Phase::Window => "window",
        Phase::Uncombine => "uncombine",
        Phase::Sink => "sink",
    }
}

/// Every phase, in the order a batch runs them.
const PHASES: [Phase; 6] = [
    Phase::Only,
    Phase::BeforeExchange,
    Phase::AfterExchange,
    Phase::Uncombine,
    Phase::Window,
    Phase::Sink,
];

fn phase_of(tag: &str) -> Option<Phase> {
    PHASES.into_iter().find(|&phase| phase_tag(phase) == tag)
}

fn phase_rank(phase: Phase) -> usize {
    PHASES
        .iter()
        .position(|&p| p == phase)
        .unwrap_or(PHASES.len())
}

/// The directory of `stream`'s kept batches under `state_dir`.
pub fn stream_dir(state_dir: &Path, stream: &str) -> PathBuf {
    state_dir.join("batches").join(stream)
}

/// How much of each (stream, batch) is kept so far.
enum Used {
    Bytes(usize),
    Over,
}

/// The most encoded bytes waiting for the writer; past that a batch is not
/// kept rather than the batch waiting for the disk.
const MAX_IN_FLIGHT_BYTES: usize = 64 << 20;

/// What the writer thread is asked to do.
enum Job {
    /// Write one call (and, for a batch's first, its directory and meta).
    Call {
        stream: String,
        batch_time: BatchTime,
        name: String,
        first: Option<KeptVersion>,
        bytes: Vec<u8>,
    },
    /// Say a batch is not kept, and why.
    NotKept {
        stream: String,
        batch_time: BatchTime,
        message: String,
    },
}

/// Keeps the calls of the running pipeline's plugin streams: the batch's
/// worker encodes a call (a copy, counted against `keep_batch_mib` before
/// it is made) and a writer thread puts it on disk, so the batch does not
/// wait for the disk.
pub struct BatchRecorder {
    keep: KeepSpec,
    used: Mutex<HashMap<(String, i64), Used>>,
    in_flight: Arc<AtomicUsize>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl BatchRecorder {
    /// A recorder for pipeline `pipeline`, writing under `state_dir`, or
    /// none when `keep` keeps nothing (or its writer cannot start).
    pub fn new(pipeline: &str, state_dir: &Path, keep: KeepSpec) -> Option<Self> {
        if keep.batches == 0 {
            return None;
        }
        let (jobs, queue) = std::sync::mpsc::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            pipeline: pipeline.to_owned(),
            state_dir: state_dir.to_owned(),
            keep,
            in_flight: in_flight.clone(),
            warned: false,
        };
        let writer = std::thread::Builder::new()
            .name("sluice-replay-writer".into())
            .spawn(move || writer.run(&queue))
            .map_err(|e| tracing::warn!(pipeline, error = %e, "cannot start the writer of kept batches: none is kept"))
            .ok()?;
        Some(BatchRecorder {
            keep,
            used: Mutex::new(HashMap::new()),
            in_flight,
            jobs: Some(jobs),
            writer: Some(writer),
        })
    }

    /// Keeps one call of `stream` in batch `batch_time`: its `input` and
    /// `output`, made by `version`.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        stream: &str,
        batch_time: BatchTime,
        partition: usize,
        phase: Phase,
        version: &KeptVersion,
        input: &Batch,
        output: &Batch,
    ) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        // Counted before anything is copied: a batch too big costs nothing.
        let size = input.byte_size() + output.byte_size();
        let refusal = |message: String| Job::NotKept {
            stream: stream.to_owned(),
            batch_time,
            message,
        };
        let first = {
            let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (stream.to_owned(), batch_time.0);
            let first = !used.contains_key(&key);
            if first {
                used.retain(|(s, t), _| s != stream || *t >= batch_time.0);
            }
            let entry = used.entry(key).or_insert(Used::Bytes(0));
            let behind = self.in_flight.load(Ordering::Relaxed) + size > MAX_IN_FLIGHT_BYTES;
            match entry {
                Used::Over => return,
                Used::Bytes(total) if *total + size > self.keep.batch_bytes => {
                    *entry = Used::Over;
                    let _ = jobs.send(refusal(format!(
                        "stream `{stream}` of batch {batch_time} was not kept: it was over keep_batch_mib = {} MiB; raise keep_batch_mib to replay batches this big",
                        self.keep.batch_bytes >> 20
                    )));
                    return;
                }
                Used::Bytes(_) if behind => {
                    *entry = Used::Over;
                    let _ = jobs.send(refusal(format!(
                        "stream `{stream}` of batch {batch_time} was not kept: the disk fell behind (over {} MiB waiting to be written)",
                        MAX_IN_FLIGHT_BYTES >> 20
                    )));
                    return;
                }
                Used::Bytes(total) => *total += size,
            }
            first
        };
        let mut encoder = Encoder::default();
        encoder.batch(input);
        encoder.batch(output);
        let bytes = encoder.bytes;
        self.in_flight.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = jobs.send(Job::Call {
            stream: stream.to_owned(),
            batch_time,
            name: format!("p{partition}-{}", phase_tag(phase)),
            first: first.then(|| version.clone()),
            bytes,
        });
    }
}

impl Drop for BatchRecorder {
    /// Waits for what was handed to the writer to be written.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread's side.
struct Writer {
    pipeline: String,
    state_dir: PathBuf,
    keep: KeepSpec,
    in_flight: Arc<AtomicUsize>,
    warned: bool,
}

impl Writer {
    fn run(mut self, queue: &std::sync::mpsc::Receiver<Job>) {
        while let Ok(job) = queue.recv() {
            match job {
                Job::Call {
                    stream,
                    batch_time,
                    name,
                    first,
                    bytes,
                } => {
                    let size = bytes.len();
                    let dir = self.batch_dir(&stream, batch_time);
                    let written = (|| -> std::io::Result<()> {
                        if let Some(version) = &first {
                            std::fs::create_dir_all(&dir)?;
                            let meta =
                                serde_json::to_vec(version).map_err(std::io::Error::other)?;
                            std::fs::write(dir.join(META), meta)?;
                            self.prune(&stream, batch_time)?;
                        }
                        std::fs::write(dir.join(&name), bytes)
                    })();
                    self.in_flight.fetch_sub(size, Ordering::Relaxed);
                    if let Err(e) = written {
                        self.warn(&stream, batch_time, &e);
                    }
                }
                Job::NotKept {
                    stream,
                    batch_time,
                    message,
                } => {
                    tracing::debug!(pipeline = %self.pipeline, "{message}");
                    if let Err(e) = self.not_kept(&stream, batch_time, &message) {
                        self.warn(&stream, batch_time, &e);
                    }
                }
            }
        }
    }

    fn batch_dir(&self, stream: &str, batch_time: BatchTime) -> PathBuf {
        stream_dir(&self.state_dir, stream).join(batch_time.0.to_string())
    }

    /// Drops what was kept of a batch that cannot be, and says why.
    fn not_kept(&self, stream: &str, batch_time: BatchTime, message: &str) -> std::io::Result<()> {
        let dir = self.batch_dir(stream, batch_time);
        if dir.is_dir() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.file_name().is_some_and(|n| n != META) {
                    std::fs::remove_file(path)?;
                }
            }
        } else {
            std::fs::create_dir_all(&dir)?;
            self.prune(stream, batch_time)?;
        }
        std::fs::write(dir.join(OVER_LIMIT), message)
    }

    /// Removes `stream`'s batches but the last `keep_batches` (the one at
    /// `batch_time` among them).
    fn prune(&self, stream: &str, batch_time: BatchTime) -> std::io::Result<()> {
        let mut times = kept_times(&self.state_dir, stream)?;
        times.retain(|&t| t <= batch_time.0);
        let excess = times.len().saturating_sub(self.keep.batches);
        for time in &times[..excess] {
            std::fs::remove_dir_all(stream_dir(&self.state_dir, stream).join(time.to_string()))?;
        }
        Ok(())
    }

    fn warn(&mut self, stream: &str, batch_time: BatchTime, error: &std::io::Error) {
        if !std::mem::replace(&mut self.warned, true) {
            tracing::warn!(pipeline = %self.pipeline, %stream, %batch_time, error = %error, dir = %self.state_dir.join("batches").display(), "cannot keep batches for `sluice replay` (the batches go on; said once); free disk space or set keep_batches = 0");
        }
    }
}

/// The batch times `stream` keeps, oldest first.
///
/// # Errors
///
/// When its directory exists but cannot be read.
pub fn kept_times(state_dir: &Path, stream: &str) -> std::io::Result<Vec<i64>> {
    let dir = stream_dir(state_dir, stream);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut times: Vec<i64> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    times.sort_unstable();
    Ok(times)
}

/// A kept batch of one stream, read back.
#[derive(Clone, Debug)]
pub struct KeptBatch {
    /// The version that ran it.
    pub version: KeptVersion,
    /// Its calls, in the order they ran (by phase, then partition).
    pub calls: Vec<KeptCall>,
}

/// Reads `stream`'s kept batch `batch_time`; `types` gives the record
/// types of a call's input and output for its phase.
///
/// # Errors
///
/// A message saying what is kept instead, or why the batch cannot be read.
pub fn read(
    state_dir: &Path,
    stream: &str,
    batch_time: BatchTime,
    types: impl Fn(Phase) -> (RecordType, RecordType),
) -> Result<KeptBatch, String> {
    let dir = stream_dir(state_dir, stream).join(batch_time.0.to_string());
    if !dir.is_dir() {
        let kept = kept_times(state_dir, stream).unwrap_or_default();
        let kept = if kept.is_empty() {
            "none is kept (keep_batches = 0, or no batch brought it records yet)".to_owned()
        } else {
            let times: Vec<String> = kept.iter().map(|&t| BatchTime(t).to_string()).collect();
            format!("kept: {}", times.join(", "))
        };
        return Err(format!(
            "stream `{stream}` keeps no batch {batch_time} in {}; {kept}",
            dir.parent().unwrap_or(&dir).display()
        ));
    }
    if let Ok(message) = std::fs::read_to_string(dir.join(OVER_LIMIT)) {
        return Err(message);
    }
    let bad = |what: &str, e: &dyn std::fmt::Display| format!("{what} in {}: {e}", dir.display());
    let meta = std::fs::read(dir.join(META)).map_err(|e| bad(META, &e))?;
    let version: KeptVersion = serde_json::from_slice(&meta).map_err(|e| bad(META, &e))?;
    let mut calls = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| bad("the batch", &e))? {
        let path = entry.map_err(|e| bad("the batch", &e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((partition, phase)) = name
            .strip_prefix('p')
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(p, tag)| Some((p.parse::<usize>().ok()?, phase_of(tag)?)))
        else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| bad(name, &e))?;
        let (input_type, output_type) = types(phase);
        let mut decoder = Decoder::new(&bytes);
        let input = decoder.batch(input_type).map_err(|e| bad(name, &e))?;
        let output = decoder.batch(output_type).map_err(|e| bad(name, &e))?;
        calls.push(KeptCall {
            partition,
            phase,
            input,
            output,
        });
    }
    // In the order they ran: a reducer's map-side combines, then its final
    // ones; by partition within each.
    calls.sort_by_key(|call| (phase_rank(call.phase), call.partition));
    Ok(KeptBatch { version, calls })
}

/// The bytes a batch is kept as, to compare outputs byte for byte.
pub fn encoded(batch: &Batch) -> Vec<u8> {
    let mut encoder = Encoder::default();
    encoder.batch(batch);
    encoder.bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Column, ValueType, Varlen};

    fn texts(words: &[&str]) -> Batch {
        let mut varlen = Varlen::with_capacity(words.len(), 0);
        for word in words {
            varlen.push(word.as_bytes());
        }
        Batch {
            keys: None,
            values: Column::Varlen(varlen),
        }
    }

    #[test]
    fn calls_are_kept_for_the_last_batches_and_a_batch_over_the_limit_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let keep = KeepSpec {
            batches: 2,
            batch_bytes: 200,
        };
        let version = KeptVersion {
            plugin: "split".into(),
            hash: "ab".into(),
            version: 1,
        };
        let recorder = BatchRecorder::new("p", dir.path(), keep).unwrap();
        for time in [1_000, 2_000, 3_000] {
            let (input, output) = (texts(&["a b"]), texts(&["a", "b"]));
            recorder.record(
                "words",
                BatchTime(time),
                1,
                Phase::Only,
                &version,
                &input,
                &output,
            );
        }
        let big = texts(&["x".repeat(300).as_str()]);
        recorder.record(
            "words",
            BatchTime(4_000),
            0,
            Phase::Only,
            &version,
            &big,
            &big,
        );
        // Dropping it waits for its writer.
        drop(recorder);
        assert_eq!(kept_times(dir.path(), "words").unwrap(), [3_000, 4_000]);
        let text = RecordType {
            key: None,
            value: ValueType::Text,
        };
        let kept = read(dir.path(), "words", BatchTime(3_000), |_| (text, text)).unwrap();
        assert_eq!(kept.version, version);
        assert_eq!(
            kept.calls,
            [KeptCall {
                partition: 1,
                phase: Phase::Only,
                input: texts(&["a b"]),
                output: texts(&["a", "b"]),
            }]
        );
        let refused = read(dir.path(), "words", BatchTime(4_000), |_| (text, text)).unwrap_err();
        assert!(
            refused.contains("was over keep_batch_mib = 0 MiB"),
            "{refused}"
        );
        let missing = read(dir.path(), "words", BatchTime(1_000), |_| (text, text)).unwrap_err();
        assert!(missing.contains("keeps no batch"), "{missing}");
        assert!(BatchRecorder::new("p", dir.path(), KeepSpec { batches: 0, ..keep }).is_none());
    }
}

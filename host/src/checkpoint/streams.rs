//! What stateful and windowed streams keep, in checkpoints.
//!
//! Each such stream has a directory `<checkpoint>/streams/<name>/`:
//!
//! - a window writes each batch's *partial* once, when the batch enters
//!   the window (`partial-<ms>`), since partials never change; its `.done`
//!   record lists those still in the window, and one whose batch left is
//!   removed once no kept checkpoint lists it. A window with an inverse
//!   reducer also writes its *totals* whole at each batch (`totals-<ms>`):
//!   they change with every batch's keys.
//! - a keyed state writes a full snapshot (`base-<ms>`) first, then at each
//!   batch only what changed (`changes-<ms>`: keys removed, rows changed),
//!   and a new full snapshot once the changes written since the last one
//!   outweigh it or number [`MAX_CHANGES`], so writing a state with 1 % of
//!   its keys changed costs about 1 % of a full one, and restoring reads at
//!   most one full snapshot and that many changes.
//!
//! The `.done` record of a batch names, per stream, the files that give its
//! state ([`StreamRecord`]), with what must not change for them to be read
//! back: the window's length and slide, the state's records and buckets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::columns::{Decoder, Encoder};
use super::store;
use crate::executor::Kept;
use crate::plan::StreamSpec;
use crate::state::KeyedState;
use crate::time::BatchTime;

/// The most change snapshots between two full ones.
pub const MAX_CHANGES: usize = 64;

/// Where a stream's state is, in one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamRecord {
    /// A window: its partials and totals.
    Window {
        /// The window's length (ms) when written.
        length_ms: u64,
        /// Its slide (ms).
        slide_ms: u64,
        /// The batch times of the partials in the window, oldest first.
        partials: Vec<i64>,
        /// The batch time of its totals file, when it keeps totals.
        totals: Option<i64>,
    },
    /// A keyed state: a full snapshot and the changes after it.
    State {
        /// The (key, state) record type, as `check` prints it.
        record_type: String,
        /// Its buckets.
        buckets: usize,
        /// The batch time of the full snapshot.
        base: i64,
        /// The batch times of the change snapshots after it, in order.
        changes: Vec<i64>,
    },
}

impl StreamRecord {
    /// The files it names, relative to the stream's directory.
    fn files(&self) -> Vec<String> {
        match self {
            StreamRecord::Window {
                partials, totals, ..
            } => partials
                .iter()
                .map(|t| format!("partial-{t}"))
                .chain(totals.iter().map(|t| format!("totals-{t}")))
                .collect(),
            StreamRecord::State { base, changes, .. } => std::iter::once(format!("base-{base}"))
                .chain(changes.iter().map(|t| format!("changes-{t}")))
                .collect(),
        }
    }
}

/// The directory of stream `name` under the checkpoint directory.
pub fn stream_dir(checkpoint_dir: &Path, name: &str) -> PathBuf {
    checkpoint_dir.join("streams").join(super::dir_name(name))
}

/// What was written for one stream and is still in use.
#[derive(Debug, Default)]
struct Written {
    /// Partials written, by batch time.
    partials: BTreeSet<i64>,
    /// The full snapshot's time and size.
    base: Option<(i64, usize)>,
    /// The change snapshots since, and their bytes.
    changes: Vec<i64>,
    changes_bytes: usize,
}

/// Writes the streams' state at each batch, remembering what it wrote.
#[derive(Debug, Default)]
pub struct StreamWriter {
    written: HashMap<String, Written>,
    /// Bytes written since [`StreamWriter::take_bytes`].
    bytes: u64,
}

impl StreamWriter {
    /// A writer that goes on from `records`, the streams of the checkpoint
    /// a run resumed from.
    pub fn resuming(records: &BTreeMap<String, StreamRecord>) -> Self {
        let written = records
            .iter()
            .map(|(name, record)| {
                let written = match record {
                    StreamRecord::Window { partials, .. } => Written {
                        partials: partials.iter().copied().collect(),
                        ..Written::default()
                    },
                    // The sizes are not known: the next full snapshot comes
                    // after MAX_CHANGES changes at the latest.
                    StreamRecord::State { base, changes, .. } => Written {
                        base: Some((*base, usize::MAX)),
                        changes: changes.clone(),
                        ..Written::default()
                    },
                };
                (name.clone(), written)
            })
            .collect();
        StreamWriter { written, bytes: 0 }
    }

    /// The bytes written since the last call.
    pub fn take_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.bytes)
    }

    /// Writes what `stream` keeps after the batch at `time` into `dir` (the
    /// checkpoint directory); returns its record.
    ///
    /// # Errors
    ///
    /// When a file cannot be written.
    pub fn write(
        &mut self,
        dir: &Path,
        time: BatchTime,
        stream: &StreamSpec,
        kept: Kept<'_>,
    ) -> std::io::Result<StreamRecord> {
        let stream_dir = stream_dir(dir, &stream.name);
        std::fs::create_dir_all(&stream_dir)?;
        let written = self.written.entry(stream.name.clone()).or_default();
        let bytes = &mut self.bytes;
        let mut write = |name: String, encoder: Encoder| {
            store::write_bytes(&stream_dir.join(name), &encoder.bytes, || {
                super::fault::point("checkpoint_rename");
            })?;
            *bytes += encoder.bytes.len() as u64;
            Ok::<usize, std::io::Error>(encoder.bytes.len())
        };
        match kept {
            Kept::Window(window) => {
                let window = window.lock().unwrap_or_else(|e| e.into_inner());
                let mut partials = Vec::new();
                for (partial_time, partitions) in window.partials() {
                    if !written.partials.contains(&partial_time.0) {
                        let mut encoder = Encoder::default();
                        encoder.batches(partitions.iter());
                        write(format!("partial-{}", partial_time.0), encoder)?;
                    }
                    partials.push(partial_time.0);
                }
                written.partials = partials.iter().copied().collect();
                let totals = match window.totals() {
                    Some(totals) => {
                        let mut encoder = Encoder::default();
                        encoder.batches(totals.iter().map(|t| &**t));
                        write(format!("totals-{}", time.0), encoder)?;
                        Some(time.0)
                    }
                    None => None,
                };
                let spec = stream.window.unwrap_or_default_window();
                Ok(StreamRecord::Window {
                    length_ms: spec.0,
                    slide_ms: spec.1,
                    partials,
                    totals,
                })
            }
            Kept::State(state) => {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                let full = match written.base {
                    None => true,
                    Some((_, base_bytes)) => {
                        written.changes_bytes > base_bytes || written.changes.len() >= MAX_CHANGES
                    }
                };
                let mut encoder = Encoder::default();
                if full {
                    state.encode_full(&mut encoder);
                    let bytes = write(format!("base-{}", time.0), encoder)?;
                    written.base = Some((time.0, bytes));
                    written.changes.clear();
                    written.changes_bytes = 0;
                } else {
                    state.encode_changes(&mut encoder);
                    written.changes_bytes += write(format!("changes-{}", time.0), encoder)?;
                    written.changes.push(time.0);
                }
                state.snapshot_taken();
                let base = written.base.map_or(time.0, |(t, _)| t);
                Ok(StreamRecord::State {
                    record_type: state_type(stream),
                    buckets: state.buckets(),
                    base,
                    changes: written.changes.clone(),
                })
            }
        }
    }
}

/// The (key, state) type of a stateful stream, as records name it.
fn state_type(stream: &StreamSpec) -> String {
    stream
        .state
        .as_ref()
        .map_or_else(String::new, |s| s.record_type.to_string())
}

/// A window's length and slide in ms, (0, 0) for none.
trait WindowMs {
    fn unwrap_or_default_window(self) -> (u64, u64);
}

impl WindowMs for Option<crate::plan::WindowSpec> {
    fn unwrap_or_default_window(self) -> (u64, u64) {
        self.map_or((0, 0), |w| {
            (w.length.as_millis() as u64, w.slide.as_millis() as u64)
        })
    }
}

/// Puts back what `stream` kept, from `record` in the checkpoint
/// directory `dir`.
///
/// # Errors
///
/// A sentence saying what does not fit (the pipeline changed) or which
/// file is damaged.
pub fn restore(
    dir: &Path,
    stream: &StreamSpec,
    record: &StreamRecord,
    kept: Kept<'_>,
) -> Result<(), String> {
    let stream_dir = stream_dir(dir, &stream.name);
    let read = |name: &str| -> Result<Vec<u8>, String> {
        let path = stream_dir.join(name);
        store::read_bytes(&path).map_err(|why| format!("{} {why}", path.display()))
    };
    let damaged = |name: &str, why: String| format!("{} {why}", stream_dir.join(name).display());
    match (record, kept) {
        (
            StreamRecord::Window {
                length_ms,
                slide_ms,
                partials,
                totals,
            },
            Kept::Window(window),
        ) => {
            let now = stream.window.unwrap_or_default_window();
            if now != (*length_ms, *slide_ms) {
                return Err(format!(
                    "its window was {} long sliding every {} when checkpointed, and is {} sliding every {} now",
                    ms(*length_ms),
                    ms(*slide_ms),
                    ms(now.0),
                    ms(now.1)
                ));
            }
            let mut restored = Vec::with_capacity(partials.len());
            for &time in partials {
                let name = format!("partial-{time}");
                let bytes = read(&name)?;
                let partitions = Decoder::new(&bytes)
                    .batches(stream.output_type)
                    .map_err(|why| damaged(&name, why))?;
                restored.push((BatchTime(time), partitions));
            }
            let totals = match totals {
                Some(time) => {
                    let name = format!("totals-{time}");
                    let bytes = read(&name)?;
                    Some(
                        Decoder::new(&bytes)
                            .batches(stream.output_type)
                            .map_err(|why| damaged(&name, why))?,
                    )
                }
                None => None,
            };
            window
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .restore(restored, totals)
        }
        (
            StreamRecord::State {
                record_type,
                buckets,
                base,
                changes,
            },
            Kept::State(state),
        ) => {
            let now = state_type(stream);
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            if *record_type != now {
                return Err(format!(
                    "its state held {record_type} records when checkpointed, and holds {now} now"
                ));
            }
            if *buckets != state.buckets() {
                return Err(format!(
                    "its state was cut into {buckets} buckets when checkpointed, and into {} now (its `partitions` changed)",
                    state.buckets()
                ));
            }
            let record_type = stream
                .state
                .as_ref()
                .map(|s| s.record_type)
                .ok_or("it keeps no state now")?;
            let name = format!("base-{base}");
            let bytes = read(&name)?;
            let mut restored =
                KeyedState::decode_full(&mut Decoder::new(&bytes), *buckets, record_type)
                    .map_err(|why| damaged(&name, why))?;
            for time in changes {
                let name = format!("changes-{time}");
                let bytes = read(&name)?;
                restored
                    .apply_changes(&mut Decoder::new(&bytes))
                    .map_err(|why| damaged(&name, why))?;
            }
            restored.track_removed_keys();
            *state = restored;
            Ok(())
        }
        (StreamRecord::Window { .. }, Kept::State(_)) => {
            Err("it was windowed when checkpointed and keeps a per-key state now".into())
        }
        (StreamRecord::State { .. }, Kept::Window(_)) => {
            Err("it kept a per-key state when checkpointed and is windowed now".into())
        }
    }
}

/// `ms` milliseconds as humantime prints them.
fn ms(ms: u64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
}

/// Removes the files of the `streams` directory under `checkpoint_dir`
/// that none of `records` (those of the kept checkpoints) names.
pub fn remove_unnamed<'a>(
    checkpoint_dir: &Path,
    records: impl IntoIterator<Item = &'a BTreeMap<String, StreamRecord>>,
) {
    let Ok(dirs) = std::fs::read_dir(checkpoint_dir.join("streams")) else {
        return;
    };
    let mut named: BTreeSet<PathBuf> = BTreeSet::new();
    for streams in records {
        for (name, record) in streams {
            let dir = stream_dir(checkpoint_dir, name);
            named.extend(record.files().into_iter().map(|f| dir.join(f)));
        }
    }
    for dir in dirs.flatten() {
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if !named.contains(&path)
                && let Err(e) = std::fs::remove_file(&path)
            {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove an old checkpoint file");
            }
        }
    }
}

//! Checkpoints: a restarted pipeline goes on where the last one stopped,
//! and each batch's output is written exactly once.
//!
//! With `checkpoint = true`, every batch leaves two files in
//! `<state_dir>/checkpoint/`, as Spark Streaming's checkpoint directory:
//!
//! 1. `batch-<ms>.pending`, written after the sources are polled and before
//!    the plan runs: the batch's time and what each source read for it
//!    ([`SourceInput`]: for a `files` source, the files and their sizes).
//! 2. `batch-<ms>.done`, written after every sink has committed the batch:
//!    each source's position ([`SourcePosition`]: the files read so far).
//!
//! On start, the newest usable `.done` file restores every source's
//! position; a `.pending` batch newer than it was in flight when the last
//! run stopped, and is run again first, at its own batch time, from the
//! same input. Sinks commit per batch time and idempotently (`text_files`
//! skips a batch whose directory exists), so a batch interrupted after its
//! sinks committed is not written twice, and one interrupted before is
//! written once. `pprint` output of a replayed batch is printed again
//! (console output is at-least-once).
//!
//! Files are written atomically with a checksum ([`store`]). A newest
//! `.done` that is unusable (truncated, changed) is skipped with a warning
//! naming it, for the one before; when none is usable the run is refused,
//! never silently started over: `sluice run --fresh` starts over. The three
//! newest `.done` files are kept.
//!
//! The `.done` record also names, per stateful or windowed stream, the
//! files that hold what it keeps ([`streams`]): window partials written
//! once each, per-key states as a full snapshot and the changes since.
//!
//! A socket source keeps a write-ahead log of the lines it receives
//! ([`crate::source::wal`]) under `wal/<source>/`; its position is an
//! offset in that log and a batch's input a range of it.

pub mod columns;
pub mod fault;
pub mod store;
pub mod streams;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::deploy::KeptVersions;
use crate::error::{Error, ErrorKind};
use crate::executor::Kept;
use crate::plan::StreamSpec;
use crate::source::{SourceInput, SourcePosition};
use crate::time::BatchTime;
use streams::{StreamRecord, StreamWriter};

/// How many `.done` checkpoints are kept (the newest first).
pub const KEPT_CHECKPOINTS: usize = 3;

/// The directory of checkpoints under a pipeline's `state_dir`.
pub fn dir_in(state_dir: &Path) -> PathBuf {
    state_dir.join("checkpoint")
}

/// A directory name for the source or stream `name`: the name itself when
/// it is made of letters, digits, `_` and `-`, else its hex spelling.
pub fn dir_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        name.to_owned()
    } else {
        format!("x-{}", hex::encode(name))
    }
}

/// A batch that was polled: what each source read for it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    pipeline: String,
    batch_time: i64,
    inputs: BTreeMap<String, SourceInput>,
}

/// A batch whose outputs are committed: where each source is, and where
/// each stateful or windowed stream's state is.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Done {
    pipeline: String,
    batch_time: i64,
    positions: BTreeMap<String, SourcePosition>,
    #[serde(default)]
    streams: BTreeMap<String, StreamRecord>,
    #[serde(default)]
    deployed: BTreeMap<String, KeptVersions>,
}

/// What a start found in the checkpoint directory.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The last batch whose outputs were committed.
    pub last_done: Option<BatchTime>,
    /// Each source's position after it, by source name.
    pub positions: BTreeMap<String, SourcePosition>,
    /// Where each stateful or windowed stream's state was then, by name.
    pub streams: BTreeMap<String, StreamRecord>,
    /// The versions deployed then, by stream.
    pub deployed: BTreeMap<String, KeptVersions>,
    /// The batches after it whose inputs were recorded, oldest first, with
    /// what each source read for them: the batch in flight when the last
    /// run stopped, and, when the newest `.done` was unusable, the batches
    /// it stood for. Run again first, in order, at their own times.
    pub in_flight: Vec<(BatchTime, BTreeMap<String, SourceInput>)>,
}

/// Writes a pipeline's checkpoints.
#[derive(Debug)]
pub struct Checkpointer {
    pipeline: String,
    dir: PathBuf,
    streams: StreamWriter,
    /// What the batch under way wrote so far, and how long it took.
    batch_bytes: u64,
    batch_time_spent: std::time::Duration,
    /// The latest batch's checkpoint.
    last: Option<CheckpointReport>,
    /// The stream records of the `.done` files kept, by batch time: the
    /// stream files they name are still needed.
    kept_streams: BTreeMap<i64, BTreeMap<String, StreamRecord>>,
}

/// The latest checkpoint, for `sluice status`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointReport {
    /// Its batch time (ms since the epoch).
    pub batch_time: i64,
    /// The bytes its files hold (the `.pending` and `.done` records and
    /// the stream files written for it).
    pub bytes: u64,
    /// How long writing them took, fsyncs included, in ms.
    pub write_ms: f64,
    /// The checkpoint directory.
    pub dir: String,
}

/// The kind of checkpoint file a name is, and its batch time.
fn parse_name(name: &str) -> Option<(&str, i64)> {
    let rest = name.strip_prefix("batch-")?;
    let (ms, kind) = rest.split_once('.')?;
    Some((kind, ms.parse().ok()?))
}

impl Checkpointer {
    /// Opens (or creates) the checkpoint directory `dir` of `pipeline`,
    /// and reads what a previous run left there.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or listed, or checkpoints are
    /// there but none is usable.
    pub fn open(pipeline: &str, dir: &Path) -> Result<(Checkpointer, Recovered), Error> {
        let mut checkpointer = Checkpointer {
            pipeline: pipeline.to_owned(),
            dir: dir.to_path_buf(),
            streams: StreamWriter::default(),
            batch_bytes: 0,
            batch_time_spent: std::time::Duration::ZERO,
            last: None,
            kept_streams: BTreeMap::new(),
        };
        std::fs::create_dir_all(dir).map_err(|e| {
            checkpointer.fail(
                format!("cannot create {}: {e}", dir.display()),
                ErrorKind::External,
            )
        })?;
        checkpointer.remove_unfinished();
        let mut done = checkpointer.files("done")?;
        let mut recovered = Recovered::default();
        let mut unusable = Vec::new();
        while let Some((time, path)) = done.pop() {
            match store::read::<Done>(&path) {
                Ok(checkpoint) => {
                    recovered.last_done = Some(BatchTime(checkpoint.batch_time));
                    recovered.positions = checkpoint.positions;
                    recovered.streams = checkpoint.streams;
                    recovered.deployed = checkpoint.deployed;
                    checkpointer
                        .kept_streams
                        .insert(time, recovered.streams.clone());
                    break;
                }
                Err(why) => {
                    tracing::warn!(pipeline = %pipeline, file = %path.display(), "checkpoint {why}; using the one before");
                    unusable.push((time, path, why));
                }
            }
        }
        // The older checkpoints kept (a fallback target) need their stream
        // files too.
        for (time, path) in done {
            if let Ok(older) = store::read::<Done>(&path) {
                checkpointer.kept_streams.insert(time, older.streams);
            }
        }
        if recovered.last_done.is_none()
            && let Some((_, path, why)) = unusable.first()
        {
            let others = match unusable.len() - 1 {
                0 => String::new(),
                n => format!(" (and the {n} before it cannot be used either)"),
            };
            return Err(checkpointer.fail(
                format!(
                    "no usable checkpoint in {}: the newest, {}, {why}{others}; to start over (reading the sources anew, forgetting what was read), run with `--fresh`",
                    dir.display(),
                    path.display(),
                ),
                ErrorKind::User,
            ));
        }
        let newer = |time: i64| recovered.last_done.is_none_or(|done| time > done.0);
        for (time, path) in checkpointer.files("pending")? {
            if !newer(time) {
                continue;
            }
            match store::read::<Pending>(&path) {
                Ok(pending) => {
                    recovered
                        .in_flight
                        .push((BatchTime(pending.batch_time), pending.inputs));
                }
                Err(why) => {
                    // The batches after it would not follow from the state
                    // restored: their inputs are read anew too.
                    tracing::warn!(pipeline = %pipeline, file = %path.display(), "a batch after the last usable checkpoint cannot be run again: its checkpoint {why}; its input (and that of the batches after it) is read anew in new batches (if its sinks had committed it, its records are written twice)");
                    break;
                }
            }
        }
        checkpointer.streams = StreamWriter::resuming(&recovered.streams);
        if let Some(done) = recovered.last_done {
            let again: Vec<String> = recovered
                .in_flight
                .iter()
                .map(|(t, _)| t.to_string())
                .collect();
            tracing::info!(pipeline = %pipeline, last_batch = %done, run_again = ?again, "resuming from the checkpoint");
        }
        Ok((checkpointer, recovered))
    }

    /// Removes every checkpoint in `dir` (`sluice run --fresh`); returns how
    /// many files there were.
    ///
    /// # Errors
    ///
    /// When the directory cannot be removed.
    pub fn discard(pipeline: &str, dir: &Path) -> Result<usize, Error> {
        let files = match std::fs::read_dir(dir) {
            Ok(entries) => entries.count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(Error::Checkpoint {
                    pipeline: pipeline.to_owned(),
                    message: format!("cannot list {}: {e}", dir.display()),
                    kind: ErrorKind::External,
                });
            }
        };
        std::fs::remove_dir_all(dir).map_err(|e| Error::Checkpoint {
            pipeline: pipeline.to_owned(),
            message: format!("cannot remove {} to start fresh: {e}", dir.display()),
            kind: ErrorKind::External,
        })?;
        Ok(files)
    }

    /// Records what each source read for the batch at `batch_time`, before
    /// it runs.
    ///
    /// # Errors
    ///
    /// When the file cannot be written (a full disk): the batch does not run.
    pub fn batch_started(
        &mut self,
        batch_time: BatchTime,
        inputs: BTreeMap<String, SourceInput>,
    ) -> Result<(), Error> {
        let started = std::time::Instant::now();
        let pending = Pending {
            pipeline: self.pipeline.clone(),
            batch_time: batch_time.0,
            inputs,
        };
        self.batch_bytes = self.write("pending", batch_time, &pending)? as u64;
        self.batch_time_spent = started.elapsed();
        fault::point("batch_started");
        Ok(())
    }

    /// The latest batch's checkpoint.
    pub fn report(&self) -> Option<CheckpointReport> {
        self.last.clone()
    }

    /// Records each source's position, what the stateful and windowed
    /// streams keep (`kept`, from [`crate::executor::Executor::kept`]) and
    /// the versions deployed (`deployed`) after the batch at `batch_time`, once its
    /// sinks have committed it; removes checkpoints no longer needed.
    ///
    /// # Errors
    ///
    /// When a file cannot be written (a full disk).
    pub fn batch_done(
        &mut self,
        batch_time: BatchTime,
        positions: BTreeMap<String, SourcePosition>,
        kept: Vec<(&StreamSpec, Kept<'_>)>,
        deployed: BTreeMap<String, KeptVersions>,
    ) -> Result<(), Error> {
        fault::point("sinks_committed");
        let started = std::time::Instant::now();
        let mut streams = BTreeMap::new();
        for (stream, kept) in kept {
            let record = self
                .streams
                .write(&self.dir, batch_time, stream, kept)
                .map_err(|e| {
                    self.fail(
                        format!(
                            "cannot write the state of stream `{}` for batch {batch_time} under {}: {e}; the batch is not counted as done (free disk space and restart: it runs again)",
                            stream.name,
                            self.dir.display()
                        ),
                        ErrorKind::External,
                    )
                })?;
            streams.insert(stream.name.clone(), record);
        }
        self.kept_streams.insert(batch_time.0, streams.clone());
        let done = Done {
            pipeline: self.pipeline.clone(),
            batch_time: batch_time.0,
            positions,
            streams,
            deployed,
        };
        let done_bytes = self.write("done", batch_time, &done)? as u64;
        self.prune()?;
        self.last = Some(CheckpointReport {
            batch_time: batch_time.0,
            bytes: std::mem::take(&mut self.batch_bytes) + done_bytes + self.streams.take_bytes(),
            write_ms: (std::mem::take(&mut self.batch_time_spent) + started.elapsed())
                .as_secs_f64()
                * 1000.0,
            dir: self.dir.display().to_string(),
        });
        Ok(())
    }

    /// Puts back what the stateful and windowed streams (`kept`) kept at
    /// the checkpoint `recovered` came from.
    ///
    /// # Errors
    ///
    /// When a stream changed in a way its state cannot follow (types,
    /// window, partitions), or a state file is damaged.
    pub fn restore_streams(
        &self,
        recovered: &Recovered,
        kept: Vec<(&StreamSpec, Kept<'_>)>,
    ) -> Result<(), Error> {
        for name in recovered.streams.keys() {
            if !kept.iter().any(|(s, _)| &s.name == name) {
                tracing::warn!(pipeline = %self.pipeline, stream = %name, "the checkpoint holds the state of a stream the pipeline no longer has (or that keeps none now); it is dropped");
            }
        }
        for (stream, kept) in kept {
            let Some(record) = recovered.streams.get(&stream.name) else {
                if recovered.last_done.is_some() {
                    tracing::info!(pipeline = %self.pipeline, stream = %stream.name, "the checkpoint holds no state for this stream (new to the pipeline): it starts empty");
                }
                continue;
            };
            streams::restore(&self.dir, stream, record, kept).map_err(|why| {
                self.fail(
                    format!(
                        "stream `{}` cannot resume from the checkpoint in {}: {why}; undo that change, or run with `--fresh` to start over",
                        stream.name,
                        self.dir.display()
                    ),
                    ErrorKind::User,
                )
            })?;
        }
        Ok(())
    }

    fn write<T: serde::Serialize>(
        &self,
        kind: &str,
        batch_time: BatchTime,
        value: &T,
    ) -> Result<usize, Error> {
        let path = self.dir.join(format!("batch-{}.{kind}", batch_time.0));
        store::write(&path, value, || fault::point("checkpoint_rename")).map_err(|e| {
            self.fail(
                format!(
                    "cannot write {} for batch {batch_time}: {e}; the batch is not counted as done (free disk space and restart: it runs again)",
                    path.display()
                ),
                ErrorKind::External,
            )
        })
    }

    /// Keeps the newest [`KEPT_CHECKPOINTS`] `.done` files and the
    /// `.pending` files after the oldest of them (a fallback to it runs
    /// those batches again); removes the rest.
    fn prune(&mut self) -> Result<(), Error> {
        let done = self.files("done")?;
        let surplus = done.len().saturating_sub(KEPT_CHECKPOINTS);
        let oldest_kept = done.get(surplus).map_or(i64::MIN, |(time, _)| *time);
        let mut old: Vec<PathBuf> = self
            .files("pending")?
            .into_iter()
            .filter(|(time, _)| *time <= oldest_kept)
            .map(|(_, path)| path)
            .collect();
        old.extend(done[..surplus].iter().map(|(_, path)| path.clone()));
        for path in old {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(pipeline = %self.pipeline, file = %path.display(), error = %e, "cannot remove an old checkpoint");
            }
        }
        // Stream files no kept checkpoint names (a partial that left the
        // window, snapshots before the last full one) are not needed.
        self.kept_streams
            .retain(|time, _| done[surplus..].iter().any(|(kept, _)| kept == time));
        streams::remove_unnamed(&self.dir, self.kept_streams.values());
        Ok(())
    }

    /// Removes temporary files a crash left while writing a checkpoint.
    fn remove_unfinished(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".batch-")
                && name.ends_with(".tmp")
                && let Err(e) = std::fs::remove_file(entry.path())
            {
                tracing::warn!(pipeline = %self.pipeline, file = %entry.path().display(), error = %e, "cannot remove an unfinished checkpoint");
            }
        }
    }

    /// The `batch-<ms>.<kind>` files, oldest first.
    fn files(&self, kind: &str) -> Result<Vec<(i64, PathBuf)>, Error> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            self.fail(
                format!("cannot list {}: {e}", self.dir.display()),
                ErrorKind::External,
            )
        })?;
        let mut files: Vec<(i64, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let (found, time) = parse_name(name.to_str()?)?;
                (found == kind).then(|| (time, entry.path()))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    fn fail(&self, message: String, kind: ErrorKind) -> Error {
        Error::Checkpoint {
            pipeline: self.pipeline.clone(),
            message,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Checkpointer, KEPT_CHECKPOINTS, parse_name};
    use crate::source::{FileName, SourceInput, SourcePosition, TakenFile};
    use crate::time::BatchTime;

    fn position(names: &[&str]) -> BTreeMap<String, SourcePosition> {
        let done = names.iter().map(|n| FileName::Text((*n).into())).collect();
        BTreeMap::from([("lines".to_owned(), SourcePosition::Files { done })])
    }

    fn input(names: &[&str]) -> BTreeMap<String, SourceInput> {
        let files = names
            .iter()
            .map(|n| TakenFile {
                name: FileName::Text((*n).into()),
                size: 3,
                inode: 0,
                modified_ns: 0,
            })
            .collect();
        BTreeMap::from([("lines".to_owned(), SourceInput::Files { files })])
    }

    #[test]
    fn names_give_kind_and_time() {
        assert_eq!(parse_name("batch-1000.done"), Some(("done", 1000)));
        assert_eq!(parse_name("batch-5.pending"), Some(("pending", 5)));
        assert_eq!(parse_name(".batch-5.pending.tmp"), None);
        assert_eq!(parse_name("batch-x.done"), None);
    }

    #[test]
    fn a_restart_finds_the_last_done_batch_and_the_one_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let (mut checkpoints, recovered) = Checkpointer::open("p", dir.path()).unwrap();
        assert!(recovered.last_done.is_none() && recovered.in_flight.is_empty());
        for (time, names) in [(1000, vec!["a"]), (2000, vec!["a", "b"])] {
            let read = &names[names.len() - 1..];
            checkpoints
                .batch_started(BatchTime(time), input(read))
                .unwrap();
            checkpoints
                .batch_done(
                    BatchTime(time),
                    position(&names),
                    Vec::new(),
                    BTreeMap::new(),
                )
                .unwrap();
        }
        checkpoints
            .batch_started(BatchTime(3000), input(&["c"]))
            .unwrap();

        let (_, recovered) = Checkpointer::open("p", dir.path()).unwrap();
        assert_eq!(recovered.last_done, Some(BatchTime(2000)));
        assert_eq!(recovered.positions, position(&["a", "b"]));
        assert_eq!(recovered.in_flight, vec![(BatchTime(3000), input(&["c"]))]);
    }

    #[test]
    fn old_checkpoints_are_removed_and_a_corrupt_newest_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut checkpoints, _) = Checkpointer::open("p", dir.path()).unwrap();
        for time in 1..=5 {
            checkpoints
                .batch_started(BatchTime(time), input(&[]))
                .unwrap();
            checkpoints
                .batch_done(
                    BatchTime(time),
                    position(&[&time.to_string()]),
                    Vec::new(),
                    BTreeMap::new(),
                )
                .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        // The `.pending` files after the oldest kept `.done` stay: a
        // fallback to it runs their batches again.
        assert_eq!(
            names,
            [
                "batch-3.done",
                "batch-4.done",
                "batch-4.pending",
                "batch-5.done",
                "batch-5.pending"
            ]
        );
        assert_eq!(KEPT_CHECKPOINTS, 3);

        std::fs::write(dir.path().join("batch-5.done"), b"truncated").unwrap();
        let (_, recovered) = Checkpointer::open("p", dir.path()).unwrap();
        assert_eq!(recovered.last_done, Some(BatchTime(4)));
        assert_eq!(recovered.positions, position(&["4"]));
        assert_eq!(recovered.in_flight, vec![(BatchTime(5), input(&[]))]);

        for time in [3, 4] {
            std::fs::write(dir.path().join(format!("batch-{time}.done")), b"").unwrap();
        }
        let error = Checkpointer::open("p", dir.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "pipeline `p`, checkpoint: no usable checkpoint in {0}: the newest, {0}/batch-5.done, is not a Sluice checkpoint (no `sluice-checkpoint 1` header) (and the 2 before it cannot be used either); to start over (reading the sources anew, forgetting what was read), run with `--fresh`",
                dir.path().display()
            )
        );
        assert_eq!(Checkpointer::discard("p", dir.path()).unwrap(), 5);
        assert!(!dir.path().exists());
        let (_, recovered) = Checkpointer::open("p", dir.path()).unwrap();
        assert!(recovered.last_done.is_none());
    }
}

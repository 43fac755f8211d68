//! The `files` source: every new file in a directory, read once, as lines.
//!
//! Like Spark's `textFileStream`, without its traps:
//!
//! - **Arrival, not modification time.** A file is new when its name was not
//!   seen before, whatever its mtime, so a file moved in with an old mtime is
//!   read. A name is remembered while its file is in the directory: a file
//!   removed and later written again under the same name is read again (as
//!   Spark reads a file with a new modification time), and the names kept
//!   never outnumber the directory's files. Arrival is found by listing the directory at every batch, and
//!   file-system events say which files are still open for writing.
//! - **Fail fast.** A `path` that does not exist or is not a directory is an
//!   error at start, not an endless run of empty batches.
//! - **Names.** Hidden files (`.name`) and temporary files (`*.tmp`,
//!   `*.temp`, `*.part`, `*.partial`, `*.crdownload`, `*.swp`, `*~`,
//!   `*._COPYING_`) are ignored; every other name is read, including names
//!   starting with `_`. Subdirectories are ignored.
//! - **Complete files only.** Write a file elsewhere (or under a hidden or
//!   temporary name) and rename it into the directory: a rename is atomic,
//!   so the file is read whole, in the next batch. A file written in place
//!   is read only after its writer closes it (an inotify close-after-write
//!   event). A file that appears without either event (events lost, or
//!   still on their way) is read once two consecutive listings find it with
//!   the same size and no writer. Files present at start are complete.
//! - **Symbolic links** to regular files are read, as Spark reads them; the
//!   link's target gets no events here, so a linked file is read once two
//!   listings find its target with the same size. Entries that are no
//!   regular file (FIFOs, devices, sockets, links to them or to
//!   directories) are skipped, logged once and counted.
//! - **A file that cannot be read** (permissions, an I/O error) is tried
//!   again at the next batches, [`READ_ATTEMPTS`] times in all, then skipped,
//!   logged and counted; a file that vanished before it was read is skipped
//!   and counted. Neither stops the pipeline.
//! - **Existing files** are skipped unless `include_existing = true`.
//! - **`max_files_per_batch`** bounds the files one batch reads; complete
//!   files are taken in name order and the rest wait for later batches, so
//!   a run over an existing directory gives the same batches every time
//!   (Spark's `queueStream(oneAtATime=True)`).
//! - **Lines** follow the source's `invalid_utf8`, `max_line_bytes` and
//!   `long_lines` policies.
//! - **Checkpoints.** Its position is the set of names it has read or given
//!   up on; restored, every other file in the directory is new and
//!   complete, so files that arrived while the pipeline was down are read
//!   and none is read twice. A batch in flight at a crash is read again
//!   from its list of files.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};

use super::file_runs::{self, ListedFile};
use super::lines::{LineChunks, LineDecoder};
use super::{FileName, Source, SourceInput, SourcePosition, SourceStats, TakenFile};
use crate::batch::Batch;
use crate::error::{Error, ErrorKind};
use crate::partition::Partitioning;
use crate::plan::LinePolicy;
use crate::regular_file::RegularFileError;
use crate::time::BatchTime;

/// How many times a file that cannot be read is tried, once per batch,
/// before it is skipped.
pub const READ_ATTEMPTS: u32 = 3;

/// The most a batch holds: its text column addresses 4 GiB.
const MAX_BATCH_BYTES: usize = u32::MAX as usize;

/// Reads new files of a directory.
pub struct FilesSource {
    name: String,
    dir: PathBuf,
    seen: HashSet<OsString>,
    /// Files some writer has open: not read until closed.
    being_written: HashSet<OsString>,
    /// Files an event showed complete: closed after writing, or renamed in.
    completed: HashSet<OsString>,
    /// Files listed without a completion event, with their size then: read
    /// once a later listing finds them unchanged.
    unsettled: HashMap<OsString, u64>,
    /// Failed reads of each file so far.
    failed_reads: HashMap<OsString, u32>,
    /// Entries that are no regular file, logged once.
    special: HashSet<OsString>,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    /// Kept alive for as long as the source is.
    _watcher: Option<notify::RecommendedWatcher>,
    decoder: LineDecoder,
    /// The most files a batch reads (`None`: no limit).
    max_files_per_batch: Option<usize>,
    /// The most input bytes one batch reads; a single larger file is read
    /// alone.
    max_batch_bytes: usize,
    /// After [`Source::stop_receiving`]: the files that were complete then,
    /// the only ones still read.
    received: Option<HashSet<OsString>>,
    /// The files the last poll read.
    last_read: Vec<TakenFile>,
}

/// Whether `name` is hidden or temporary, and so never read.
pub fn is_ignored(name: &str) -> bool {
    const TEMPORARY_SUFFIXES: [&str; 8] = [
        ".tmp",
        ".temp",
        ".part",
        ".partial",
        ".crdownload",
        ".swp",
        "~",
        "._COPYING_",
    ];
    name.starts_with('.') || TEMPORARY_SUFFIXES.iter().any(|s| name.ends_with(s))
}

impl FilesSource {
    /// Starts watching `dir`.
    ///
    /// # Errors
    ///
    /// When `dir` does not exist, is not a directory, or cannot be listed.
    pub fn open(
        name: &str,
        dir: &Path,
        include_existing: bool,
        policy: LinePolicy,
    ) -> Result<Self, Error> {
        let fail = |message: String| Error::Source {
            source_name: name.to_owned(),
            message,
            kind: ErrorKind::User,
        };
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(fail(format!(
                    "directory {} does not exist; create it or fix `path`",
                    dir.display()
                )));
            }
            Err(e) => return Err(fail(format!("cannot access {}: {e}", dir.display()))),
            Ok(meta) if !meta.is_dir() => {
                return Err(fail(format!(
                    "{} is a file, not a directory; `path` names the directory new files arrive in",
                    dir.display()
                )));
            }
            Ok(_) => {}
        }
        let (sender, events) = mpsc::channel();
        let watcher = notify::recommended_watcher(sender).and_then(|mut w| {
            w.watch(dir, RecursiveMode::NonRecursive)?;
            Ok(w)
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(source = name, error = %e, "no file-system events; relying on listing alone (files written in place may be read before they are complete)");
                None
            }
        };
        let mut source = FilesSource {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            seen: HashSet::new(),
            being_written: HashSet::new(),
            completed: HashSet::new(),
            unsettled: HashMap::new(),
            failed_reads: HashMap::new(),
            special: HashSet::new(),
            events,
            _watcher: watcher,
            decoder: LineDecoder::new(policy),
            max_files_per_batch: None,
            max_batch_bytes: MAX_BATCH_BYTES,
            received: None,
            last_read: Vec::new(),
        };
        let existing = source.list()?.into_iter().map(|entry| entry.name);
        if include_existing {
            // Files present at start are taken as complete.
            source.completed.extend(existing);
        } else {
            source.seen.extend(existing);
            tracing::info!(
                source = name,
                skipped = source.seen.len(),
                "files present at start are skipped (include_existing = false)"
            );
        }
        Ok(source)
    }

    /// Reads at most `max` files per batch (`None`: no limit).
    pub fn with_max_files_per_batch(mut self, max: Option<usize>) -> Self {
        self.max_files_per_batch = max;
        self
    }

    /// Reads at most `max` bytes of files per batch (files in name order
    /// while they fit; a single larger file alone), at most 4 GiB.
    pub fn with_max_batch_bytes(mut self, max: usize) -> Self {
        self.max_batch_bytes = max.clamp(1, MAX_BATCH_BYTES);
        self
    }

    fn fail(&self, message: String, kind: ErrorKind) -> Error {
        Error::Source {
            source_name: self.name.clone(),
            message,
            kind,
        }
    }

    /// The regular, not ignored files in the directory (following links),
    /// sorted by name; entries that are no regular file are logged once and
    /// counted.
    fn list(&mut self) -> Result<Vec<Listed>, Error> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            self.fail(
                format!("cannot list {}: {e}", self.dir.display()),
                ErrorKind::External,
            )
        })?;
        let mut listed = Vec::new();
        // Names still there: a name read before is remembered only while
        // its file is in the directory, so the set stays as small as the
        // directory (and a checkpoint with it).
        let mut present = HashSet::new();
        let mut complete_listing = true;
        for entry in entries {
            let Ok(entry) = entry else {
                complete_listing = false;
                continue;
            };
            let name = entry.file_name();
            if is_ignored(&name.to_string_lossy()) {
                continue;
            }
            if self.seen.contains(&name) {
                present.insert(name);
                continue;
            }
            let link = entry.file_type().is_ok_and(|t| t.is_symlink());
            // Follows symbolic links: a link to a file is a file.
            match std::fs::metadata(entry.path()) {
                Ok(meta) if meta.is_file() => listed.push(Listed {
                    name,
                    size: meta.len(),
                    link,
                }),
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    if self.special.insert(name) {
                        self.decoder.stats.special_files += 1;
                        tracing::warn!(source = %self.name, file = %entry.path().display(), "not a regular file (a FIFO, device or socket, or a link to one); skipped");
                    }
                }
                // A dangling link, or the entry just vanished.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // A looping link, no permission: reading it is tried, and
                // after a few failures it is skipped and counted.
                Err(_) => listed.push(Listed {
                    name,
                    size: 0,
                    link: true,
                }),
            }
        }
        if complete_listing {
            self.seen.retain(|name| present.contains(name));
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Updates `being_written` from the file-system events so far.
    fn drain_events(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            let Ok(event) = event else { continue };
            for path in &event.paths {
                let Some(name) = path.file_name().map(OsString::from) else {
                    continue;
                };
                match event.kind {
                    EventKind::Create(CreateKind::File | CreateKind::Any)
                    | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
                        self.completed.remove(&name);
                        self.being_written.insert(name);
                    }
                    EventKind::Access(AccessKind::Close(AccessMode::Write))
                    | EventKind::Modify(ModifyKind::Name(
                        RenameMode::To | RenameMode::Both | RenameMode::Any,
                    )) => {
                        self.being_written.remove(&name);
                        self.completed.insert(name);
                    }
                    EventKind::Remove(_) => {
                        self.being_written.remove(&name);
                        self.completed.remove(&name);
                        self.unsettled.remove(&name);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The bytes of file `name`, or `None` when it is not read now: it
    /// vanished, is no regular file any more, or cannot be read (then it is
    /// tried again at the next batches, up to [`READ_ATTEMPTS`] in all).
    fn read_file(&mut self, name: &OsString, room: usize) -> Option<Vec<u8>> {
        let path = self.dir.join(name);
        let error = match crate::regular_file::read_bounded(&path, room as u64) {
            Ok(bytes) => {
                self.failed_reads.remove(name);
                return Some(bytes);
            }
            Err(e) => e,
        };
        let give_up = |source: &mut Self, counter: fn(&mut super::SourceStats) -> &mut u64| {
            source.failed_reads.remove(name);
            source.unsettled.remove(name);
            source.seen.insert(name.clone());
            *counter(&mut source.decoder.stats) += 1;
        };
        match error {
            RegularFileError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(source = %self.name, file = %path.display(), "file vanished before it was read; skipped");
                give_up(self, |s| &mut s.vanished_files);
            }
            RegularFileError::TooLarge { size, .. } if room == MAX_BATCH_BYTES => {
                tracing::error!(source = %self.name, file = %path.display(), size, "the file is over 4 GiB, more than a batch holds; skipped (split it into smaller files)");
                give_up(self, |s| &mut s.unreadable_files);
            }
            RegularFileError::TooLarge { .. } => {
                // More than the rest of this batch can hold: next batch.
                tracing::info!(source = %self.name, file = %path.display(), "the batch is full; the file is read in the next batch");
            }
            e => {
                let attempts = self.failed_reads.entry(name.clone()).or_default();
                *attempts += 1;
                if *attempts < READ_ATTEMPTS {
                    tracing::warn!(source = %self.name, file = %path.display(), error = %e, attempt = *attempts, "cannot read the file; trying again at the next batch");
                } else {
                    tracing::error!(source = %self.name, file = %path.display(), error = %e, attempts = READ_ATTEMPTS, "cannot read the file; skipped (fix it and copy it in again under a new name)");
                    give_up(self, |s| &mut s.unreadable_files);
                }
            }
        }
        None
    }

    /// Appends the lines of file `name` to `out`.
    fn decode(&mut self, name: &OsString, bytes: &[u8], out: &mut LineChunks) -> Result<(), Error> {
        let origin = self.dir.join(name).display().to_string();
        if let Err(bad) = self.decoder.push_lines(&origin, bytes, out) {
            return Err(self.fail(bad.message(&origin), ErrorKind::User));
        }
        Ok(())
    }
}

/// A file found by a listing.
struct Listed {
    name: OsString,
    size: u64,
    /// Whether the directory entry is a symbolic link.
    link: bool,
}

impl Source for FilesSource {
    fn poll(
        &mut self,
        batch_time: BatchTime,
        partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        let mut ready = self.complete_files()?;
        if let Some(received) = &mut self.received {
            // Stopping: only what was received before the stop, and of that
            // only what is still complete (not vanished nor reopened).
            ready.retain(|(name, _, _)| received.contains(name));
            let still: HashSet<&OsString> = ready.iter().map(|(name, _, _)| name).collect();
            received.retain(|name| still.contains(name));
        }
        // Listed in name order: the first ones are read, the rest wait.
        let listed = ready.len();
        ready.truncate(self.max_files_per_batch.unwrap_or(usize::MAX));
        ready.truncate(fitting(&ready, self.max_batch_bytes));
        if ready.len() < listed {
            tracing::info!(source = %self.name, %batch_time, taken = ready.len(), waiting = listed - ready.len(), "batch full (max_files_per_batch, max_batch_mib): the other files wait for the next batches, in name order");
        }
        // Partitions are sized from the listed sizes; each file is decoded
        // into them as soon as it is read and its bytes dropped, so the
        // batch is held once, not twice.
        let listed_bytes = ready
            .iter()
            .map(|(_, size, _)| usize::try_from(*size).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add)
            .min(MAX_BATCH_BYTES);
        let chunks = match self.read_in_parallel(&ready, listed_bytes, partitioning, batch_time) {
            Some(chunks) => chunks,
            None => self.read_one_by_one(ready, listed_bytes, partitioning, batch_time)?,
        };
        if let Some(received) = &mut self.received {
            // Read, or given up on after its attempts.
            received.retain(|name| !self.seen.contains(name));
        }
        Ok(chunks)
    }

    fn stats(&self) -> SourceStats {
        self.decoder.stats
    }

    /// Keeps the files complete now (by the usual rules) as the last ones
    /// read; files that arrive later are left for the next run.
    fn stop_receiving(&mut self) -> Result<(), Error> {
        let complete = self.complete_files()?;
        self.received = Some(complete.into_iter().map(|(name, _, _)| name).collect());
        Ok(())
    }

    fn has_pending(&self) -> bool {
        self.received.as_ref().is_some_and(|r| !r.is_empty())
    }

    fn position(&self) -> Option<SourcePosition> {
        let mut names: Vec<&OsString> = self.seen.iter().collect();
        names.sort();
        let done = names.into_iter().map(|n| FileName::of(n)).collect();
        Some(SourcePosition::Files { done })
    }

    fn last_input(&self) -> Option<SourceInput> {
        Some(SourceInput::Files {
            files: self.last_read.clone(),
        })
    }

    fn restore(&mut self, position: &SourcePosition) -> Result<(), Error> {
        let SourcePosition::Files { done } = position else {
            return Err(super::other_kind_in_checkpoint(&self.name));
        };
        self.seen = done.iter().map(FileName::to_os_string).collect();
        self.unsettled.clear();
        // Everything else in the directory arrived while the pipeline was
        // down (or was not read yet): complete, as files present at start.
        let present: Vec<OsString> = self.list()?.into_iter().map(|l| l.name).collect();
        self.completed = present.into_iter().collect();
        tracing::info!(source = %self.name, read_before = self.seen.len(), waiting = self.completed.len(), "resumed from the checkpoint: files read before are not read again");
        Ok(())
    }

    fn replay(
        &mut self,
        input: &SourceInput,
        batch_time: BatchTime,
        partitioning: &Partitioning,
    ) -> Result<Vec<Batch>, Error> {
        let SourceInput::Files { files } = input else {
            return Err(super::other_kind_in_checkpoint(&self.name));
        };
        let total = files
            .iter()
            .map(|f| usize::try_from(f.size).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add)
            .min(MAX_BATCH_BYTES);
        let mut lines = LineChunks::new(partitioning.chunk_bytes(total));
        self.last_read.clear();
        for file in files {
            let name = file.name.to_os_string();
            let Some(bytes) = self.read_file(&name, MAX_BATCH_BYTES) else {
                continue;
            };
            self.take(name, &bytes, batch_time, &mut lines)?;
            if let Some(now) = self.last_read.last()
                && (now.size, now.inode, now.modified_ns)
                    != (file.size, file.inode, file.modified_ns)
            {
                tracing::warn!(source = %self.name, file = %self.dir.join(file.name.to_os_string()).display(), %batch_time, was_bytes = file.size, now_bytes = now.size, "the file was changed or replaced since this batch first read it; the batch is run again with what it holds now");
            }
        }
        Ok(lines.finish())
    }
}

impl FilesSource {
    /// Reads and decodes `ready` on the cores ([`file_runs`]), when there
    /// is enough of it to share and nothing goes wrong; `None` otherwise
    /// (nothing remembered as read), for [`Self::read_one_by_one`].
    fn read_in_parallel(
        &mut self,
        ready: &[(OsString, u64, bool)],
        listed_bytes: usize,
        partitioning: &Partitioning,
        batch_time: BatchTime,
    ) -> Option<Vec<Batch>> {
        let Partitioning::BySize { cores, .. } = *partitioning else {
            return None;
        };
        let chunk_bytes = partitioning.chunk_bytes(listed_bytes);
        if cores < 2 || ready.len() < 2 || listed_bytes < 2 * chunk_bytes {
            return None;
        }
        let files: Vec<ListedFile<'_>> = ready
            .iter()
            .map(|(name, size, _)| ListedFile { name, size: *size })
            .collect();
        // Each file may grow by its share of the room left in the batch,
        // so the batch stays under what it can hold.
        let slack = (MAX_BATCH_BYTES - listed_bytes) / ready.len();
        let read = file_runs::read_runs(
            &self.dir,
            &files,
            &self.decoder,
            chunk_bytes,
            cores,
            slack as u64,
        )?;
        // A writer may have opened a file just before it was listed: events
        // that arrived meanwhile put it back until it is closed.
        self.drain_events();
        if ready
            .iter()
            .any(|(name, _, link)| self.being_written.contains(name) && !link)
        {
            return None;
        }
        self.decoder.stats = read.stats;
        self.last_read.clear();
        for ((name, _, _), &size) in ready.iter().zip(&read.sizes) {
            self.remember_read(name.clone(), size, batch_time);
        }
        Some(read.chunks)
    }

    /// Reads and decodes `ready` one file after the other, each read file's
    /// bytes dropped once decoded.
    fn read_one_by_one(
        &mut self,
        ready: Vec<(OsString, u64, bool)>,
        listed_bytes: usize,
        partitioning: &Partitioning,
        batch_time: BatchTime,
    ) -> Result<Vec<Batch>, Error> {
        let mut lines = LineChunks::new(partitioning.chunk_bytes(listed_bytes));
        lines.reserve(listed_bytes);
        self.last_read.clear();
        let mut room = MAX_BATCH_BYTES;
        for (name, _, link) in ready {
            let Some(bytes) = self.read_file(&name, room) else {
                continue;
            };
            room -= bytes.len();
            // As in `read_in_parallel`: a writer may have opened it since.
            self.drain_events();
            if self.being_written.contains(&name) && !link {
                continue;
            }
            self.take(name, &bytes, batch_time, &mut lines)?;
        }
        Ok(lines.finish())
    }

    /// Decodes the file `name` into `lines` and remembers it as read.
    fn take(
        &mut self,
        name: OsString,
        bytes: &[u8],
        batch_time: BatchTime,
        lines: &mut LineChunks,
    ) -> Result<(), Error> {
        self.decode(&name, bytes, lines)?;
        self.remember_read(name, bytes.len(), batch_time);
        Ok(())
    }

    /// Remembers the file `name`, of `size` bytes, as read by this batch.
    fn remember_read(&mut self, name: OsString, size: usize, batch_time: BatchTime) {
        self.decoder.stats.files += 1;
        tracing::debug!(source = %self.name, file = ?name, %batch_time, "read file");
        self.completed.remove(&name);
        self.unsettled.remove(&name);
        self.failed_reads.remove(&name);
        // Inode and mtime tell a replaced file in a replay; read after the
        // bytes, so a change in between shows as one.
        let (inode, modified_ns) = std::fs::metadata(self.dir.join(&name)).map_or((0, 0), |m| {
            use std::os::unix::fs::MetadataExt;
            (m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec())
        });
        self.last_read.push(TakenFile {
            name: FileName::of(&name),
            size: size as u64,
            inode,
            modified_ns,
        });
        self.seen.insert(name);
    }

    /// The files not read yet that are complete by the source's rules, in
    /// name order, with their listed size and whether each is a link.
    fn complete_files(&mut self) -> Result<Vec<(OsString, u64, bool)>, Error> {
        let listed = self.list()?;
        self.drain_events();
        let mut ready = Vec::new();
        for Listed { name, size, link } in listed {
            // A link's target gets no events here: its size must settle.
            if self.being_written.contains(&name) && !link {
                tracing::debug!(source = %self.name, file = ?name, "file still open for writing; read once closed");
                self.unsettled.insert(name, size);
                continue;
            }
            // Without a completion event (it may still be on its way), a
            // file is read once two listings in a row find the same size.
            let complete = self.completed.contains(&name) && !link;
            if !complete && self.unsettled.get(&name) != Some(&size) {
                self.unsettled.insert(name, size);
                continue;
            }
            ready.push((name, size, link));
        }
        Ok(ready)
    }
}

/// How many of the `ready` files (in order) a batch of at most `budget`
/// bytes takes: those whose listed sizes fit, and always the first.
fn fitting(ready: &[(OsString, u64, bool)], budget: usize) -> usize {
    let mut used: u64 = 0;
    ready
        .iter()
        .take_while(|(_, size, _)| {
            used = used.saturating_add(*size);
            used <= budget as u64
        })
        .count()
        .max(ready.len().min(1))
}

#[cfg(test)]
mod tests {
    use super::{fitting, is_ignored};

    #[test]
    fn a_batch_takes_the_files_that_fit_in_name_order_and_always_one() {
        let ready: Vec<_> = [400, 500, 100, 900]
            .iter()
            .enumerate()
            .map(|(i, &size)| (format!("f{i}").into(), size, false))
            .collect();
        assert_eq!(fitting(&ready, 1000), 3);
        assert_eq!(fitting(&ready, 899), 1);
        // A first file over the budget is read alone; none is lost.
        assert_eq!(fitting(&ready, 100), 1);
        assert_eq!(fitting(&ready[3..], 100), 1);
        assert_eq!(fitting(&[], 100), 0);
        assert_eq!(fitting(&ready, usize::MAX), 4);
    }

    #[test]
    fn hidden_and_temporary_names_are_ignored() {
        for name in [
            ".hidden",
            "a.txt.tmp",
            "x.part",
            "y~",
            "big.txt._COPYING_",
            ".a.txt",
        ] {
            assert!(is_ignored(name), "{name}");
        }
        for name in ["a.txt", "_underscore.txt", "data", "part-00000"] {
            assert!(!is_ignored(name), "{name}");
        }
    }
}

//! The `files` source: every new file in a directory, read once, as lines.
//!
//! Like Spark's `textFileStream`, without its traps:
//!
//! - **Arrival, not modification time.** A file is new when its name was not
//!   seen before, whatever its mtime, so a file moved in with an old mtime is
//!   read. Arrival is found by listing the directory at every batch, and
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
//! - **Existing files** are skipped unless `include_existing = true`.
//! - **Invalid UTF-8** follows the source's `invalid_utf8` policy.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};

use super::lines::LineDecoder;
use super::{Source, SourceStats};
use crate::batch::{Batch, Column, Varlen};
use crate::config::InvalidUtf8;
use crate::error::{Error, ErrorKind};
use crate::time::BatchTime;

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
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    /// Kept alive for as long as the source is.
    _watcher: Option<notify::RecommendedWatcher>,
    decoder: LineDecoder,
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
        policy: InvalidUtf8,
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
            events,
            _watcher: watcher,
            decoder: LineDecoder::new(policy),
        };
        let existing = source.list()?.into_iter().map(|(name, _)| name);
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

    fn fail(&self, message: String, kind: ErrorKind) -> Error {
        Error::Source {
            source_name: self.name.clone(),
            message,
            kind,
        }
    }

    /// The names and sizes of the regular, not ignored files in the
    /// directory, sorted by name.
    fn list(&self) -> Result<Vec<(OsString, u64)>, Error> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            self.fail(
                format!("cannot list {}: {e}", self.dir.display()),
                ErrorKind::External,
            )
        })?;
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if is_ignored(&name.to_string_lossy()) {
                continue;
            }
            // Follows symbolic links: a link to a file is a file.
            match std::fs::metadata(entry.path()) {
                Ok(meta) if meta.is_file() => names.push((name, meta.len())),
                _ => {}
            }
        }
        names.sort();
        Ok(names)
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

    /// The bytes of file `name`, or `None` if it vanished.
    fn read_file(&self, name: &OsString) -> Result<Option<Vec<u8>>, Error> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(source = %self.name, file = %path.display(), "file vanished before it was read");
                Ok(None)
            }
            Err(e) => Err(self.fail(
                format!("cannot read {}: {e}", path.display()),
                ErrorKind::External,
            )),
        }
    }

    /// Appends the lines of file `name` to `out`.
    fn decode(&mut self, name: &OsString, bytes: &[u8], out: &mut Varlen) -> Result<(), Error> {
        if out.data.len() + bytes.len() > u32::MAX as usize {
            return Err(self.fail(
                "more than 4 GiB arrived in one batch; shorten `batch_interval` or split the files"
                    .into(),
                ErrorKind::User,
            ));
        }
        let origin = self.dir.join(name).display().to_string();
        if let Err(invalid) = self.decoder.push_lines(&origin, bytes, out) {
            return Err(self.fail(
                format!(
                    "{origin}, line {}: not valid UTF-8 ({}); the source has `invalid_utf8 = \"fail\"` (use \"replace\" or \"skip\" to go on)",
                    invalid.line, invalid.error
                ),
                ErrorKind::User,
            ));
        }
        self.decoder.stats.files += 1;
        Ok(())
    }
}

impl Source for FilesSource {
    fn poll(&mut self, batch_time: BatchTime) -> Result<Batch, Error> {
        let names = self.list()?;
        self.drain_events();
        let mut read = Vec::new();
        for (name, size) in names {
            if self.seen.contains(&name) {
                continue;
            }
            if self.being_written.contains(&name) {
                tracing::debug!(source = %self.name, file = ?name, "file still open for writing; read once closed");
                self.unsettled.insert(name, size);
                continue;
            }
            // Without a completion event (it may still be on its way), a
            // file is read once two listings in a row find the same size.
            if !self.completed.contains(&name) && self.unsettled.get(&name) != Some(&size) {
                self.unsettled.insert(name, size);
                continue;
            }
            match self.read_file(&name)? {
                Some(bytes) => read.push((name, bytes)),
                None => {
                    self.unsettled.remove(&name);
                    self.seen.insert(name);
                }
            }
        }
        // A writer may have opened a file just before it was listed: events
        // that arrived meanwhile put it back until it is closed.
        self.drain_events();
        let mut lines = Varlen::with_capacity(0, read.iter().map(|(_, b)| b.len()).sum());
        for (name, bytes) in read {
            if self.being_written.contains(&name) {
                continue;
            }
            self.decode(&name, &bytes, &mut lines)?;
            tracing::debug!(source = %self.name, file = ?name, %batch_time, "read file");
            self.completed.remove(&name);
            self.unsettled.remove(&name);
            self.seen.insert(name);
        }
        Ok(Batch {
            keys: None,
            values: Column::Varlen(lines),
        })
    }

    fn stats(&self) -> SourceStats {
        self.decoder.stats
    }
}

#[cfg(test)]
mod tests {
    use super::is_ignored;

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

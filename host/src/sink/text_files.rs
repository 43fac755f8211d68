//! `text_files`: Spark's `saveAsTextFiles(prefix, suffix)`, committed
//! atomically.
//!
//! Each batch becomes a directory `<prefix>-<batch ms>[.<suffix>]` holding
//! one `part-NNNNN` file per partition (written even when empty, as Spark
//! does) and an empty `_SUCCESS` marker. The directory is first written
//! under a hidden temporary name beside it, every file is fsynced, and then
//! it is renamed into place: a reader sees a whole batch or nothing. A batch
//! whose directory already exists (a replay) is not written again.
//!
//! A process killed while writing leaves its staging directory behind. A
//! writer holds an exclusive lock (`flock`) on its staging directory while
//! it writes, and the kernel drops the lock when the process dies; at start
//! the sink removes every staging directory of its own prefix
//! (`.<prefix name>.sluice-staging-*`) whose lock it can take, and leaves
//! the ones another process is writing.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::batch::{Batch, RecordType};
use crate::config::TextFormat;
use crate::error::Error;
use crate::render::{csv_record, json_record, python_record};
use crate::time::BatchTime;

/// Writes a directory of part files per batch.
pub struct TextFiles {
    name: String,
    prefix: PathBuf,
    suffix: Option<String>,
    format: TextFormat,
    record_type: RecordType,
}

impl TextFiles {
    /// A sink writing `<prefix>-<ms>[.<suffix>]` directories; removes the
    /// staging a crash of an earlier run left (see the module docs).
    pub fn new(
        name: &str,
        prefix: PathBuf,
        suffix: Option<String>,
        format: TextFormat,
        record_type: RecordType,
    ) -> Self {
        remove_abandoned_staging(name, &prefix);
        TextFiles {
            name: name.to_owned(),
            prefix,
            suffix,
            format,
            record_type,
        }
    }

    /// The name every staging directory of this sink starts with.
    fn staging_prefix(prefix: &Path) -> String {
        format!(".{}.sluice-staging-", file_name(prefix))
    }

    /// The directory of batch `batch_time`.
    pub fn batch_dir(&self, batch_time: BatchTime) -> PathBuf {
        let mut name = file_name(&self.prefix);
        name.push_str(&format!("-{}", batch_time.0));
        if let Some(suffix) = &self.suffix {
            name.push('.');
            name.push_str(suffix);
        }
        self.prefix.with_file_name(name)
    }

    fn write_part(&self, path: &Path, partition: &Batch) -> std::io::Result<()> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut line = String::new();
        let (key, value) = super::key_value(self.record_type);
        for i in 0..partition.len() {
            line.clear();
            match self.format {
                TextFormat::Text => python_record(&mut line, partition, i, key, value),
                TextFormat::Jsonl => json_record(&mut line, partition, i, key, value),
                TextFormat::Csv => csv_record(&mut line, partition, i, key, value),
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    }

    fn try_write(&self, batch_time: BatchTime, partitions: &[Batch]) -> std::io::Result<()> {
        let target = self.batch_dir(batch_time);
        if target.exists() {
            tracing::info!(sink = %self.name, dir = %target.display(), "batch already committed; not written again");
            return Ok(());
        }
        let parent = target.parent().unwrap_or(Path::new(".")).to_path_buf();
        std::fs::create_dir_all(&parent)?;
        let staging = tempfile::Builder::new()
            .prefix(&Self::staging_prefix(&self.prefix))
            .tempdir_in(&parent)?;
        // Held until the directory is renamed: it is being written. Where
        // the file system has no locks, a sink starting meanwhile on the
        // same prefix could take it for abandoned; nothing else depends on
        // the lock.
        let writing = File::open(staging.path())?;
        if let Err(e) = writing.try_lock() {
            tracing::debug!(sink = %self.name, error = %e, "cannot lock the staging directory");
        }
        for (index, partition) in partitions.iter().enumerate() {
            self.write_part(&staging.path().join(format!("part-{index:05}")), partition)?;
        }
        File::create(staging.path().join("_SUCCESS"))?.sync_all()?;
        File::open(staging.path())?.sync_all()?;
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, &target) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
        File::open(&parent)?.sync_all()
    }
}

/// The last part of `prefix`, as text.
fn file_name(prefix: &Path) -> String {
    prefix
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes the staging directories of `prefix` that no process is writing
/// (see the module docs), logging each.
fn remove_abandoned_staging(sink: &str, prefix: &Path) {
    let parent = prefix.parent().unwrap_or(Path::new("."));
    let staging = TextFiles::staging_prefix(prefix);
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&staging) {
            continue;
        }
        let path = entry.path();
        let abandoned = File::open(&path).and_then(|dir| {
            dir.try_lock().map_err(std::io::Error::other)?;
            std::fs::remove_dir_all(&path)
        });
        match abandoned {
            Ok(()) => {
                tracing::warn!(%sink, dir = %path.display(), "removed staging left by an earlier run (nothing of it was committed)");
            }
            Err(e) => {
                tracing::warn!(%sink, dir = %path.display(), error = %e, "staging of this prefix is in use or cannot be removed; left alone");
            }
        }
    }
}

impl Sink for TextFiles {
    fn write(&mut self, batch_time: BatchTime, partitions: &[Batch]) -> Result<(), Error> {
        self.try_write(batch_time, partitions)
            .map_err(|e| Error::Sink {
                sink: self.name.clone(),
                batch_time,
                message: format!(
                    "cannot write {}: {e}; nothing of this batch was committed",
                    self.batch_dir(batch_time).display()
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Column, ValueType};

    #[test]
    fn batch_is_committed_as_one_directory() {
        let dir = tempfile::tempdir().unwrap();
        let record_type = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Int64,
        };
        let mut sink = TextFiles::new(
            "out",
            dir.path().join("counts"),
            Some("txt".into()),
            TextFormat::Jsonl,
            record_type,
        );
        let batch = Batch {
            keys: Some(Batch::text(["a", "b"]).values),
            values: Column::Int64(vec![1, 2]),
        };
        sink.write(BatchTime(1000), &[batch, Batch::empty(record_type)])
            .unwrap();
        let out = dir.path().join("counts-1000.txt");
        assert_eq!(
            std::fs::read_to_string(out.join("part-00000")).unwrap(),
            "{\"key\": \"a\", \"value\": 1}\n{\"key\": \"b\", \"value\": 2}\n"
        );
        assert_eq!(std::fs::read_to_string(out.join("part-00001")).unwrap(), "");
        assert!(out.join("_SUCCESS").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("counts-1000.txt")]);
    }

    #[test]
    fn staging_of_its_own_prefix_is_removed_at_start_unless_it_is_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let record_type = RecordType {
            key: None,
            value: ValueType::Text,
        };
        let left = dir.path().join(".counts.sluice-staging-abc123");
        let busy = dir.path().join(".counts.sluice-staging-def456");
        let other = dir.path().join(".counts-b.sluice-staging-abc123");
        for staging in [&left, &busy, &other] {
            std::fs::create_dir_all(staging.join("part-00000")).unwrap();
        }
        let writing = File::open(&busy).unwrap();
        writing.try_lock().unwrap();
        TextFiles::new(
            "out",
            dir.path().join("counts"),
            None,
            TextFormat::Text,
            record_type,
        );
        assert!(!left.exists());
        assert!(
            busy.exists(),
            "a staging directory being written is left alone"
        );
        assert!(other.exists(), "another prefix's staging is not touched");
    }
}

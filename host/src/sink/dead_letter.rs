//! The dead-letter directory of a stream with `on_error = "dead_letter"`.
//!
//! Each batch that isolated records becomes one file `<dir>/<batch ms>.jsonl`
//! with one JSON object per record: where the call failed (pipeline,
//! stream, plugin and hash, batch, partition, phase), the record's index in
//! its partition batch, the failure class and message, the plugin's stderr,
//! and the record itself (`{"key": …, "value": …}`, bytes as base64). The
//! file is written under a hidden temporary name, fsynced and renamed, so a
//! reader sees all of a batch's dead letters or none; a replayed batch
//! replaces its file with the same content.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::error::Error;
use crate::recovery::DeadLetter;
use crate::time::BatchTime;

/// Writes the dead letters of one stream.
pub struct DeadLetterWriter {
    stream: String,
    dir: PathBuf,
}

impl DeadLetterWriter {
    /// A writer into `dir` for `stream`.
    pub fn new(stream: &str, dir: PathBuf) -> Self {
        DeadLetterWriter {
            stream: stream.to_owned(),
            dir,
        }
    }

    /// The file of batch `batch_time`.
    pub fn batch_file(&self, batch_time: BatchTime) -> PathBuf {
        self.dir.join(format!("{}.jsonl", batch_time.0))
    }

    /// Writes the dead letters of one batch (nothing when there are none).
    ///
    /// # Errors
    ///
    /// When the directory or file cannot be written; the batch is then not
    /// delivered, so no record is lost.
    pub fn write(&self, batch_time: BatchTime, letters: &[DeadLetter]) -> Result<(), Error> {
        if letters.is_empty() {
            return Ok(());
        }
        self.try_write(batch_time, letters)
            .map_err(|e| Error::Sink {
                sink: format!("dead letters of stream `{}`", self.stream),
                batch_time,
                message: format!(
                    "cannot write {} in {}: {e}; check that the directory is writable and the disk not full",
                    self.batch_file(batch_time).display(),
                    self.dir.display()
                ),
            })
    }

    fn try_write(&self, batch_time: BatchTime, letters: &[DeadLetter]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let staged = tempfile::Builder::new()
            .prefix(".sluice-staging-")
            .tempfile_in(&self.dir)?;
        let mut out = BufWriter::new(staged.as_file());
        for letter in letters {
            out.write_all(letter.to_json_line().as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        drop(out);
        staged.as_file().sync_all()?;
        staged
            .persist(self.batch_file(batch_time))
            .map_err(|e| e.error)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

//! A socket source's write-ahead log (Spark's receiver WAL): every line
//! received is appended before a batch can take it, so lines received but
//! not yet processed survive a crash.
//!
//! The log is a directory of segment files `<first offset>.wal`, each
//! holding lines ending in `\n` (a decoded line never holds one); a line's
//! place is its byte offset in the whole log. A batch reads the range
//! `[from, to)` it was given, so running it again reads the same lines.
//! Segments are at most [`SEGMENT_BYTES`] (a line is never split); those
//! that end before every kept checkpoint's position are removed. A line cut
//! short by a crash (no final `\n`) is dropped when the log is opened: it
//! was never handed to a batch.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most bytes of a segment before the next one starts.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// When appended lines are forced to disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalSync {
    /// Before each batch takes its lines (the default): a crash of the
    /// process loses nothing (the lines are in the kernel's page cache);
    /// a crash of the machine may lose what arrived since the last batch.
    #[default]
    Batch,
    /// After every read from the socket: nothing received is lost even if
    /// the machine fails, at the cost of an fsync per read.
    Always,
}

/// An open log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// Each segment's first offset and path, in order.
    segments: Vec<(u64, PathBuf)>,
    /// The last segment, open for appending.
    file: File,
    /// The offset after the last line.
    end: u64,
    sync: WalSync,
    /// [`SEGMENT_BYTES`], smaller in tests.
    segment_bytes: u64,
}

impl Wal {
    /// Opens (or creates) the log in `dir`.
    ///
    /// # Errors
    ///
    /// When the directory or a segment cannot be read or written.
    pub fn open(dir: &Path, sync: WalSync) -> std::io::Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let start = name.to_str()?.strip_suffix(".wal")?.parse().ok()?;
                Some((start, entry.path()))
            })
            .collect();
        segments.sort();
        if segments.is_empty() {
            segments.push((0, dir.join("0.wal")));
        }
        let (start, path) = segments[segments.len() - 1].clone();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        // A line cut short by a crash is dropped.
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        let whole = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        if whole < bytes.len() {
            file.set_len(whole as u64)?;
            file.sync_all()?;
        }
        Ok(Wal {
            dir: dir.to_path_buf(),
            segments,
            file,
            end: start + whole as u64,
            sync,
            segment_bytes: SEGMENT_BYTES,
        })
    }

    /// The offset after the last line.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The offset of the first line kept.
    pub fn start(&self) -> u64 {
        self.segments[0].0
    }

    /// Appends `lines` (each ending in `\n`), starting a new segment first
    /// when the last is full; fsyncs under [`WalSync::Always`].
    ///
    /// # Errors
    ///
    /// When writing fails (a full disk).
    pub fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let (start, _) = self.segments[self.segments.len() - 1];
        if self.end - start >= self.segment_bytes {
            let path = self.dir.join(format!("{}.wal", self.end));
            self.file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)?;
            File::open(&self.dir)?.sync_all()?;
            self.segments.push((self.end, path));
        }
        self.file.write_all(lines)?;
        self.end += lines.len() as u64;
        if self.sync == WalSync::Always {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Forces what was appended to disk (before a batch takes it, under
    /// [`WalSync::Batch`]).
    ///
    /// # Errors
    ///
    /// When the disk fails.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// The lines in `[from, to)`.
    ///
    /// # Errors
    ///
    /// When a segment holding them was removed or cannot be read.
    pub fn read(&self, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(to.saturating_sub(from)).unwrap_or(0));
        for (i, (start, path)) in self.segments.iter().enumerate() {
            let end = self.segments.get(i + 1).map_or(self.end, |(next, _)| *next);
            if end <= from || *start >= to {
                continue;
            }
            let mut file = File::open(path)?;
            let skip = from.saturating_sub(*start);
            file.seek(SeekFrom::Start(skip))?;
            let take = to.min(end) - start - skip;
            file.take(take).read_to_end(&mut out)?;
        }
        if (out.len() as u64) < to.saturating_sub(from) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the log in {} holds {} of the {} bytes asked for at offset {from}",
                    self.dir.display(),
                    out.len(),
                    to - from
                ),
            ));
        }
        Ok(out)
    }

    /// Removes the segments that end at or before `offset` (never the
    /// last).
    pub fn forget_before(&mut self, offset: u64) {
        while self.segments.len() > 1 && self.segments[1].0 <= offset {
            let (_, path) = self.segments.remove(0);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove an old write-ahead log segment");
            }
        }
    }

    /// How many segments the log has.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::{Wal, WalSync};

    #[test]
    fn ranges_read_back_across_segments_and_a_cut_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), WalSync::Batch).unwrap();
        wal.segment_bytes = 1000;
        wal.append(b"a\nbb\n").unwrap();
        assert_eq!(wal.end(), 5);
        assert_eq!(wal.read(2, 5).unwrap(), b"bb\n");
        // Fill the first segment: the next append starts a second one.
        let big = vec![b'x'; 1000];
        let mut line = big.clone();
        line.push(b'\n');
        wal.append(&line).unwrap();
        wal.append(b"c\n").unwrap();
        assert_eq!(wal.segments(), 2);
        let end = wal.end();
        assert_eq!(wal.read(end - 4, end).unwrap(), b"x\nc\n");
        drop(wal);

        // A crash in the middle of a line: it is dropped at open.
        let last = dir.path().join(format!("{}.wal", end - 2));
        let mut bytes = std::fs::read(&last).unwrap();
        bytes.extend_from_slice(b"half");
        std::fs::write(&last, bytes).unwrap();
        let mut wal = Wal::open(dir.path(), WalSync::Always).unwrap();
        assert_eq!(wal.end(), end);
        wal.append(b"d\n").unwrap();
        assert_eq!(wal.read(end - 2, end + 2).unwrap(), b"c\nd\n");

        wal.forget_before(end);
        assert_eq!(wal.segments(), 1);
        assert!(wal.read(0, 2).is_err());
    }
}

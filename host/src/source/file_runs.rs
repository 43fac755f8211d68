//! Reading and decoding a batch's files on several threads.
//!
//! A backlog is many files; read and decoded one after the other, they
//! keep one core busy while the others wait for the batch's first
//! partition (on 2 cores, a 200 MB backlog took 0.25 s of the batch's
//! 1.45 s that way). Here the files are cut into contiguous runs of about
//! equal bytes, one per worker; each worker reads its run in name order
//! and decodes it into partitions of its own, so the batch's lines keep
//! their order (run after run) and at most one partition per run is
//! short.
//!
//! This is the fast path only: a worker that meets anything but a regular
//! file read whole and decoded (a read error, a file grown past its share
//! of the batch's bytes, a line a `fail` policy refuses) gives up, and the
//! caller reads the batch again one file at a time, where each of those
//! cases has its rule.

use std::ffi::OsString;
use std::path::Path;

use super::SourceStats;
use super::lines::{LineChunks, LineDecoder};
use crate::batch::Batch;

/// One file of a run: its name and the size the listing gave.
pub struct ListedFile<'a> {
    /// The file's name in the directory.
    pub name: &'a OsString,
    /// Its size when listed.
    pub size: u64,
}

/// What was read and decoded, in the files' order: by one worker, or by
/// all of them.
pub struct RunsRead {
    /// The partitions, run after run.
    pub chunks: Vec<Batch>,
    /// The bytes of each file read, in the order given.
    pub sizes: Vec<usize>,
    /// The decoder's counters, with the lines read added.
    pub stats: SourceStats,
}

/// Reads and decodes `files` of `dir` on up to `workers` threads into
/// partitions of at most `chunk_bytes`; each file may have grown by up to
/// `slack` bytes since it was listed (past that, or on any error, `None`:
/// read them one by one instead). `decoder` gives the policy and the
/// counters so far.
pub fn read_runs(
    dir: &Path,
    files: &[ListedFile<'_>],
    decoder: &LineDecoder,
    chunk_bytes: usize,
    workers: usize,
    slack: u64,
) -> Option<RunsRead> {
    let runs = split_runs(files, workers);
    let results: Vec<Option<RunsRead>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                let mut decoder = decoder.clone();
                scope.spawn(move || read_run(dir, run, &mut decoder, chunk_bytes, slack))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().ok().flatten())
            .collect()
    });
    let mut read = RunsRead {
        chunks: Vec::new(),
        sizes: Vec::with_capacity(files.len()),
        stats: decoder.stats,
    };
    for run in results {
        let run = run?;
        read.chunks.extend(run.chunks);
        read.sizes.extend(run.sizes);
        add_line_counts(&mut read.stats, &decoder.stats, &run.stats);
    }
    Some(read)
}

fn read_run(
    dir: &Path,
    run: &[ListedFile<'_>],
    decoder: &mut LineDecoder,
    chunk_bytes: usize,
    slack: u64,
) -> Option<RunsRead> {
    let listed: u64 = run.iter().map(|f| f.size).sum();
    let mut lines = LineChunks::new(chunk_bytes);
    lines.reserve(usize::try_from(listed).unwrap_or(usize::MAX));
    let mut sizes = Vec::with_capacity(run.len());
    for file in run {
        let path = dir.join(file.name);
        let limit = file.size.saturating_add(slack);
        let bytes = crate::regular_file::read_bounded(&path, limit).ok()?;
        decoder
            .push_lines(&path.display().to_string(), &bytes, &mut lines)
            .ok()?;
        sizes.push(bytes.len());
    }
    Some(RunsRead {
        chunks: lines.finish(),
        sizes,
        stats: decoder.stats,
    })
}

/// `files` cut into at most `workers` contiguous runs of about equal listed
/// bytes, none empty.
fn split_runs<'f, 'a>(files: &'f [ListedFile<'a>], workers: usize) -> Vec<&'f [ListedFile<'a>]> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    let workers = workers.clamp(1, files.len().max(1)) as u64;
    let mut runs = Vec::with_capacity(workers as usize);
    let (mut start, mut seen) = (0, 0u64);
    for (i, file) in files.iter().enumerate() {
        // Run k ends where the bytes before it come closest to k/workers
        // of the total: before file i when that is nearer than after it.
        let due = (runs.len() as u64 + 1) * total / workers;
        let after = seen + file.size;
        let nearer_before = seen >= due || (after > due && due - seen < after - due);
        if i > start && nearer_before && runs.len() + 1 < workers as usize {
            runs.push(&files[start..i]);
            start = i;
        }
        seen = after;
    }
    if start < files.len() {
        runs.push(&files[start..]);
    }
    runs
}

/// Adds to `total` the lines a worker counted since it started from `base`.
fn add_line_counts(total: &mut SourceStats, base: &SourceStats, worker: &SourceStats) {
    total.lines += worker.lines - base.lines;
    total.replaced_lines += worker.replaced_lines - base.replaced_lines;
    total.skipped_lines += worker.skipped_lines - base.skipped_lines;
    total.long_lines += worker.long_lines - base.long_lines;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Column;
    use crate::config::InvalidUtf8;
    use crate::plan::LinePolicy;

    fn names(count: usize) -> Vec<OsString> {
        (0..count)
            .map(|i| OsString::from(format!("f{i}")))
            .collect()
    }

    #[test]
    fn runs_are_contiguous_and_balanced_by_bytes() {
        let names = names(5);
        let sizes = [10, 10, 10, 10, 60];
        let files: Vec<_> = names
            .iter()
            .zip(sizes)
            .map(|(name, size)| ListedFile { name, size })
            .collect();
        let lengths = |workers| -> Vec<usize> {
            split_runs(&files, workers)
                .iter()
                .map(|r| r.len())
                .collect()
        };
        assert_eq!(lengths(1), [5]);
        // Half the bytes are the last file's.
        assert_eq!(lengths(2), [4, 1]);
        // No more runs than files (a file is never split), each about a
        // fifth of the bytes where the sizes allow it.
        assert_eq!(lengths(8), [2, 2, 1]);
        assert_eq!(lengths(5), [2, 2, 1]);
        assert_eq!(lengths(3), [3, 1, 1]);
        assert!(split_runs(&files[..0], 4).is_empty());
    }

    fn lines_of(chunks: &[Batch]) -> Vec<String> {
        chunks
            .iter()
            .flat_map(|c| match &c.values {
                Column::Varlen(v) => (0..v.len())
                    .map(|i| String::from_utf8_lossy(v.get(i)).into_owned())
                    .collect::<Vec<_>>(),
                other => panic!("not text: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn workers_keep_the_files_lines_in_order_and_count_them() {
        let dir = tempfile::tempdir().unwrap();
        let names = names(7);
        let mut expected = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let text: String = (0..=i * 50)
                .map(|j| format!("file {i} line {j}\n"))
                .collect();
            expected.extend(text.lines().map(str::to_owned));
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        // One invalid line, replaced and counted.
        std::fs::write(dir.path().join(&names[3]), b"bad \xff line\n").unwrap();
        let at = expected
            .iter()
            .position(|l| l.starts_with("file 3 "))
            .unwrap();
        expected.retain(|l| !l.starts_with("file 3 "));
        expected.insert(at, "bad \u{fffd} line".to_owned());
        let files: Vec<_> = names
            .iter()
            .map(|name| ListedFile {
                name,
                size: std::fs::metadata(dir.path().join(name)).unwrap().len(),
            })
            .collect();
        let policy = LinePolicy {
            invalid_utf8: InvalidUtf8::Replace,
            ..LinePolicy::default()
        };
        let mut decoder = LineDecoder::new(policy);
        decoder.stats.lines = 5;
        for workers in [1, 2, 3, 8] {
            let read = read_runs(dir.path(), &files, &decoder, 4096, workers, 0).unwrap();
            assert_eq!(lines_of(&read.chunks), expected, "{workers} workers");
            assert!(read.chunks.iter().all(|c| c.byte_size() <= 4096));
            assert_eq!(read.stats.lines, 5 + expected.len() as u64);
            assert_eq!(read.stats.replaced_lines, 1);
            let sizes: Vec<u64> = read.sizes.iter().map(|&s| s as u64).collect();
            assert_eq!(sizes, files.iter().map(|f| f.size).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_missing_file_or_one_grown_past_its_slack_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let names = names(3);
        for name in &names[..2] {
            std::fs::write(dir.path().join(name), "a\nb\n").unwrap();
        }
        let files: Vec<_> = names
            .iter()
            .map(|name| ListedFile { name, size: 4 })
            .collect();
        let decoder = LineDecoder::new(LinePolicy::default());
        assert!(read_runs(dir.path(), &files, &decoder, 4096, 2, 1 << 20).is_none());
        assert!(read_runs(dir.path(), &files[..2], &decoder, 4096, 2, 0).is_some());
        // Listed at 3 bytes, now 4: one byte of slack is needed.
        let grown: Vec<_> = names[..2]
            .iter()
            .map(|name| ListedFile { name, size: 3 })
            .collect();
        assert!(read_runs(dir.path(), &grown, &decoder, 4096, 2, 0).is_none());
        assert!(read_runs(dir.path(), &grown, &decoder, 4096, 2, 1).is_some());
    }
}

//! Helpers: running the binary with a deadline, the word-count pipeline
//! and its counts; pipeline files and output readers come from the
//! fixtures crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sluice_test_fixtures as fixtures;

pub use fixtures::{PipelineFile, sink_batches, sink_lines, toml_path, walk};

/// The compile cache shared by the tests of one run.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sluice-cache")
}

/// `sluice ARGS` with a test environment.
pub fn sluice(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(args)
        .env("SLUICE_CACHE_DIR", cache_dir())
        .env("TZ", "UTC")
        .env("SLUICE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child`, killing it and failing the test after `limit`. A
/// Rust panic (exit status 101) fails the test whatever it expected: the
/// host never panics, whatever the plugin or the input.
pub fn wait(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            assert_ne!(
                output.status.code(),
                Some(101),
                "sluice panicked\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return output;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "sluice did not stop within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sluice ARGS` to completion (at most 120 s).
pub fn run(args: &[&str]) -> Output {
    wait(sluice(args).spawn().unwrap(), Duration::from_secs(120))
}

/// Sends signal `name` (`TERM`, `INT`, …) to `child`.
pub fn send_signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// A memory figure of process `pid` from `/proc/<pid>/status`, in bytes:
/// `VmRSS` (resident now) or `VmHWM` (its peak); `None` once it is gone.
pub fn proc_memory(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Asserts success and returns stdout.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "sluice failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Asserts failure and returns stderr.
pub fn stderr_of_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "sluice should have failed\nstdout:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Writes `pipeline` as `p.toml` beside an `in` directory, runs `sluice
/// check` and returns stderr; a refused pipeline file is the user's error,
/// exit status 2.
pub fn check_fails(pipeline: PipelineFile) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let path = pipeline.write(dir.path().join("p.toml"));
    let output = run(&["check", path.to_str().unwrap()]);
    let stderr = stderr_of_failure(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    stderr
}

/// Each batch's records as the `text_files` sink `prefix` under `dir`
/// wrote them, sorted, in batch order.
pub fn sorted_batches(dir: &Path, prefix: &str) -> Vec<Vec<String>> {
    sink_batches(dir, prefix)
        .into_values()
        .map(|mut lines| {
            lines.sort();
            lines
        })
        .collect()
}

/// Three small input files for hand-computed batches: "a b a", "b",
/// "c a".
pub const THREE_FILES: &[(&str, &str)] = &[
    ("f0.txt", "a b a\n"),
    ("f1.txt", "b\n"),
    ("f2.txt", "c a\n"),
];

/// A pipeline with batches of `interval` and the source `lines` reading
/// the files already in `in`, one per batch, in name order.
pub fn one_file_per_batch(interval: &str) -> PipelineFile {
    PipelineFile::new(interval).files_source(
        "lines",
        "in",
        "include_existing = true\nmax_files_per_batch = 1",
    )
}

/// Writes each (name, text) of `files` into `dir/in`, made if missing.
pub fn write_inputs(dir: &Path, files: &[(&str, &str)]) {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (name, text) in files {
        std::fs::write(input.join(name), text).unwrap();
    }
}

/// A word-count pipeline over the files source at `input`:
/// split-words, word-pair and sum, written as `jsonl` text files under
/// `out/counts`. `source_keys` go into the source's table; `extra` is
/// appended to the file (more sinks, etc.).
pub fn wordcount_pipeline(dir: &Path, input: &str, source_keys: &str, extra: &str) -> PathBuf {
    PipelineFile::new("200ms")
        .files_source("lines", input, source_keys)
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .raw(extra)
        .write(dir.join("pipeline.toml"))
}

/// The word count of [`wordcount_pipeline`] over a `socket` source `net`
/// on 127.0.0.1:`port`, in batches of `interval`; `source_keys` go into
/// the source's table.
pub fn socket_wordcount(dir: &Path, port: u16, interval: &str, source_keys: &str) -> PathBuf {
    PipelineFile::new(interval)
        .raw(&format!(
            "[sources.net]\nkind = \"socket\"\nport = {port}\n{source_keys}"
        ))
        .stream("words", "net", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .write(dir.join("pipeline.toml"))
}

/// Sums the `jsonl` counts of every batch the word-count pipeline wrote
/// under `dir/out`, which holds nothing else.
pub fn read_counts(dir: &Path) -> BTreeMap<String, i64> {
    if let Ok(entries) = std::fs::read_dir(dir.join("out")) {
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name.starts_with("counts-"),
                "unexpected entry {name} in output"
            );
        }
    }
    counts_in(dir, "counts")
}

/// Sums the `jsonl` (word, count) records of every batch the `text_files`
/// sink writing `out/PREFIX` under `dir` committed.
pub fn counts_in(dir: &Path, prefix: &str) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for line in sink_lines(dir, prefix) {
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        let word = record["key"].as_str().unwrap().to_owned();
        *counts.entry(word).or_insert(0) += record["value"].as_i64().unwrap();
    }
    counts
}

/// Counts words (split at whitespace) in `texts`: the reference.
pub fn reference_counts<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for text in texts {
        for word in text.split_whitespace() {
            *counts.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// Writes `contents` to `dir/name` atomically: written under a hidden name,
/// then renamed in, as the files source asks.
pub fn drop_file(dir: &Path, name: &str, contents: &[u8]) {
    let hidden = dir.join(format!(".{name}.writing"));
    std::fs::write(&hidden, contents).unwrap();
    std::fs::rename(&hidden, dir.join(name)).unwrap();
}

/// Starts `sluice run pipeline` in the background, logging at `info` to
/// `dir/stderr-<n>.log`.
pub fn start_logged(dir: &Path, pipeline: &Path, n: u32) -> Child {
    let stderr = std::fs::File::create(dir.join(format!("stderr-{n}.log"))).unwrap();
    sluice(&["run", pipeline.to_str().unwrap()])
        .env("SLUICE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Waits until the `text_files` sink with `prefix` committed a batch
/// holding `line`.
pub fn wait_for_record(dir: &Path, prefix: &str, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sink_lines(dir, prefix).iter().any(|l| l == line) {
        assert!(
            Instant::now() < deadline,
            "no {line} within 60 s: {:?}",
            sink_lines(dir, prefix)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a pipeline writing `text_files` under `dir/out` has
/// committed its first batch: its sources are open from then on.
pub fn wait_until_running(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(dir.join("out")).map_or(true, |mut e| e.next().is_none()) {
        assert!(
            Instant::now() < deadline,
            "the pipeline did not start within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `pipeline` (with a source `lines`) plus the windowed word count's
/// streams: `words` (split-words), `pairs` (word-pair) and `recent`, a
/// `reduce_by_key_and_window` with `sum` and `window_keys`.
pub fn with_windowed_counts(pipeline: PipelineFile, sum: &Path, window_keys: &str) -> PipelineFile {
    pipeline
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "recent",
            "pairs",
            "reduce_by_key_and_window",
            sum,
            window_keys,
        )
}

/// A corpus of `files` generated files, `mb` MB in all (seed `seed`), made
/// in `dir/corpus`, as (name, text).
pub fn corpus_files(dir: &Path, files: u32, mb: f64, seed: u32) -> Vec<(String, String)> {
    let corpus = fixtures::corpus(&dir.join("corpus"), files, mb, seed);
    corpus
        .files
        .iter()
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(path).unwrap(),
            )
        })
        .collect()
}

/// A windowed word count's output: what each batch read, and each
/// emitted window's counts, by batch time (ms).
pub struct WindowedRun {
    /// The input lines of every batch (the `raw` sink).
    pub batches: BTreeMap<i64, Vec<String>>,
    /// The counts of every window emitted (the `win` sink).
    pub windows: BTreeMap<i64, BTreeMap<String, i64>>,
}

/// The windowed word count: split-words, word-pair, then
/// `reduce_by_key_and_window` with `sum` and `window_keys`, over `files`
/// (name, text) read one per batch from the start; `--partitions
/// partitions`. Stops after 3 idle batches.
pub fn windowed_word_count(
    dir: &Path,
    sum: &Path,
    files: &[(String, String)],
    window_keys: &str,
    partitions: &str,
) -> WindowedRun {
    windowed_run(dir, files, partitions, |source| {
        with_windowed_counts(source, sum, window_keys)
    })
}

/// Runs `streams(source)`, a pipeline whose stream `recent` gives (word,
/// count) records, over `files` (name, text) read one per batch from the
/// start, with `--partitions partitions`; the source `lines` goes to the
/// `raw` sink and `recent` to the `win` sink. Stops after 3 idle batches.
pub fn windowed_run(
    dir: &Path,
    files: &[(String, String)],
    partitions: &str,
    streams: impl FnOnce(PipelineFile) -> PipelineFile,
) -> WindowedRun {
    windowed_run_idle(dir, files, partitions, 3, streams)
}

/// [`windowed_run`], stopping after `idle` idle batches.
pub fn windowed_run_idle(
    dir: &Path,
    files: &[(String, String)],
    partitions: &str,
    idle: u32,
    streams: impl FnOnce(PipelineFile) -> PipelineFile,
) -> WindowedRun {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (name, text) in files {
        std::fs::write(input.join(name), text).unwrap();
    }
    let pipeline = streams(one_file_per_batch("100ms"))
        .text_files("raw", "lines", "out/raw", "format = \"jsonl\"")
        .text_files("win", "recent", "out/win", "format = \"jsonl\"")
        .write(dir.join("pipeline.toml"));
    run_idle(&pipeline, partitions, idle);
    read_windowed(dir)
}

/// Runs `pipeline` with `--partitions partitions` until 3 batches in a row
/// bring no input (at most 600 s: guests in every language); asserts
/// success and returns stdout.
pub fn run_until_idle(pipeline: &Path, partitions: &str) -> String {
    run_idle(pipeline, partitions, 3)
}

/// [`run_until_idle`] after `idle` idle batches.
pub fn run_idle(pipeline: &Path, partitions: &str, idle: u32) -> String {
    let mut command = sluice(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        partitions,
        "--stop-when-idle",
        &idle.to_string(),
    ]);
    stdout_of(&wait(command.spawn().unwrap(), Duration::from_secs(600)))
}

/// `examples/NAME/pipeline.toml` as shipped, with each of its plugins
/// (`name`, as the example's path names it) replaced by the one the tests
/// built.
pub fn example_pipeline(name: &str, plugins: &[(&str, &str)]) -> String {
    let example = Path::new(fixtures::WORKSPACE).join("examples").join(name);
    let mut pipeline = std::fs::read_to_string(example.join("pipeline.toml")).unwrap();
    for (plugin, built) in plugins {
        let shipped = format!("\"../../target/plugins/wasm32-wasip2/plugin/{plugin}.wasm\"");
        assert!(pipeline.contains(&shipped), "{shipped}");
        pipeline = pipeline.replace(&shipped, &fixtures::toml_path(built));
    }
    pipeline
}

/// Each batch's (word, count) records of the `jsonl` sink `out/PREFIX`
/// under `dir`, by batch time; a word twice in one batch fails the test.
pub fn keyed_counts(dir: &Path, prefix: &str) -> BTreeMap<i64, BTreeMap<String, i64>> {
    sink_batches(dir, prefix)
        .into_iter()
        .map(|(time, lines)| {
            let mut counts = BTreeMap::new();
            for line in lines {
                let record: serde_json::Value = serde_json::from_str(&line).unwrap();
                let word = record["key"].as_str().unwrap().to_owned();
                let previous = counts.insert(word, record["value"].as_i64().unwrap());
                assert_eq!(previous, None, "a key twice in one batch: {line}");
            }
            (time, counts)
        })
        .collect()
}

/// What the windowed word count under `dir` wrote: its `raw` and `win`
/// sinks (`jsonl`), by batch time.
pub fn read_windowed(dir: &Path) -> WindowedRun {
    let windows = keyed_counts(dir, "win");
    let batches = sink_batches(dir, "raw")
        .into_iter()
        .map(|(time, lines)| {
            let lines = lines
                .iter()
                .map(|line| {
                    let record: serde_json::Value = serde_json::from_str(line).unwrap();
                    record["value"].as_str().unwrap().to_owned()
                })
                .collect();
            (time, lines)
        })
        .collect();
    WindowedRun { batches, windows }
}

/// Spark's windows over `batches` (the input lines by batch time), the
/// reference: at every batch time t that is a multiple of `slide_ms`, the
/// word counts of the batches in (t − `window_ms`, t].
pub fn reference_windows(
    batches: &BTreeMap<i64, Vec<String>>,
    window_ms: i64,
    slide_ms: i64,
) -> BTreeMap<i64, BTreeMap<String, i64>> {
    batches
        .keys()
        .filter(|t| *t % slide_ms == 0)
        .map(|&t| {
            let lines = batches
                .range(t - window_ms + 1..=t)
                .flat_map(|(_, lines)| lines.iter().map(String::as_str));
            (t, reference_counts(lines))
        })
        .collect()
}

/// The batches `pprint` printed to `stdout`: each batch's time (as
/// printed) and its records, sorted.
pub fn pprint_blocks(stdout: &str) -> Vec<(String, Vec<String>)> {
    stdout
        .split("-------------------------------------------\nTime: ")
        .skip(1)
        .map(|block| {
            let time = block.lines().next().unwrap_or("").to_owned();
            let mut records: Vec<String> = block
                .lines()
                .skip(2)
                .take_while(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            records.sort();
            (time, records)
        })
        .collect()
}

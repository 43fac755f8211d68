//! A backlog of 200 MB already waiting, with default settings: partitions
//! sized by data, fused chains, no default limit tripped, memory bounded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::common::*;

const MIB: u64 = 1 << 20;

/// The peak memory allowed for a batch of `input` bytes: twice the input
/// (the batch is held once, for a re-run, and its partitions' working set
/// stays under it) plus the fixed overhead docs/architecture.md states
/// (the binary, the engine, and the workers' partitions in flight).
fn rss_bound(input: u64) -> u64 {
    2 * input + 192 * MIB
}

/// The corpus of 40 files of 5 MB, generated once per target directory.
fn backlog_corpus() -> (Vec<PathBuf>, std::collections::BTreeMap<String, i64>) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus-40x5MB");
    let corpus = sluice_test_fixtures::corpus(&dir, 40, 5.0, 13);
    (corpus.files, corpus.counts.into_iter().collect())
}

#[test]
fn a_200_mb_backlog_runs_with_default_settings_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (files, expected) = backlog_corpus();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let mut bytes = 0;
    for file in &files {
        let to = input.join(file.file_name().unwrap());
        if std::fs::hard_link(file, &to).is_err() {
            std::fs::copy(file, &to).unwrap();
        }
        bytes += std::fs::metadata(&to).unwrap().len();
    }
    assert!(bytes >= 200_000_000, "{bytes} bytes");
    // The README's word count, default settings: no `partitions`, no
    // limits raised.
    let pipeline = wordcount_pipeline(dir.path(), "in", "include_existing = true", "");
    let mut child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "2"]);
    let child = child.spawn().unwrap();
    let pid = child.id();
    let watcher = std::thread::spawn(move || {
        let mut peak = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(300) {
            match proc_memory(pid, "VmHWM") {
                Some(rss) => peak = peak.max(rss),
                None => break,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let output = wait(child, Duration::from_secs(300));
    let peak = watcher.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stdout_of(&output);
    assert!(!stderr.contains("limit"), "a limit tripped:\n{stderr}");
    assert_eq!(read_counts(dir.path()), expected);
    assert!(peak > 0, "VmHWM was never read");
    eprintln!(
        "peak RSS {} MiB for {} MiB of input",
        peak / MIB,
        bytes / MIB
    );
    assert!(
        peak <= rss_bound(bytes),
        "peak RSS {} MiB over the bound {} MiB for {} MiB of input",
        peak / MIB,
        rss_bound(bytes) / MIB,
        bytes / MIB
    );
}

/// The `value` of each `jsonl` line the sink with `prefix` wrote.
fn values(dir: &Path, prefix: &str) -> Vec<String> {
    sink_lines(dir, prefix)
        .iter()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["value"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn streams_with_a_sink_or_several_readers_are_kept_whole_and_chains_run_fused() {
    use sluice_test_fixtures as fixtures;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let text: String = (0..3000)
        .map(|i| format!("alpha beta{} gamma delta{}\n", i % 7, i % 3))
        .collect();
    std::fs::write(input.join("a.txt"), &text).unwrap();
    // `words` has a sink and two readers; `tokens` only feeds `long`, so
    // tokens -> long runs as one chain, and so does pairs -> counts.
    let pipeline = PipelineFile::new("200ms")
        .raw("target_partition_mib = 1")
        .files_source("lines", "in", "include_existing = true")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .stream(
            "short",
            "words",
            "filter",
            fixtures::MIN_LENGTH,
            "params = { min_length = 1 }",
        )
        .stream("tokens", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream(
            "long",
            "tokens",
            "filter",
            fixtures::MIN_LENGTH,
            "params = { min_length = 6 }",
        )
        .text_files("all", "words", "out/w", "format = \"jsonl\"")
        .text_files("short", "short", "out/s", "format = \"jsonl\"")
        .text_files("long", "long", "out/l", "format = \"jsonl\"")
        .text_files("counts", "counts", "out/c", "format = \"jsonl\"")
        .write(dir.path().join("pipeline.toml"));
    let output = run(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "2"]);
    stdout_of(&output);
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let long: Vec<String> = words.iter().filter(|w| w.len() >= 6).cloned().collect();
    let mut all = values(dir.path(), "w");
    let mut short = values(dir.path(), "s");
    let mut long_out = values(dir.path(), "l");
    // Partitions are written in order within a batch; sort only to
    // compare as multisets across partitions.
    for list in [&mut all, &mut short, &mut long_out] {
        list.sort();
    }
    let mut sorted_words = words.clone();
    sorted_words.sort();
    let mut sorted_long = long.clone();
    sorted_long.sort();
    // Counted, not printed: thousands of words.
    assert_eq!(all.len(), sorted_words.len(), "words");
    assert!(all == sorted_words, "words differ");
    assert!(short == sorted_words, "short differs");
    assert_eq!(long_out.len(), sorted_long.len(), "long");
    assert!(long_out == sorted_long, "long differs");
    assert_eq!(
        counts_in(dir.path(), "c"),
        reference_counts([text.as_str()])
    );
}

#[test]
fn a_million_distinct_keys_are_each_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // One million distinct words, ten to a line, and the first thousand
    // again: every key survives both combines and the exchange.
    let mut text = String::with_capacity(12 << 20);
    for i in 0..1_000_000u32 {
        text.push_str(&format!("k{i:07}"));
        text.push(if i % 10 == 9 { '\n' } else { ' ' });
    }
    for i in 0..1000u32 {
        text.push_str(&format!("k{i:07}\n"));
    }
    std::fs::write(input.join("keys.txt"), &text).unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "include_existing = true", "");
    let output = run(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "2"]);
    stdout_of(&output);
    let counts = read_counts(dir.path());
    assert_eq!(counts.len(), 1_000_000);
    assert_eq!(counts.values().filter(|&&c| c == 2).count(), 1000);
    assert_eq!(counts.values().sum::<i64>(), 1_001_000);
    assert_eq!(counts.get("k0000999"), Some(&2));
    assert_eq!(counts.get("k0001000"), Some(&1));
    assert_eq!(counts.get("k0999999"), Some(&1));
}

//! The word count end to end, against an independent reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::common::*;

/// A corpus of `files` files of `mb` MB in `dir/corpus`, and its exact
/// counts, from `scripts/gen_corpus.py`: the independent reference.
fn corpus(dir: &Path, files: u32, mb: f64) -> (Vec<std::path::PathBuf>, BTreeMap<String, i64>) {
    let corpus = sluice_test_fixtures::corpus(&dir.join("corpus"), files, mb, 7);
    (corpus.files, corpus.counts.into_iter().collect())
}

fn counts_with_partitions(partitions: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (files, expected) = corpus(dir.path(), 4, 0.25);
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for file in &files {
        std::fs::copy(file, input.join(file.file_name().unwrap())).unwrap();
    }
    let pipeline = wordcount_pipeline(dir.path(), "in", "include_existing = true", "");
    let output = run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        partitions,
        "--stop-when-idle",
        "2",
    ]);
    stdout_of(&output);
    assert_eq!(read_counts(dir.path()), expected);
}

#[test]
fn counts_match_the_reference_with_one_partition() {
    counts_with_partitions("1");
}

#[test]
fn counts_match_the_reference_with_four_partitions() {
    counts_with_partitions("4");
}

#[test]
fn files_arriving_while_running_are_counted_once_each_even_with_old_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let (files, expected) = corpus(dir.path(), 3, 0.1);
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "", "");
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "8"])
        .spawn()
        .unwrap();
    wait_until_running(dir.path());
    for (i, file) in files.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(300));
        let contents = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        drop_file(&input, name, &contents);
        if i == 1 {
            // Moved in with a modification time from the past: Spark would
            // never read it.
            let old = std::time::SystemTime::now() - Duration::from_secs(86_400 * 30);
            std::fs::File::options()
                .write(true)
                .open(input.join(name))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
    stdout_of(&wait(child, Duration::from_secs(120)));
    assert_eq!(read_counts(dir.path()), expected);
}

#[test]
fn words_counted_per_partition_in_the_guest_give_the_reference_counts() {
    // `split-count` (a `#[flat_map_batch]`: Spark's `mapPartitions` with a
    // counter) gives each distinct word of a partition once with its count;
    // `reduce_by_key(sum)` then gives exactly the word count's counts.
    let dir = tempfile::tempdir().unwrap();
    let (files, mut expected) = corpus(dir.path(), 4, 0.25);
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for file in &files {
        std::fs::copy(file, input.join(file.file_name().unwrap())).unwrap();
    }
    // Unicode whitespace and words beyond ASCII, cut as `split_whitespace`
    // cuts them.
    let unicode = "été\u{3000}été naïve\u{a0}café\n\u{2003}日本 日本\t語 été\u{85}x\n";
    std::fs::write(input.join("unicode.txt"), unicode).unwrap();
    for (word, count) in reference_counts([unicode]) {
        *expected.entry(word).or_insert(0) += count;
    }
    let pipeline = PipelineFile::new("200ms")
        .files_source("lines", "in", "include_existing = true")
        .stream(
            "partials",
            "lines",
            "flat_map",
            sluice_test_fixtures::SPLIT_COUNT,
            "",
        )
        .stream(
            "counts",
            "partials",
            "reduce_by_key",
            sluice_test_fixtures::SUM,
            "",
        )
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .text_files(
            "partial-files",
            "partials",
            "out/partials",
            "format = \"jsonl\"",
        )
        .write(dir.path().join("pipeline.toml"));
    let output = run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "3",
        "--stop-when-idle",
        "2",
    ]);
    stdout_of(&output);
    assert_eq!(counts_in(dir.path(), "counts"), expected);
    // What left the guest: at most one record per word and partition (3
    // partitions in each batch), far fewer than the words (the corpus draws
    // from 50 000 words: about 49 000 partial counts for 219 000 words).
    let words: i64 = expected.values().sum();
    let mut seen: BTreeMap<(i64, String), u32> = BTreeMap::new();
    let mut partials = 0;
    for (batch, lines) in sink_batches(dir.path(), "partials") {
        for line in lines {
            let record: serde_json::Value = serde_json::from_str(&line).unwrap();
            let word = record["key"].as_str().unwrap().to_owned();
            *seen.entry((batch, word)).or_insert(0) += 1;
            partials += 1;
        }
    }
    assert!(
        seen.values().all(|&n| n <= 3),
        "a word given twice by one partition"
    );
    assert!(
        partials * 4 < words,
        "{partials} partial counts for {words} words"
    );
    assert_eq!(counts_in(dir.path(), "partials"), expected);
}

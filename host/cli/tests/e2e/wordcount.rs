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

//! The word count end to end, against an independent reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::common::*;

/// Generates `files` corpus files of `mb` MB with `../shared/gen_corpus.py`
/// into `dir/corpus`, returning the files and the exact expected counts.
fn corpus(dir: &Path, files: u32, mb: f64) -> (Vec<std::path::PathBuf>, BTreeMap<String, i64>) {
    let script = sluice_test_fixtures::gen_corpus_script()
        .expect("../shared/gen_corpus.py is missing: the corpus tests need the shared folder beside the repository");
    let out = dir.join("corpus");
    let counts = dir.join("counts.json");
    let status = Command::new("python3")
        .arg(script)
        .arg(&out)
        .args([
            "--files",
            &files.to_string(),
            "--mb",
            &mb.to_string(),
            "--seed",
            "7",
        ])
        .arg("--counts")
        .arg(&counts)
        .status()
        .expect("python3 is needed to generate the corpus");
    assert!(status.success());
    let mut paths: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let expected: BTreeMap<String, i64> =
        serde_json::from_str(&std::fs::read_to_string(counts).unwrap()).unwrap();
    (paths, expected)
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

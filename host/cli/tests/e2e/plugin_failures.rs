//! A failing plugin stops the pipeline with an error that names where.

use super::common::*;
use sluice_test_fixtures as fixtures;

#[test]
fn an_operator_error_names_pipeline_stream_plugin_batch_partition_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "fine words\nthe poison here\n").unwrap();
    let path = PipelineFile::new("200ms")
        .files_source("lines", "in", "include_existing = true")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("checked", "words", "map", fixtures::REJECT_WORD, "")
        .pprint("out", "checked")
        .write(dir.path().join("guarded.toml"));
    let output = run(&[
        "run",
        path.to_str().unwrap(),
        "--partitions",
        "1",
        "--max-batches",
        "3",
    ]);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("error: pipeline `guarded`, stream `checked`, plugin reject_word (sha256 "),
        "{stderr}"
    );
    assert!(
        stderr.contains(", partition 0, attempt 1: the operator failed on record 3 of the partition: refusing \"poison\""),
        "{stderr}"
    );
    // The failing batch was not delivered.
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

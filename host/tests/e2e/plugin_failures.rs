//! A failing plugin stops the pipeline with an error that names where.

use super::common::*;
use sluice_test_fixtures as fixtures;

#[test]
fn an_operator_error_names_pipeline_stream_plugin_batch_partition_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "fine words\nthe poison here\n").unwrap();
    let path = dir.path().join("guarded.toml");
    std::fs::write(
        &path,
        format!(
            "batch_interval = \"200ms\"\n[sources.lines]\nkind = \"files\"\npath = \"in\"\ninclude_existing = true\n\
             [streams.words]\nfrom = \"lines\"\nop = \"flat_map\"\nplugin = {}\n\
             [streams.checked]\nfrom = \"words\"\nop = \"map\"\nplugin = {}\n\
             [sinks.out]\nfrom = \"checked\"\nkind = \"pprint\"\n",
            toml_path(fixtures::SPLIT_WORDS),
            toml_path(fixtures::REJECT_WORD),
        ),
    )
    .unwrap();
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

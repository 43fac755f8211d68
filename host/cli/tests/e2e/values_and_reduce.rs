//! Plugins called with other records than their stream's: `map_values`
//! (the plugin sees the values only; the keys pass through the host) and
//! `reduce` / `reduce_by_window` (a reducer over every record of an unkeyed
//! batch or window), end to end against hand-computed batches.

use std::path::Path;

use super::common::*;
use sluice_test_fixtures as fixtures;

/// Each batch's records as the `text_files` sink `prefix` under `dir` wrote
/// them, sorted, in batch order.
fn sorted_batches(dir: &Path, prefix: &str) -> Vec<Vec<String>> {
    sink_batches(dir, prefix)
        .into_values()
        .map(|mut lines| {
            lines.sort();
            lines
        })
        .collect()
}

#[test]
fn map_values_keeps_keys_and_reduce_combines_whole_batches_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (name, text) in [
        ("f0.txt", "a b a\n"),
        ("f1.txt", "b\n"),
        ("f2.txt", "c a\n"),
    ] {
        std::fs::write(input.join(name), text).unwrap();
    }
    let pipeline = PipelineFile::new("100ms")
        .files_source(
            "lines",
            "in",
            "include_existing = true\nmax_files_per_batch = 1",
        )
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("tens", "pairs", "map_values", fixtures::TIMES_TEN, "")
        .host_stream("n", "words", "count", "")
        .stream(
            "window_total",
            "n",
            "reduce_by_window",
            fixtures::SUM,
            "window_duration = \"200ms\"",
        )
        .host_stream("counts", "n", "window", "window_duration = \"300ms\"")
        .stream("total", "counts", "reduce", fixtures::SUM, "")
        .text_files("tens", "tens", "out/tens", "format = \"jsonl\"")
        .text_files("window_total", "window_total", "out/window_total", "")
        .text_files("total", "total", "out/total", "")
        .write(dir.path().join("pipeline.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains("  stream tens: map_values times_ten (")
            && checked.contains(") (text, int64) -> (text, int64)\n"),
        "{checked}"
    );
    stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "2",
        "--stop-when-idle",
        "3",
    ]));
    let ten = |w: &str| format!("{{\"key\": \"{w}\", \"value\": 10}}");
    assert_eq!(
        sorted_batches(dir.path(), "tens"),
        [
            vec![ten("a"), ten("a"), ten("b")],
            vec![ten("b")],
            vec![ten("a"), ten("c")],
            vec![],
            vec![],
            vec![],
        ]
    );
    // The counts are 3, 1, 2, 0, 0, 0: summed over two batches, and over
    // the three a window of counts holds.
    let one = |n: i64| vec![n.to_string()];
    assert_eq!(
        sorted_batches(dir.path(), "window_total"),
        [one(3), one(4), one(3), one(2), one(0), one(0)]
    );
    assert_eq!(
        sorted_batches(dir.path(), "total"),
        [one(3), one(4), one(6), one(3), one(2), one(0)]
    );
}

#[test]
fn map_values_and_reduce_refuse_inputs_they_cannot_take() {
    let dir = tempfile::tempdir().unwrap();
    let check = |pipeline: PipelineFile| {
        let path = pipeline.write(dir.path().join("p.toml"));
        stderr_of_failure(&run(&["check", path.to_str().unwrap()]))
    };
    let words = || {
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
    };
    let stderr = check(
        words()
            .stream("tagged", "words", "map_values", fixtures::TAG_A, "")
            .pprint("out", "tagged"),
    );
    assert!(
        stderr.contains("stream `tagged`: `map_values` maps the values of a keyed stream, but its input gives text records; use `map`"),
        "{stderr}"
    );
    let stderr = check(
        words()
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
            .stream("total", "pairs", "reduce", fixtures::SUM, "")
            .pprint("out", "total"),
    );
    assert!(
        stderr.contains("stream `total`: `reduce` combines the records of an unkeyed stream, but its input gives (text, int64) records (keyed); use reduce_by_key to combine per key"),
        "{stderr}"
    );
    let stderr = check(
        words()
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
            .stream(
                "tens",
                "pairs",
                "map_values",
                fixtures::TIMES_TEN,
                "on_error = \"dead_letter\"",
            )
            .pprint("out", "tens"),
    );
    assert!(
        stderr.contains("stream `tens`: `map_values` does not take on_error = \"dead_letter\" yet"),
        "{stderr}"
    );
}

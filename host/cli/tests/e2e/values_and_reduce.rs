//! Plugins called with other records than their stream's: `map_values`
//! (the plugin sees the values only; the keys pass through the host) and
//! `reduce` / `reduce_by_window` (a reducer over every record of an unkeyed
//! batch or window), end to end against hand-computed batches.

use super::common::*;
use sluice_test_fixtures as fixtures;

#[test]
fn map_values_keeps_keys_and_reduce_combines_whole_batches_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), THREE_FILES);
    let pipeline = one_file_per_batch("100ms")
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
    run_until_idle(&pipeline, "2");
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

//! The operators the host runs itself — `count`, `count_by_value`,
//! `count_by_value_and_window`, `count_by_window`, `window` — end to end with the real
//! binary, against hand-computed batches and a model of Spark's windows.

use super::common::*;
use sluice_test_fixtures as fixtures;

fn jsonl(records: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = records.iter().map(|r| (*r).to_owned()).collect();
    lines.sort();
    lines
}

#[test]
fn count_count_by_value_and_window_give_spark_s_batches_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), THREE_FILES);
    let jsonl_sink = "format = \"jsonl\"";
    let pipeline = one_file_per_batch("100ms")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .host_stream("n", "words", "count", "")
        .host_stream("by_value", "words", "count_by_value", "")
        .host_stream("recent", "words", "window", "window_duration = \"200ms\"")
        .host_stream(
            "recent_counts",
            "words",
            "count_by_value_and_window",
            "window_duration = \"200ms\"",
        )
        .host_stream(
            "recent_n",
            "words",
            "count_by_window",
            "window_duration = \"200ms\"",
        )
        .pprint("console", "n")
        .text_files("recent_n", "recent_n", "out/recent_n", jsonl_sink)
        .text_files("n", "n", "out/n", jsonl_sink)
        .text_files("by_value", "by_value", "out/by_value", jsonl_sink)
        .text_files("recent", "recent", "out/recent", jsonl_sink)
        .text_files(
            "recent_counts",
            "recent_counts",
            "out/recent_counts",
            jsonl_sink,
        )
        .write(dir.path().join("pipeline.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains("  stream n: count count (builtin) text -> int64\n"),
        "{checked}"
    );
    let stdout = run_until_idle(&pipeline, "2");
    // 3 batches with a file, 3 idle ones; an empty batch counts 0.
    let printed: Vec<&str> = stdout
        .split("-------------------------------------------\nTime: ")
        .skip(1)
        .map(|block| block.lines().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(printed, ["3", "1", "2", "0", "0", "0"], "{stdout}");
    assert_eq!(
        sorted_batches(dir.path(), "n"),
        [
            ["{\"value\": 3}"],
            ["{\"value\": 1}"],
            ["{\"value\": 2}"],
            ["{\"value\": 0}"],
            ["{\"value\": 0}"],
            ["{\"value\": 0}"]
        ]
    );
    let pair = |word: &str, n: i64| format!("{{\"key\": \"{word}\", \"value\": {n}}}");
    assert_eq!(
        sorted_batches(dir.path(), "by_value"),
        [
            jsonl(&[&pair("a", 2), &pair("b", 1)]),
            jsonl(&[&pair("b", 1)]),
            jsonl(&[&pair("a", 1), &pair("c", 1)]),
            vec![],
            vec![],
            vec![],
        ]
    );
    let word = |w: &str| format!("{{\"value\": \"{w}\"}}");
    assert_eq!(
        sorted_batches(dir.path(), "recent"),
        [
            jsonl(&[&word("a"), &word("a"), &word("b")]),
            jsonl(&[&word("a"), &word("a"), &word("b"), &word("b")]),
            jsonl(&[&word("a"), &word("b"), &word("c")]),
            jsonl(&[&word("a"), &word("c")]),
            vec![],
            vec![],
        ]
    );
    assert_eq!(
        sorted_batches(dir.path(), "recent_counts"),
        [
            jsonl(&[&pair("a", 2), &pair("b", 1)]),
            jsonl(&[&pair("a", 2), &pair("b", 2)]),
            jsonl(&[&pair("a", 1), &pair("b", 1), &pair("c", 1)]),
            jsonl(&[&pair("a", 1), &pair("c", 1)]),
            vec![],
            vec![],
        ]
    );
    // Records in the last two batches; 0 for a window without any.
    let count = |n: i64| vec![format!("{{\"value\": {n}}}")];
    assert_eq!(
        sorted_batches(dir.path(), "recent_n"),
        [count(3), count(4), count(3), count(2), count(0), count(0)]
    );
}

fn counts_by_value_over_windows_match_the_model(partitions: &str) {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 22, 22.0 * 0.02, 9);
    let run = windowed_run(&dir.path().join("run"), &files, partitions, |source| {
        source
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .host_stream(
                "recent",
                "words",
                "count_by_value_and_window",
                "window_duration = \"400ms\"\nslide_duration = \"200ms\"",
            )
    });
    let model = reference_windows(&run.batches, 400, 200);
    assert!(model.len() >= 11, "{} windows", model.len());
    assert_eq!(
        run.batches.values().filter(|b| !b.is_empty()).count(),
        files.len()
    );
    let differing: Vec<&i64> = model
        .iter()
        .filter(|(time, counts)| run.windows.get(time) != Some(counts))
        .map(|(time, _)| time)
        .collect();
    assert!(differing.is_empty(), "windows differ at {differing:?}");
    assert_eq!(run.windows.len(), model.len());
}

#[test]
fn count_by_value_and_window_matches_a_model_of_spark_with_one_partition() {
    counts_by_value_over_windows_match_the_model("1");
}

#[test]
fn count_by_value_and_window_matches_a_model_of_spark_with_four_partitions() {
    counts_by_value_over_windows_match_the_model("4");
}

#[test]
fn repartition_spreads_each_batch_over_its_partitions_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let words: Vec<String> = (0..30).map(|i| format!("w{i:02}")).collect();
    std::fs::write(input.join("f.txt"), words.join("\n") + "\n").unwrap();
    let pipeline = PipelineFile::new("100ms")
        .files_source("lines", "in", "include_existing = true")
        .host_stream("spread", "lines", "repartition", "partitions = 3")
        .text_files("spread", "spread", "out/spread", "")
        .write(dir.path().join("pipeline.toml"));
    stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "2",
        "--max-batches",
        "1",
    ]));
    let batch = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("spread-")
        })
        .unwrap();
    let parts: Vec<Vec<String>> = (0..3)
        .map(|i| {
            std::fs::read_to_string(batch.join(format!("part-{i:05}")))
                .unwrap()
                .lines()
                .map(|l| l.trim_matches('\'').to_owned())
                .collect()
        })
        .collect();
    assert!(!batch.join("part-00003").exists());
    assert!(
        parts.iter().all(|p| (9..=11).contains(&p.len())),
        "{parts:?}"
    );
    assert_eq!(parts.concat(), words, "every record once, in order");
    let dir2 = tempfile::tempdir().unwrap();
    let stderr = stderr_of_failure(&run(&[
        "check",
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .host_stream("spread", "lines", "repartition", "")
            .pprint("out", "spread")
            .write(dir2.path().join("p.toml"))
            .to_str()
            .unwrap(),
    ]));
    assert!(
        stderr.contains("p.toml:7:6: stream `spread`: `repartition` needs `partitions`, how many partitions each batch gets"),
        "{stderr}"
    );
}

/// Each batch's records of sink `out/PREFIX` in order (not sorted).
fn in_order(dir: &std::path::Path, prefix: &str) -> Vec<Vec<String>> {
    sink_batches(dir, prefix).into_values().collect()
}

#[test]
fn per_batch_sorts_tops_distinct_and_samples_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(
        dir.path(),
        &[("f0.txt", "b a c a b a d\n"), ("f1.txt", "z y\n")],
    );
    let pipeline = one_file_per_batch("100ms")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .host_stream("most", "counts", "top", "num = 2\nby = \"value\"")
        .host_stream("least", "counts", "take_ordered", "num = 3")
        .host_stream("backwards", "counts", "sort_by_key", "ascending = false")
        .host_stream("by_count", "counts", "sort_by", "by = \"value\"")
        .host_stream("once", "words", "distinct", "")
        .host_stream("some", "words", "sample", "fraction = 0.5\nseed = 3")
        .host_stream("again", "words", "sample", "fraction = 0.5\nseed = 3")
        .pprint("console", "most")
        .text_files("least", "least", "out/least", "")
        .text_files("backwards", "backwards", "out/backwards", "")
        .text_files("by_count", "by_count", "out/by_count", "")
        .text_files("once", "once", "out/once", "")
        .text_files("some", "some", "out/some", "")
        .text_files("again", "again", "out/again", "")
        .write(dir.path().join("pipeline.toml"));
    let stdout = stdout_of(&run(&[
        "run",
        pipeline.to_str().unwrap(),
        "--partitions",
        "2",
        "--max-batches",
        "2",
    ]));
    // `top(2)` by count, largest first, as PySpark's pprint shows it.
    let blocks = pprint_blocks(&stdout);
    assert_eq!(blocks[0].1, ["('a', 3)", "('b', 2)"]);
    assert_eq!(
        in_order(dir.path(), "least"),
        [
            vec!["('a', 3)", "('b', 2)", "('c', 1)"],
            vec!["('y', 1)", "('z', 1)"]
        ]
    );
    assert_eq!(
        in_order(dir.path(), "backwards")[0],
        ["('d', 1)", "('c', 1)", "('b', 2)", "('a', 3)"]
    );
    // Ties (count 1) keep the order the exchange gave them; counts ascend.
    let by_count = &in_order(dir.path(), "by_count")[0];
    let counts: Vec<&str> = by_count
        .iter()
        .map(|r| &r[r.len() - 2..r.len() - 1])
        .collect();
    assert_eq!(counts, ["1", "1", "2", "3"]);
    let mut once = in_order(dir.path(), "once")[0].clone();
    once.sort();
    assert_eq!(once, ["'a'", "'b'", "'c'", "'d'"]);
    // The same seed over the same input: the same sample.
    let some = in_order(dir.path(), "some");
    assert_eq!(some, in_order(dir.path(), "again"));
    assert!(some[0].len() < 7, "{some:?}");
}

#[test]
fn per_batch_transforms_check_their_settings() {
    let base = || {
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
    };
    for (op, keys, message) in [
        (
            "top",
            "",
            "stream `t`: `top` needs `num`, how many records each batch gives",
        ),
        (
            "take_ordered",
            "num = 2\nby = \"value\"",
            "stream `t`: `by` orders keyed records by key or value, but the input gives unkeyed text records; leave `by` out to order by the records themselves",
        ),
        (
            "sample",
            "fraction = 1.5",
            "stream `t`: `fraction` is 1.5, but it must be between 0 and 1",
        ),
        (
            "distinct",
            "num = 3",
            "stream `t`: `num` does not apply to `distinct`",
        ),
        (
            "sort_by_key",
            "",
            "stream `t`: `sort_by_key` orders keyed records, but its input gives unkeyed text records; use `sort_by`",
        ),
        (
            "top",
            "num = 0",
            "p.toml:12:7: stream `t`: `num` = 0 is out of range: it must be between 1 and 1000000 records",
        ),
    ] {
        let stderr = check_fails(
            base()
                .host_stream("t", "words", op, keys)
                .pprint("out", "t"),
        );
        assert!(stderr.contains(message), "{op} {keys}: {stderr}");
    }
}

fn group_by_key_by_hand(partitions: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), THREE_FILES);
    let pipeline = one_file_per_batch("100ms")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .host_stream("grouped", "pairs", "group_by_key", "")
        .host_stream(
            "recent",
            "counts",
            "group_by_key_and_window",
            "window_duration = \"300ms\"",
        )
        .text_files("grouped", "grouped", "out/grouped", "")
        .text_files("recent", "recent", "out/recent", "")
        .write(dir.path().join("pipeline.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains(
            "  stream recent: group_by_key_and_window group_by_key_and_window (builtin) (text, int64) -> (text, list(int64)), window 300ms sliding every 100ms\n"
        ),
        "{checked}"
    );
    run_until_idle(&pipeline, partitions);
    let batches = |lists: &[&[&str]]| -> Vec<Vec<String>> {
        lists
            .iter()
            .map(|b| b.iter().map(|r| (*r).to_owned()).collect())
            .collect()
    };
    assert_eq!(
        sorted_batches(dir.path(), "grouped"),
        batches(&[
            &["('a', [1, 1])", "('b', [1])"],
            &["('b', [1])"],
            &["('a', [1])", "('c', [1])"],
            &[],
            &[],
            &[],
        ])
    );
    // Each key's counts, batch by batch, over the last three batches.
    assert_eq!(
        sorted_batches(dir.path(), "recent"),
        batches(&[
            &["('a', [2])", "('b', [1])"],
            &["('a', [2])", "('b', [1, 1])"],
            &["('a', [2, 1])", "('b', [1, 1])", "('c', [1])"],
            &["('a', [1])", "('b', [1])", "('c', [1])"],
            &["('a', [1])", "('c', [1])"],
            &[],
        ])
    );
}

#[test]
fn group_by_key_and_its_window_list_values_in_arrival_order_with_one_partition() {
    group_by_key_by_hand("1");
}

#[test]
fn group_by_key_and_its_window_list_values_in_arrival_order_with_four_partitions() {
    group_by_key_by_hand("4");
}

#[test]
fn group_by_key_needs_keyed_records() {
    let stderr = check_fails(
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .host_stream("g", "lines", "group_by_key", "")
            .pprint("out", "g"),
    );
    assert!(
        stderr.contains("stream `g`: `group_by_key` groups keyed records, but its input gives unkeyed text records; add a `map` stream that gives (key, value) pairs"),
        "{stderr}"
    );
}

//! Windowed streams end to end: `reduce_by_key_and_window` with the real
//! reducer plugins, one input file per batch (`max_files_per_batch = 1`),
//! against hand-computed windows and against a model of Spark's windows
//! computed in the test from what each batch read.

use std::collections::BTreeMap;
use std::path::Path;

use super::common::*;
use sluice_test_fixtures as fixtures;

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect()
}

#[test]
fn a_window_of_three_batches_sliding_every_batch_counts_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = ["a b\n", "a\n", "b c\nc\n", "a\n"]
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("f{i}.txt"), (*text).to_owned()))
        .collect();
    let run = windowed_word_count(
        dir.path(),
        Path::new(fixtures::SUM),
        &files,
        "window_duration = \"300ms\"",
        "2",
    );
    // Every batch emits (the slide is the batch interval); the window
    // holds the last three batches, so the counts fall back to nothing
    // once the input stops.
    let emitted: Vec<BTreeMap<String, i64>> = run.windows.values().cloned().collect();
    assert_eq!(
        emitted[..7],
        [
            counts(&[("a", 1), ("b", 1)]),
            counts(&[("a", 2), ("b", 1)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 1), ("c", 2)]),
            counts(&[("a", 1), ("b", 1), ("c", 2)]),
            counts(&[("a", 1)]),
            counts(&[]),
        ]
    );
    assert_eq!(emitted.len(), 7, "4 batches with input, 3 idle ones");
    let times: Vec<i64> = run.windows.keys().copied().collect();
    assert_eq!(times, run.batches.keys().copied().collect::<Vec<_>>());
    assert!(times.windows(2).all(|t| t[1] - t[0] == 100), "{times:?}");
    assert!(times.iter().all(|t| t % 100 == 0), "aligned: {times:?}");
}

/// The keys that make a window incremental: `subtract` undoes `sum`, and
/// keys whose count falls to 0 leave, as they do without an inverse.
fn inverse_keys() -> String {
    format!(
        "inverse_plugin = {}\ndrop_when = 0",
        fixtures::toml_path(fixtures::SUBTRACT)
    )
}

/// The windowed word count over a generated corpus, one file per batch,
/// with `window_keys` (a window of `window_ms` sliding every `slide_ms`),
/// against the model of Spark's windows.
fn sliding_windows_match_the_model(
    partitions: &str,
    window_keys: &str,
    window_ms: i64,
    slide_ms: i64,
) {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 24, 24.0 * 20_000.0 / 1e6, 5);
    let run = windowed_word_count(
        &dir.path().join("run"),
        Path::new(fixtures::SUM),
        &files,
        window_keys,
        partitions,
    );
    // Every file was read, one per batch, in name order.
    let read: Vec<&Vec<String>> = run.batches.values().filter(|b| !b.is_empty()).collect();
    assert_eq!(read.len(), files.len());
    for (lines, (name, text)) in read.iter().zip(&files) {
        assert!(
            lines.join("\n") == text.trim_end_matches('\n'),
            "{name} is not what one batch read"
        );
    }
    let model = reference_windows(&run.batches, window_ms, slide_ms);
    assert!(model.len() >= 12, "{} windows", model.len());
    assert_eq!(run.windows.len(), model.len());
    for ((time, got), (expected_time, expected)) in run.windows.iter().zip(&model) {
        assert_eq!(time, expected_time);
        assert!(
            got == expected,
            "window at {time}: {} keys, expected {}",
            got.len(),
            expected.len()
        );
    }
}

const SLIDING: &str = "window_duration = \"500ms\"\nslide_duration = \"200ms\"";

#[test]
fn sliding_windows_match_a_model_of_spark_with_one_partition() {
    sliding_windows_match_the_model("1", SLIDING, 500, 200);
}

#[test]
fn sliding_windows_match_a_model_of_spark_with_four_partitions() {
    sliding_windows_match_the_model("4", SLIDING, 500, 200);
}

#[test]
fn incremental_windows_with_an_inverse_match_the_same_model_with_one_and_four_partitions() {
    // Five slides: the inverse is used (see the by-hand test below).
    let keys = format!("window_duration = \"500ms\"\n{}", inverse_keys());
    sliding_windows_match_the_model("1", &keys, 500, 100);
    sliding_windows_match_the_model("4", &keys, 500, 100);
}

/// The windowed word count of `FOUR_FILES` with `window_keys` and the
/// inverse, stopping after 6 idle batches: each batch's window.
fn inverse_windows_by_hand(window_keys: &str) -> Vec<BTreeMap<String, i64>> {
    let files: Vec<(String, String)> = ["a b\n", "a\n", "b c\nc\n", "a\n"]
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("f{i}.txt"), (*text).to_owned()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let run = windowed_run_idle(dir.path(), &files, "2", 6, |source| {
        with_windowed_counts(
            source,
            Path::new(fixtures::SUM),
            &format!(
                "{window_keys}\ninverse_plugin = {}",
                fixtures::toml_path(fixtures::SUBTRACT)
            ),
        )
    });
    run.windows.values().cloned().collect()
}

/// What PySpark 4 gives for `pairs.reduceByKeyAndWindow(add, sub, 5, 1)`
/// over the same four batches and six idle ones (checked with a local
/// PySpark: a window of five slides uses the inverse, and without a
/// filterFunc a key whose batches all left stays at 0).
#[test]
fn an_inverse_window_of_five_slides_keeps_zero_counts_unless_drop_when_says() {
    let zeros = counts(&[("a", 0), ("b", 0), ("c", 0)]);
    assert_eq!(
        inverse_windows_by_hand("window_duration = \"500ms\""),
        [
            counts(&[("a", 1), ("b", 1)]),
            counts(&[("a", 2), ("b", 1)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 3), ("b", 2), ("c", 2)]),
            counts(&[("a", 3), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 1), ("c", 2)]),
            counts(&[("a", 1), ("b", 1), ("c", 2)]),
            counts(&[("a", 1), ("b", 0), ("c", 0)]),
            zeros.clone(),
            zeros,
        ]
    );
    // With drop_when = 0 (PySpark's filterFunc=lambda kv: kv[1] != 0).
    assert_eq!(
        inverse_windows_by_hand("window_duration = \"500ms\"\ndrop_when = 0"),
        [
            counts(&[("a", 1), ("b", 1)]),
            counts(&[("a", 2), ("b", 1)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 3), ("b", 2), ("c", 2)]),
            counts(&[("a", 3), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 1), ("c", 2)]),
            counts(&[("a", 1), ("b", 1), ("c", 2)]),
            counts(&[("a", 1)]),
            counts(&[]),
            counts(&[]),
        ]
    );
}

/// PySpark recomputes a window shorter than five slides without the
/// inverse, so keys leave with their last batch, zero or not: a window of
/// three slides gives what it gives without an inverse.
#[test]
fn an_inverse_window_of_three_slides_is_combined_again_as_in_pyspark() {
    let windows = inverse_windows_by_hand("window_duration = \"300ms\"");
    assert_eq!(
        windows[..7],
        [
            counts(&[("a", 1), ("b", 1)]),
            counts(&[("a", 2), ("b", 1)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 1), ("c", 2)]),
            counts(&[("a", 1), ("b", 1), ("c", 2)]),
            counts(&[("a", 1)]),
            counts(&[]),
        ]
    );
}

#[test]
fn inverse_keys_are_checked_before_the_first_batch() {
    let windowed = |op: &str, keys: &str| {
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
            .stream("recent", "pairs", op, fixtures::SUM, keys)
            .pprint("out", "recent")
    };
    let inverse = format!(
        "inverse_plugin = {}",
        fixtures::toml_path(fixtures::SUBTRACT)
    );
    let stderr = check_fails(windowed("reduce_by_key", &inverse));
    assert!(
        stderr
            .contains("stream `recent`: `inverse_plugin` applies only to reduce_by_key_and_window"),
        "{stderr}"
    );
    let stderr = check_fails(windowed(
        "reduce_by_key_and_window",
        "window_duration = \"2s\"\ndrop_when = 0",
    ));
    assert!(
        stderr.contains("stream `recent`: `drop_when` applies only with `inverse_plugin` (without one, a key leaves the window with its last batch)"),
        "{stderr}"
    );
    let stderr = check_fails(windowed(
        "reduce_by_key_and_window",
        &format!("window_duration = \"2s\"\n{inverse}\ndrop_when = \"zero\""),
    ));
    assert!(
        stderr.contains(
            "stream `recent`: `drop_when` must be a int64 value, like the window's values"
        ),
        "{stderr}"
    );
    let stderr = check_fails(windowed(
        "reduce_by_key_and_window",
        &format!("window_duration = \"2s\"\n{inverse}\non_error = \"skip\""),
    ));
    assert!(
        stderr.contains("stream `recent`: `reduce_by_key_and_window` with `inverse_plugin` takes on_error = \"fail\" or \"retry\" only"),
        "{stderr}"
    );
    // A plugin of another kind is no inverse.
    let stderr = check_fails(windowed(
        "reduce_by_key_and_window",
        &format!(
            "window_duration = \"2s\"\ninverse_plugin = {}",
            fixtures::toml_path(fixtures::SUM)
        ),
    ));
    assert!(
        stderr.contains("is a `reduce_by_key` operator (world sluice:operator/reduce-operator@0.3.0), but `inverse_plugin` must be an `inverse_reduce` operator (world sluice:operator/inverse-reduce-operator)"),
        "{stderr}"
    );
}

#[test]
fn a_window_past_max_state_mib_fails_naming_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    // 100,000 distinct words: about 2 MiB of reduced records.
    let text: String = (0..100_000).map(|i| format!("word{i:06}\n")).collect();
    let source = PipelineFile::new("100ms").files_source("lines", "in", "include_existing = true");
    let pipeline = with_windowed_counts(
        source,
        Path::new(fixtures::SUM),
        "window_duration = \"1s\"\nmax_state_mib = 1",
    )
    .text_files("win", "recent", "out/win", "")
    .write(dir.path().join("pipeline.toml"));
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/words.txt"), text).unwrap();
    let output = run(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "3"]);
    let stderr = stderr_of_failure(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pipeline `pipeline`, stream `recent`, batch ")
            && stderr.contains(": the window would hold 2 MiB (100000 records of 1 batches), over max_state_mib = 1; raise max_state_mib or shorten window_duration"),
        "{stderr}"
    );
    assert!(
        sink_batches(dir.path(), "win").is_empty(),
        "nothing delivered"
    );
}

/// Python's `repr` of a (word, count) pair, as pprint prints it (the
/// sample's words hold no backslash nor both kinds of quote).
fn python_pair(word: &str, count: i64) -> String {
    if word.contains('\'') {
        format!("(\"{word}\", {count})")
    } else {
        format!("('{word}', {count})")
    }
}

#[test]
fn the_windowed_example_prints_sixty_seconds_of_counts_every_ten() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(fixtures::WORKSPACE).join("examples");
    let input = dir.path().join("wordcount/in");
    std::fs::create_dir_all(&input).unwrap();
    let mut texts = Vec::new();
    for name in ["hamlet.txt", "spark.txt", "stream.txt"] {
        let text = std::fs::read_to_string(example.join("wordcount/in").join(name)).unwrap();
        std::fs::write(input.join(name), &text).unwrap();
        texts.push(text);
    }
    // The example as it is, with the plugins where the tests built them
    // and every record printed.
    let mut pipeline = example_pipeline(
        "windowed-wordcount",
        &[
            ("split_words", fixtures::SPLIT_WORDS),
            ("word_pair", fixtures::WORD_PAIR),
            ("sum", fixtures::SUM),
            ("subtract", fixtures::SUBTRACT),
        ],
    );
    pipeline = pipeline.replace("kind = \"pprint\"", "kind = \"pprint\"\nnum = 1000");
    let path = dir.path().join("windowed-wordcount/pipeline.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, pipeline).unwrap();
    let checked = stdout_of(&run(&["check", path.to_str().unwrap()]));
    assert!(
        checked.contains(", window 1m sliding every 10s, kept incrementally with its inverse\n"),
        "{checked}"
    );
    // Ten idle batches: at least one slide after the last file.
    let stdout = stdout_of(&wait(
        sluice(&["run", path.to_str().unwrap(), "--stop-when-idle", "11"])
            .spawn()
            .unwrap(),
        std::time::Duration::from_secs(120),
    ));
    let blocks = pprint_blocks(&stdout);
    let window = |texts: &[&String]| -> Vec<String> {
        let mut records: Vec<String> = reference_counts(texts.iter().map(|t| t.as_str()))
            .into_iter()
            .map(|(word, count)| python_pair(&word, count))
            .collect();
        records.sort();
        records
    };
    // Windows come every 10 s, at whole tens of seconds; the three files
    // are read in three consecutive batches, so a window holds the first
    // one, two or all three, and the last window (within 60 s of them) all
    // three.
    assert!(!blocks.is_empty() && blocks.len() <= 2, "{stdout}");
    for (time, _) in &blocks {
        assert!(time.ends_with("0"), "a window at {time}: {stdout}");
    }
    let all = window(&[&texts[0], &texts[1], &texts[2]]);
    assert_eq!(blocks.last().unwrap().1, all, "{stdout}");
    if let [(_, first), _] = blocks.as_slice() {
        // A slide during the three files' batches, or after all of them.
        let possible = [
            window(&[&texts[0]]),
            window(&[&texts[0], &texts[1]]),
            all.clone(),
        ];
        assert!(possible.contains(first), "{stdout}");
    }
}

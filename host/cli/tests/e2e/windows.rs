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

fn sliding_windows_match_the_model(partitions: &str) {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 24, 24.0 * 20_000.0 / 1e6, 5);
    let run = windowed_word_count(
        &dir.path().join("run"),
        Path::new(fixtures::SUM),
        &files,
        "window_duration = \"500ms\"\nslide_duration = \"200ms\"",
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
    let model = reference_windows(&run.batches, 500, 200);
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

#[test]
fn sliding_windows_match_a_model_of_spark_with_one_partition() {
    sliding_windows_match_the_model("1");
}

#[test]
fn sliding_windows_match_a_model_of_spark_with_four_partitions() {
    sliding_windows_match_the_model("4");
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
fn the_windowed_example_prints_the_last_two_batches_every_batch() {
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
    let mut pipeline =
        std::fs::read_to_string(example.join("windowed-wordcount/pipeline.toml")).unwrap();
    for (name, built) in [
        ("split_words", fixtures::SPLIT_WORDS),
        ("word_pair", fixtures::WORD_PAIR),
        ("sum", fixtures::SUM),
    ] {
        let shipped = format!("\"../../target/plugins/wasm32-wasip2/plugin/{name}.wasm\"");
        assert!(pipeline.contains(&shipped), "{shipped}");
        pipeline = pipeline.replace(&shipped, &toml_path(built));
    }
    pipeline = pipeline.replace("kind = \"pprint\"", "kind = \"pprint\"\nnum = 1000");
    let path = dir.path().join("windowed-wordcount/pipeline.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, pipeline).unwrap();
    let stdout = stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "2",
    ]));
    let blocks: Vec<Vec<String>> = stdout
        .split("-------------------------------------------\nTime: ")
        .skip(1)
        .map(|block| {
            let mut records: Vec<String> = block
                .lines()
                .skip(2)
                .take_while(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            records.sort();
            records
        })
        .collect();
    let window = |batches: &[&String]| -> Vec<String> {
        let mut records: Vec<String> = reference_counts(batches.iter().map(|t| t.as_str()))
            .into_iter()
            .map(|(word, count)| python_pair(&word, count))
            .collect();
        records.sort();
        records
    };
    let [hamlet, spark, stream] = [&texts[0], &texts[1], &texts[2]];
    assert_eq!(blocks.len(), 5, "3 batches with a file, 2 idle: {stdout}");
    assert_eq!(blocks[0], window(&[hamlet]));
    assert_eq!(blocks[1], window(&[hamlet, spark]));
    assert_eq!(blocks[2], window(&[spark, stream]));
    assert_eq!(blocks[3], window(&[stream]));
    assert_eq!(blocks[4], Vec::<String>::new());
}

//! Streams that read several: `union`, the four joins and `cogroup`, end
//! to end with the real binary: hand-computed batches in PySpark's and
//! Scala's formats, a reference model over a generated corpus with one
//! and four partitions, windowed joins, a plugin after a join, and the
//! type checks that refuse what cannot run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::common::*;
use sluice_test_fixtures as fixtures;

/// Two file sources, `left` and `right`, each reading the files already in
/// its directory, one per batch.
fn two_sources(interval: &str) -> PipelineFile {
    let one_per_batch = "include_existing = true\nmax_files_per_batch = 1";
    PipelineFile::new(interval)
        .files_source("left", "left", one_per_batch)
        .files_source("right", "right", one_per_batch)
}

/// Writes `files` (name, text) into `dir/sub`.
fn write_into(dir: &Path, sub: &str, files: &[(&str, &str)]) {
    let at = dir.join(sub);
    std::fs::create_dir_all(&at).unwrap();
    for (name, text) in files {
        std::fs::write(at.join(name), text).unwrap();
    }
}

/// One batch of `records`, then the idle batches [`run_until_idle`] waits
/// for (a `text_files` sink writes an empty directory for each, as Spark).
fn then_idle(records: &[&str]) -> Vec<Vec<String>> {
    let mut batches = vec![records.iter().map(|r| (*r).to_owned()).collect()];
    batches.resize(4, Vec::new());
    batches
}

/// `(word, 1)` pairs of each side: `left_pairs`, `right_pairs`; and the
/// left side's counts, `left_counts`.
fn pairs_of_both(pipeline: PipelineFile) -> PipelineFile {
    pipeline
        .stream("left_words", "left", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("left_pairs", "left_words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "left_counts",
            "left_pairs",
            "reduce_by_key",
            fixtures::SUM,
            "",
        )
        .stream(
            "right_words",
            "right",
            "flat_map",
            fixtures::SPLIT_WORDS,
            "",
        )
        .stream("right_pairs", "right_words", "map", fixtures::WORD_PAIR, "")
}

#[test]
fn a_union_of_three_sources_gives_every_record_of_each() {
    let dir = tempfile::tempdir().unwrap();
    write_into(dir.path(), "a", &[("1.txt", "x y\nz\n")]);
    write_into(dir.path(), "b", &[("1.txt", "y\n")]);
    write_into(dir.path(), "c", &[("1.txt", "w x\n"), ("2.txt", "v\n")]);
    let existing = "include_existing = true";
    let pipeline = PipelineFile::new("100ms")
        .files_source("a", "a", existing)
        .files_source("b", "b", existing)
        .files_source("c", "c", existing)
        .combined("all", &["a", "b", "c"], "union", "")
        .stream("words", "all", "flat_map", fixtures::SPLIT_WORDS, "")
        .text_files("lines", "all", "out/lines", "")
        .text_files("words", "words", "out/words", "")
        .write(dir.path().join("p.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains("  stream all: union union (builtin) a text + b text + c text -> text\n"),
        "{checked}"
    );
    run_until_idle(&pipeline, "2");
    assert_eq!(
        sorted_batches(dir.path(), "lines"),
        then_idle(&["'v'", "'w x'", "'x y'", "'y'", "'z'"])
    );
    assert_eq!(
        sorted_batches(dir.path(), "words"),
        then_idle(&["'v'", "'w'", "'x'", "'x'", "'y'", "'y'", "'z'"])
    );
}

/// The hand-computed records of every join of the left counts
/// (a 2, b 1, c 1) with the right pairs (a 1, d 1, a 1, c 1), as PySpark
/// prints them.
const BY_HAND: [(&str, &[&str]); 5] = [
    ("join", &["('a', (2, 1))", "('a', (2, 1))", "('c', (1, 1))"]),
    (
        "left_outer_join",
        &[
            "('a', (2, 1))",
            "('a', (2, 1))",
            "('b', (1, None))",
            "('c', (1, 1))",
        ],
    ),
    (
        "right_outer_join",
        &[
            "('a', (2, 1))",
            "('a', (2, 1))",
            "('c', (1, 1))",
            "('d', (None, 1))",
        ],
    ),
    (
        "full_outer_join",
        &[
            "('a', (2, 1))",
            "('a', (2, 1))",
            "('b', (1, None))",
            "('c', (1, 1))",
            "('d', (None, 1))",
        ],
    ),
    (
        "cogroup",
        &[
            "('a', ([2], [1, 1]))",
            "('b', ([1], []))",
            "('c', ([1], [1]))",
            "('d', ([], [1]))",
        ],
    ),
];

fn joins_by_hand(partitions: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_into(dir.path(), "left", &[("1.txt", "a b a c\n")]);
    write_into(dir.path(), "right", &[("1.txt", "a d a\nc\n")]);
    let mut pipeline = pairs_of_both(two_sources("100ms"));
    for (op, _) in BY_HAND {
        pipeline = pipeline
            .combined(op, &["left_counts", "right_pairs"], op, "")
            .text_files(op, op, &format!("out/{op}"), "");
    }
    let pipeline = pipeline
        .host_stream(
            "least",
            "full_outer_join",
            "take_ordered",
            "num = 3\nby = \"value\"",
        )
        .text_files("least", "least", "out/least", "")
        .stream("happiness", "join", "map", fixtures::PAIR_PRODUCT, "")
        .text_files("happiness", "happiness", "out/happiness", "")
        .text_files("json", "full_outer_join", "out/json", "format = \"jsonl\"")
        .raw("[sinks.scala]\nfrom = \"cogroup\"\nkind = \"print\"\n")
        .write(dir.path().join("p.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    for line in [
        "  stream join: join join (builtin) left_counts (text, int64) + right_pairs (text, int64) -> (text, pair(int64, int64))\n",
        "  stream cogroup: cogroup cogroup (builtin) left_counts (text, int64) + right_pairs (text, int64) -> (text, pair(list(int64), list(int64)))\n",
        "  stream full_outer_join: full_outer_join full_outer_join (builtin) left_counts (text, int64) + right_pairs (text, int64) -> (text, pair(option(int64), option(int64)))\n",
    ] {
        assert!(checked.contains(line), "{line}\n{checked}");
    }
    let stdout = run_until_idle(&pipeline, partitions);
    for (op, expected) in BY_HAND {
        assert_eq!(sorted_batches(dir.path(), op), then_idle(expected), "{op}");
    }
    // Pairs order as Python's tuples do, None first.
    let least: Vec<Vec<String>> = sink_batches(dir.path(), "least").into_values().collect();
    assert_eq!(
        least[0],
        ["('d', (None, 1))", "('b', (1, None))", "('c', (1, 1))"]
    );
    // A map after the join takes its (v, w) pairs as JSON.
    assert_eq!(
        sorted_batches(dir.path(), "happiness"),
        then_idle(&["(1.0, 'c')", "(2.0, 'a')", "(2.0, 'a')"])
    );
    assert_eq!(
        sorted_batches(dir.path(), "json"),
        then_idle(&[
            "{\"key\": \"a\", \"value\": [2,1]}",
            "{\"key\": \"a\", \"value\": [2,1]}",
            "{\"key\": \"b\", \"value\": [1,null]}",
            "{\"key\": \"c\", \"value\": [1,1]}",
            "{\"key\": \"d\", \"value\": [null,1]}",
        ])
    );
    // Scala's print of a cogroup: Spark's CompactBuffers.
    let scala: BTreeSet<&str> = stdout.lines().filter(|l| l.starts_with("(")).collect();
    assert_eq!(
        scala,
        BTreeSet::from([
            "(a,(CompactBuffer(2),CompactBuffer(1, 1)))",
            "(b,(CompactBuffer(1),CompactBuffer()))",
            "(c,(CompactBuffer(1),CompactBuffer(1)))",
            "(d,(CompactBuffer(),CompactBuffer(1)))",
        ]),
        "{stdout}"
    );
}

#[test]
fn joins_and_cogroup_give_pyspark_s_records_by_hand_with_one_partition() {
    joins_by_hand("1");
}

#[test]
fn joins_and_cogroup_give_pyspark_s_records_by_hand_with_four_partitions() {
    joins_by_hand("4");
}

/// Word counts of `texts`.
fn counts_of<'a>(texts: impl Iterator<Item = &'a str>) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for text in texts {
        for word in text.split_whitespace() {
            *counts.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// Python's repr of a word (the corpus's words are plain ASCII).
fn quoted(word: &str) -> String {
    format!("'{word}'")
}

/// The model's full outer join and cogroup of two sides' word counts.
fn reference_joins(
    left: &BTreeMap<String, i64>,
    right: &BTreeMap<String, i64>,
) -> (Vec<String>, Vec<String>) {
    let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    let show = |n: Option<&i64>| n.map_or("None".to_owned(), i64::to_string);
    let list = |n: Option<&i64>| n.map_or("[]".to_owned(), |n| format!("[{n}]"));
    let mut full = Vec::new();
    let mut cogroup = Vec::new();
    for key in keys {
        let (l, r) = (left.get(key), right.get(key));
        full.push(format!("({}, ({}, {}))", quoted(key), show(l), show(r)));
        cogroup.push(format!("({}, ({}, {}))", quoted(key), list(l), list(r)));
    }
    full.sort();
    cogroup.sort();
    (full, cogroup)
}

fn joins_match_the_model(partitions: &str) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 6, 0.3, 17);
    let (left, right): (Vec<_>, Vec<_>) = files.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let left: Vec<(&str, &str)> = left
        .iter()
        .map(|(_, (n, t))| (n.as_str(), t.as_str()))
        .collect();
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(_, (n, t))| (n.as_str(), t.as_str()))
        .collect();
    write_into(dir.path(), "left", &left);
    write_into(dir.path(), "right", &right);
    let existing = "include_existing = true";
    let both = PipelineFile::new("200ms")
        .files_source("left", "left", existing)
        .files_source("right", "right", existing);
    let pipeline = pairs_of_both(both)
        .stream(
            "right_counts",
            "right_pairs",
            "reduce_by_key",
            fixtures::SUM,
            "",
        )
        .combined(
            "full",
            &["left_counts", "right_counts"],
            "full_outer_join",
            "",
        )
        .combined("groups", &["left_counts", "right_counts"], "cogroup", "")
        .text_files("full", "full", "out/full", "")
        .text_files("groups", "groups", "out/groups", "")
        .write(dir.path().join("p.toml"));
    run_until_idle(&pipeline, partitions);
    let model = reference_joins(
        &counts_of(left.iter().map(|(_, t)| *t)),
        &counts_of(right.iter().map(|(_, t)| *t)),
    );
    let full = sorted_batches(dir.path(), "full");
    let groups = sorted_batches(dir.path(), "groups");
    assert!(model.0.len() > 1000, "{} keys", model.0.len());
    assert_same(&full, &model.0);
    assert_same(&groups, &model.1);
    full
}

/// Asserts that one batch was written and that it holds `expected`,
/// naming the first difference (the outputs are too large to print).
fn assert_same(batches: &[Vec<String>], expected: &[String]) {
    assert_eq!(batches.len(), 4, "batches written");
    assert!(batches[1..].iter().all(Vec::is_empty), "idle batches");
    let first_difference = batches[0]
        .iter()
        .zip(expected)
        .position(|(got, want)| got != want);
    assert_eq!(
        (
            batches[0].len(),
            first_difference.map(|i| (&batches[0][i], &expected[i]))
        ),
        (expected.len(), None)
    );
}

#[test]
fn joins_match_a_model_with_one_and_four_partitions() {
    assert_eq!(joins_match_the_model("1"), joins_match_the_model("4"));
}

#[test]
fn a_windowed_stream_joins_per_window() {
    let dir = tempfile::tempdir().unwrap();
    write_into(
        dir.path(),
        "left",
        &[("0.txt", "a\n"), ("1.txt", "b\n"), ("2.txt", "a c\n")],
    );
    write_into(
        dir.path(),
        "right",
        &[("0.txt", "a\n"), ("1.txt", "a b\n"), ("2.txt", "c\n")],
    );
    let pipeline = pairs_of_both(two_sources("100ms"))
        .host_stream(
            "recent",
            "left_pairs",
            "window",
            "window_duration = \"200ms\"",
        )
        .combined("joined", &["recent", "right_pairs"], "join", "")
        .text_files("joined", "joined", "out/joined", "")
        .write(dir.path().join("p.toml"));
    run_until_idle(&pipeline, "2");
    // The window holds the left pairs of the last two batches.
    assert_eq!(
        sorted_batches(dir.path(), "joined"),
        [
            vec!["('a', (1, 1))"],
            vec!["('a', (1, 1))", "('b', (1, 1))"],
            vec!["('c', (1, 1))"],
            vec![],
            vec![],
            vec![],
        ]
    );
}

#[test]
fn streams_that_read_several_are_checked_before_they_run() {
    let base = || pairs_of_both(two_sources("1s"));
    for (pipeline, message) in [
        (
            base().combined("u", &["left_words", "right_pairs"], "union", ""),
            "p.toml:33:8: stream `u`: `union` needs one record type, but `left_words` gives text records and `right_pairs` gives (text, int64); map them to one type first",
        ),
        (
            base().combined("u", &["left_words"], "union", ""),
            "stream `u`: `union` appends several streams, but `from` names 1; list two or more",
        ),
        (
            base()
                .combined("j", &["left_counts", "right_pairs"], "join", "")
                .stream("p", "j", "map", fixtures::PAIR_PRODUCT, "")
                .combined("k", &["left_counts", "p"], "join", ""),
            "stream `k`: `join` needs equal key types, but `left_counts` has text keys and `p` has float64 keys",
        ),
        (
            base().combined("j", &["left_words", "right_pairs"], "join", ""),
            "stream `j`: `join` joins keyed records, but `left_words` gives unkeyed text records; add a `map` stream that gives (key, value) pairs",
        ),
        (
            base().combined(
                "j",
                &["left_counts", "right_pairs", "left_pairs"],
                "cogroup",
                "",
            ),
            "stream `j`: `cogroup` reads two keyed streams, but `from` names 3",
        ),
        (
            base()
                .combined("j", &["left_counts", "right_pairs"], "join", "")
                .stream("p", "j", "map", fixtures::WORD_PAIR, ""),
            "stream `p`: plugin word_pair takes text records, but `j` gives (text, pair(int64, int64)) records",
        ),
        (
            base().combined("m", &["left_words", "right_words"], "map", ""),
            "stream `m`: `map` reads one stream, but `from` names 2; only union, the joins and cogroup read several",
        ),
        (
            base()
                .host_stream(
                    "w",
                    "left_pairs",
                    "window",
                    "window_duration = \"2s\"\nslide_duration = \"2s\"",
                )
                .combined("j", &["w", "right_pairs"], "join", ""),
            "stream `j`: `w` emits every 2s but `right_pairs` every 1s; `join` reads streams that emit at the same times",
        ),
        (
            base().combined(
                "j",
                &["left_counts", "right_pairs"],
                "join",
                "plugin = \"x.wasm\"",
            ),
            "stream `j`: `plugin` does not apply to `join`, which the host runs itself",
        ),
        (
            base().combined("j", &["left_counts", "nothing"], "join", ""),
            "stream `j` reads `from = \"nothing\"`, which is no source, stream or table",
        ),
    ] {
        let stderr = check_fails(pipeline.pprint("out", "left_words"));
        assert!(stderr.contains(message), "{message}\n{stderr}");
    }
}

/// `[tables.sentiments]`: word → score (float64), from `sentiments.csv`.
const SENTIMENTS: &str = "path = \"sentiments.csv\"\nformat = \"csv\"\nkey = \"word\"\nvalue = \"score\"\nvalue_type = \"float64\"";

/// Replaces `path`'s contents at once, as a user should.
fn replace(path: &Path, text: &str) {
    let hidden = path.with_extension("writing");
    std::fs::write(&hidden, text).unwrap();
    std::fs::rename(&hidden, path).unwrap();
}

#[test]
fn a_static_table_joins_every_batch_and_is_swapped_between_two_batches() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let table = dir.path().join("sentiments.csv");
    std::fs::write(&table, "word,score\na,1.5\nb,-2\n").unwrap();
    let pipeline = PipelineFile::new("100ms")
        .files_source("lines", "in", "")
        .table("tables.sentiments", SENTIMENTS)
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .combined("scored", &["counts", "sentiments"], "join", "")
        .text_files("scored", "scored", "out/scored", "")
        .write(dir.path().join("p.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains(&format!(
            "  table sentiments: 2 records (text, float64) from {}\n",
            table.display()
        )),
        "{checked}"
    );
    let mut running = start_logged(dir.path(), &pipeline, 1);
    wait_until_running(dir.path());
    drop_file(&input, "f1.txt", b"a b a c\n");
    wait_for_record(dir.path(), "scored", "('a', (2, 1.5))");
    replace(&table, "word,score\na,3\nc,1\n");
    drop_file(&input, "f2.txt", b"a c\n");
    wait_for_record(dir.path(), "scored", "('a', (1, 3.0))");
    // A version that does not read keeps the one before.
    replace(&table, "word,score\na,oops\n");
    drop_file(&input, "f3.txt", b"c\n");
    wait_for_record(dir.path(), "scored", "('c', (1, 1.0))");
    send_signal(&running, "TERM");
    assert!(running.wait().unwrap().success());
    let batches: Vec<Vec<String>> = sorted_batches(dir.path(), "scored")
        .into_iter()
        .filter(|b| !b.is_empty())
        .collect();
    // Each batch sees one version whole.
    assert_eq!(
        batches,
        [
            vec!["('a', (2, 1.5))", "('b', (1, -2.0))"],
            vec!["('a', (1, 3.0))", "('c', (1, 1.0))"],
            vec!["('c', (1, 1.0))"],
        ]
    );
    let log = std::fs::read_to_string(dir.path().join("stderr-1.log")).unwrap();
    assert_eq!(
        log.matches("table read again: its file changed").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "table kept as it was: {}:2: the `score` column is `oops`, not a float64",
            table.display()
        )),
        "{log}"
    );
}

#[test]
fn tables_are_checked_before_the_pipeline_runs() {
    let with_table = |file: &str, keys: &str| {
        pairs_of_both(two_sources("1s"))
            .table("tables.sentiments", keys)
            .raw(&format!("# {file}"))
    };
    let dir = tempfile::tempdir().unwrap();
    for (pipeline, table_text, message) in [
        (
            with_table("missing", SENTIMENTS).combined(
                "j",
                &["left_counts", "sentiments"],
                "join",
                "",
            ),
            None,
            "table `sentiments`: cannot read",
        ),
        (
            with_table("bad", SENTIMENTS).combined("j", &["left_counts", "sentiments"], "join", ""),
            Some("word,score\nok,1\nbad,x\n"),
            "sentiments.csv:3: the `score` column is `x`, not a float64",
        ),
        (
            with_table("no column", SENTIMENTS).combined(
                "j",
                &["left_counts", "sentiments"],
                "join",
                "",
            ),
            Some("word,points\nok,1\n"),
            "sentiments.csv: the header has no `score` column (it has: word, points)",
        ),
        (
            with_table("a map", SENTIMENTS).stream(
                "m",
                "sentiments",
                "map",
                fixtures::WORD_PAIR,
                "",
            ),
            Some("word,score\nok,1\n"),
            "stream `m`: `sentiments` is a table; tables are read by union, the joins and cogroup",
        ),
        (
            with_table("types", SENTIMENTS).combined(
                "j",
                &["left_words", "sentiments"],
                "join",
                "",
            ),
            Some("word,score\nok,1\n"),
            "stream `j`: `join` joins keyed records, but `left_words` gives unkeyed text records",
        ),
    ] {
        let path = dir.path().join("sentiments.csv");
        let _ = std::fs::remove_file(&path);
        if let Some(text) = table_text {
            std::fs::write(&path, text).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("left")).unwrap();
        std::fs::create_dir_all(dir.path().join("right")).unwrap();
        let file = pipeline
            .pprint("out", "left_words")
            .write(dir.path().join("p.toml"));
        let output = run(&["check", file.to_str().unwrap()]);
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{message}\n{stderr}");
    }
}

#[test]
fn the_join_sentiments_example_prints_the_happiest_words_of_each_window() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(fixtures::WORKSPACE).join("examples/join-sentiments");
    let pipeline = example_pipeline(
        "join-sentiments",
        &[
            ("split_words", fixtures::SPLIT_WORDS),
            ("word_pair", fixtures::WORD_PAIR),
            ("sum", fixtures::SUM),
            ("pair_product", fixtures::PAIR_PRODUCT),
        ],
    );
    std::fs::create_dir(dir.path().join("in")).unwrap();
    for name in ["batch-1.txt", "batch-2.txt", "batch-3.txt"] {
        std::fs::copy(
            example.join("in").join(name),
            dir.path().join("in").join(name),
        )
        .unwrap();
    }
    std::fs::copy(
        example.join("sentiments.csv"),
        dir.path().join("sentiments.csv"),
    )
    .unwrap();
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, pipeline).unwrap();
    let stdout = stdout_of(&run(&[
        "run",
        path.to_str().unwrap(),
        "--stop-when-idle",
        "1",
    ]));
    // The records of each batch, in the order printed.
    let blocks: Vec<Vec<&str>> = stdout
        .split("-------------------------------------------\nTime: ")
        .skip(1)
        .map(|block| {
            block
                .lines()
                .skip(2)
                .take_while(|l| !l.is_empty())
                .collect()
        })
        .collect();
    // Each window holds the last two batches; ties go by word, largest
    // first.
    assert_eq!(
        blocks,
        [
            vec![
                "(6.0, 'good')",
                "(4.0, 'sunny')",
                "(4.0, 'fun')",
                "(3.0, 'love')",
                "(-1.0, 'late')"
            ],
            vec![
                "(8.0, 'fun')",
                "(6.0, 'love')",
                "(6.0, 'happy')",
                "(6.0, 'good')",
                "(4.0, 'sunny')"
            ],
            vec![
                "(6.0, 'happy')",
                "(4.0, 'fun')",
                "(3.0, 'love')",
                "(2.0, 'like')",
                "(2.0, 'calm')"
            ],
            vec!["(1.0, 'okay')", "(-2.0, 'sad')", "(-3.0, 'bad')"],
        ],
        "{stdout}"
    );
}

#[test]
fn a_table_joined_with_a_window_gives_records_only_at_the_window_s_slides() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &[("f0.txt", "a\n"), ("f1.txt", "b a\n")]);
    std::fs::write(dir.path().join("t.csv"), "word,score\na,1\nz,2\n").unwrap();
    let pipeline = one_file_per_batch("100ms")
        .table(
            "tables.t",
            "path = \"t.csv\"\nformat = \"csv\"\nkey = \"word\"\nvalue = \"score\"\nvalue_type = \"int64\"",
        )
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "counts",
            "pairs",
            "reduce_by_key_and_window",
            fixtures::SUM,
            "window_duration = \"200ms\"\nslide_duration = \"200ms\"",
        )
        .combined("joined", &["t", "counts"], "left_outer_join", "")
        .host_stream(
            "recent",
            "joined",
            "window",
            "window_duration = \"400ms\"\nslide_duration = \"200ms\"",
        )
        .text_files("recent", "recent", "out/recent", "")
        .write(dir.path().join("p.toml"));
    // Two batches with a file, then six idle ones: at least three slides
    // of 200 ms, whichever batch time the run starts at.
    run_idle(&pipeline, "2", 6);
    let windows = sorted_batches(dir.path(), "recent");
    assert!(windows.len() >= 3, "{windows:?}");
    // The table's `z` joins at each slide of the counts (every 200 ms),
    // never between: twice per 400 ms window once it is full.
    let most = windows
        .iter()
        .map(|w| w.iter().filter(|r| *r == "('z', (2, None))").count())
        .max();
    assert_eq!(most, Some(2), "{windows:?}");
}

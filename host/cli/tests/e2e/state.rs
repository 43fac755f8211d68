//! `update_state_by_key` end to end: the host keeps a state per key across
//! batches and the real state updater plugins update it, one input file
//! per batch (`max_files_per_batch = 1`), against hand-computed states and
//! against a model of Spark's `updateStateByKey` computed in the test from
//! what each batch read.

use std::collections::BTreeMap;

use super::common::*;
use super::languages::{plugin_new, run_long};
use sluice_test_fixtures as fixtures;
use sluice_test_fixtures::PipelineFile;

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect()
}

/// The word count's `words` and `pairs`, then `recent`: an
/// `update_state_by_key` with `plugin` and `keys`.
fn with_state(pipeline: PipelineFile, plugin: &str, keys: &str) -> PipelineFile {
    pipeline
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("recent", "pairs", "update_state_by_key", plugin, keys)
}

/// The hand-computed files: "a b", "a", "b c c".
fn three_files() -> Vec<(String, String)> {
    ["a b\n", "a\n", "b c\nc\n"]
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("f{i}.txt"), (*text).to_owned()))
        .collect()
}

#[test]
fn running_totals_since_the_start_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let run = windowed_run(dir.path(), &three_files(), "2", |source| {
        with_state(source, fixtures::RUNNING_SUM, "")
    });
    // Every batch gives every key's total so far, idle batches too (Spark
    // calls the update function for every key with a state).
    let emitted: Vec<BTreeMap<String, i64>> = run.windows.values().cloned().collect();
    assert_eq!(
        emitted,
        [
            counts(&[("a", 1), ("b", 1)]),
            counts(&[("a", 2), ("b", 1)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
            counts(&[("a", 2), ("b", 2), ("c", 2)]),
        ]
    );
    assert_eq!(
        run.windows.keys().collect::<Vec<_>>(),
        run.batches.keys().collect::<Vec<_>>()
    );
}

#[test]
fn an_update_returning_no_state_removes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = windowed_run(dir.path(), &three_files(), "2", |source| {
        with_state(
            source,
            fixtures::RUNNING_SUM,
            "params = { forget_idle = true }",
        )
    });
    let emitted: Vec<BTreeMap<String, i64>> = run.windows.values().cloned().collect();
    assert_eq!(
        emitted,
        [
            counts(&[("a", 1), ("b", 1)]),
            // `b` got nothing: removed.
            counts(&[("a", 2)]),
            // `a` removed; `b` starts again.
            counts(&[("b", 1), ("c", 2)]),
            counts(&[]),
            counts(&[]),
            counts(&[]),
        ]
    );
}

#[test]
fn a_keys_values_arrive_in_order_and_text_states_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    // word-pair gives every word the value 1; `initial_state` gives `a` a
    // 7 first, so its history shows the order values arrived in.
    std::fs::write(
        dir.path().join("initial.jsonl"),
        "{\"key\": \"a\", \"value\": \"7\"}\n\n{\"key\": \"z\", \"value\": \"\"}\n",
    )
    .unwrap();
    let files = three_files();
    let input = dir.path().join("in");
    for (name, text) in &files {
        std::fs::write(input.join(name), text).unwrap();
    }
    let pipeline = with_state(
        one_file_per_batch("100ms"),
        fixtures::VALUE_HISTORY,
        "initial_state = \"initial.jsonl\"\nparams = { max_values = 2 }",
    )
    .text_files("out", "recent", "out/state", "format = \"jsonl\"")
    .write(dir.path().join("pipeline.toml"));
    run_until_idle(&pipeline, "3");
    let batches: Vec<BTreeMap<String, String>> = sink_batches(dir.path(), "state")
        .into_values()
        .take(3)
        .map(|lines| {
            lines
                .iter()
                .map(|line| {
                    let record: serde_json::Value = serde_json::from_str(line).unwrap();
                    (
                        record["key"].as_str().unwrap().to_owned(),
                        record["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .collect();
    let states = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        batches,
        [
            states(&[("a", "7,1"), ("b", "1"), ("z", "")]),
            // `a` would hold 3 values, over max_values = 2: removed.
            states(&[("b", "1"), ("z", "")]),
            states(&[("b", "1,1"), ("c", "1,1"), ("z", "")]),
        ]
    );
}

/// Spark's `updateStateByKey(lambda new, last: sum(new) + (last or 0))`
/// over `batches`: at every batch time, the counts of every batch so far.
pub(super) fn reference_totals(
    batches: &BTreeMap<i64, Vec<String>>,
) -> BTreeMap<i64, BTreeMap<String, i64>> {
    batches
        .keys()
        .map(|&t| {
            let lines = batches
                .range(..=t)
                .flat_map(|(_, lines)| lines.iter().map(String::as_str));
            (t, reference_counts(lines))
        })
        .collect()
}

fn running_totals_match_the_model(partitions: &str) -> WindowedRun {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 24, 0.1, 9);
    let run = windowed_run(&dir.path().join("run"), &files, partitions, |source| {
        with_state(source, fixtures::RUNNING_SUM, "")
    });
    let read = run.batches.values().filter(|b| !b.is_empty()).count();
    assert_eq!(read, files.len(), "one file per batch");
    let model = reference_totals(&run.batches);
    assert!(model.len() >= 24, "{} batches", model.len());
    assert_eq!(run.windows.len(), model.len());
    for ((time, got), (expected_time, expected)) in run.windows.iter().zip(&model) {
        assert_eq!(time, expected_time);
        assert!(
            got == expected,
            "state at {time}: {} keys, expected {}",
            got.len(),
            expected.len()
        );
    }
    run
}

#[test]
fn running_totals_match_the_model_with_one_partition_and_with_four() {
    let one = running_totals_match_the_model("1");
    let four = running_totals_match_the_model("4");
    let last = |run: &WindowedRun| run.windows.values().last().cloned().unwrap();
    assert_eq!(last(&one), last(&four));
}

#[test]
fn a_state_over_max_state_mib_fails_naming_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    // 80 000 distinct words of 8 bytes and their 8-byte counts: 1.2 MiB.
    let words: String = (0..80_000).map(|i| format!("w{i:07}\n")).collect();
    write_inputs(dir.path(), &[("words.txt", &words)]);
    let pipeline = with_state(
        one_file_per_batch("100ms"),
        fixtures::RUNNING_SUM,
        "max_state_mib = 1",
    )
    .text_files("out", "recent", "out/state", "")
    .write(dir.path().join("pipeline.toml"));
    let output = run(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "2"]);
    let stderr = stderr_of_failure(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pipeline `pipeline`, stream `recent`")
            && stderr.contains(
                ": the state would hold 2 MiB (80000 keys, 0 before this batch), over max_state_mib = 1; raise max_state_mib or remove keys in the update function (return no state)"
            ),
        "{stderr}"
    );
    assert!(
        sink_batches(dir.path(), "state").is_empty(),
        "the failed batch wrote nothing"
    );
}

#[test]
fn state_keys_are_checked_before_the_first_batch() {
    let stateful = |keys: &str| {
        with_state(
            PipelineFile::new("1s").files_source("lines", "in", ""),
            fixtures::RUNNING_SUM,
            keys,
        )
        .pprint("out", "recent")
    };
    let stderr = check_fails(stateful("on_error = \"skip\""));
    assert!(
        stderr.contains("stream `recent`: `update_state_by_key` takes on_error = \"fail\" or \"retry\" only: skipping a partition's update or some of its records would silently lose or corrupt the state it keeps"),
        "{stderr}"
    );
    let stderr = check_fails(stateful("initial_state = \"missing.jsonl\""));
    assert!(
        stderr.contains("stream `recent`: initial_state ") && stderr.contains("missing.jsonl"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream(
                "words",
                "lines",
                "flat_map",
                fixtures::SPLIT_WORDS,
                "initial_state = \"x\"",
            )
            .pprint("out", "words"),
    );
    assert!(
        stderr.contains("stream `words`: `initial_state` applies only to update_state_by_key"),
        "{stderr}"
    );
    // A state updater needs keyed input.
    let stderr = check_fails(
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream(
                "words",
                "lines",
                "update_state_by_key",
                fixtures::RUNNING_SUM,
                "",
            )
            .pprint("out", "words"),
    );
    assert!(
        stderr.contains(
            "update_state_by_key needs keyed records, but `lines` gives unkeyed text records"
        ),
        "{stderr}"
    );
}

#[test]
fn a_malformed_initial_state_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let check = |contents: &str| {
        std::fs::write(dir.path().join("initial.jsonl"), contents).unwrap();
        let pipeline = with_state(
            PipelineFile::new("1s").files_source("lines", "in", ""),
            fixtures::RUNNING_SUM,
            "initial_state = \"initial.jsonl\"",
        )
        .pprint("out", "recent")
        .write(dir.path().join("p.toml"));
        let output = run(&["check", pipeline.to_str().unwrap()]);
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        stderr
    };
    let stderr = check("{\"key\": \"a\", \"value\": 1}\n{\"key\": \"b\", \"value\": \"two\"}\n");
    assert!(
        stderr.contains("initial.jsonl:2: value: \"two\" is not a int64 value"),
        "{stderr}"
    );
    let stderr = check("{\"key\": \"a\", \"value\": 1}\n{\"key\": \"a\", \"value\": 2}\n");
    assert!(
        stderr.contains("key \"a\" appears more than once"),
        "{stderr}"
    );
    let stderr = check("[\"a\", 1]\n");
    assert!(
        stderr.contains(
            "initial.jsonl:1: each line is {\"key\": …, \"value\": …}, the state of one key"
        ),
        "{stderr}"
    );
    let ok = dir.path().join("initial.jsonl");
    std::fs::write(&ok, "{\"key\": \"a\", \"value\": 1}\n").unwrap();
    let stdout = stdout_of(&run(&[
        "check",
        dir.path().join("p.toml").to_str().unwrap(),
    ]));
    assert!(
        stdout.contains("stream recent: update_state_by_key running_sum (")
            && stdout
                .contains(") (text, int64) -> (text, int64), int64 state per key, 1 initial keys"),
        "{stdout}"
    );
}

#[test]
fn the_rust_scaffold_of_a_state_updater_passes_its_own_cases() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("totals");
    stdout_of(&plugin_new(
        "totals",
        "rust",
        "update_state_by_key",
        &project,
    ));
    let stdout = stdout_of(&run_long(&["plugin", "test", project.to_str().unwrap()]));
    assert!(
        stdout.contains("ok      keeps a running sum of the int64 values of each key"),
        "{stdout}"
    );
    // A case that expects the wrong state fails, naming both.
    let cases = project.join("sluice-test.toml");
    let text = std::fs::read_to_string(&cases).unwrap();
    std::fs::write(&cases, text.replace("[\"a\", 14]", "[\"a\", 4]")).unwrap();
    let output = run_long(&["plugin", "test", project.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("FAILED  keeps a running sum of the int64 values of each key: expected [[\"a\", 4], [\"b\", 2], [\"c\", 5]], got [[\"a\", 14], [\"b\", 2], [\"c\", 5]]"),
        "{stdout}"
    );
}

#[test]
fn the_stateful_example_counts_since_the_start_over_a_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(fixtures::WORKSPACE).join("examples/stateful-wordcount");
    // The example as it is, with the plugins where the tests built them,
    // the server's port and every record printed.
    let mut pipeline = example_pipeline(
        "stateful-wordcount",
        &[
            ("split_words", fixtures::SPLIT_WORDS),
            ("word_pair", fixtures::WORD_PAIR),
            ("running_sum", fixtures::RUNNING_SUM),
        ],
    );
    for (shipped, here) in [
        ("port = 9999".to_owned(), format!("port = {port}")),
        (
            "host = \"localhost\"".to_owned(),
            "host = \"127.0.0.1\"".to_owned(),
        ),
        (
            "batch_interval = \"1s\"".to_owned(),
            "batch_interval = \"200ms\"".to_owned(),
        ),
        (
            "kind = \"pprint\"".to_owned(),
            "kind = \"pprint\"\nnum = 100".to_owned(),
        ),
    ] {
        assert!(pipeline.contains(&shipped), "{shipped}");
        pipeline = pipeline.replace(&shipped, &here);
    }
    std::fs::copy(
        example.join("initial.jsonl"),
        dir.path().join("initial.jsonl"),
    )
    .unwrap();
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, pipeline).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write as _;
        let (mut client, _) = listener.accept().unwrap();
        client.write_all(b"hello spark\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        client.write_all(b"spark streaming says hello\n").unwrap();
    });
    let child = sluice(&["run", path.to_str().unwrap(), "--stop-when-idle", "5"])
        .spawn()
        .unwrap();
    server.join().unwrap();
    let stdout = stdout_of(&wait(child, std::time::Duration::from_secs(60)));
    let blocks: Vec<Vec<String>> = pprint_blocks(&stdout)
        .into_iter()
        .map(|(_, records)| records)
        .collect();
    // `world` is never sent: it is the initial state, in every batch; at
    // the end every word sent is counted once on top of it.
    assert!(blocks.len() >= 5, "{stdout}");
    for block in &blocks {
        assert!(block.contains(&"('world', 1)".to_owned()), "{stdout}");
    }
    assert_eq!(
        blocks.last().unwrap(),
        &[
            "('hello', 3)",
            "('says', 1)",
            "('spark', 2)",
            "('streaming', 1)",
            "('world', 1)",
        ],
        "{stdout}"
    );
}

/// `source` (giving `lines`) plus `map_with_state` with `sessions`
/// (timeout 300 ms), the lines going to the `raw` sink and the sessions'
/// records to `out/sessions` (both `jsonl`).
pub(super) fn with_sessions(source: PipelineFile, sessions: &std::path::Path) -> PipelineFile {
    source
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "sessions",
            "pairs",
            "map_with_state",
            sessions,
            "timeout = \"300ms\"\nmax_state_mib = 64",
        )
        .text_files("raw", "lines", "out/raw", "format = \"jsonl\"")
        .text_files("out", "sessions", "out/sessions", "format = \"jsonl\"")
}

/// What a [`with_sessions`] pipeline under `dir` wrote: the lines each
/// batch read and the records the stream gave, by batch time, each
/// batch's records sorted.
pub(super) fn read_sessions(
    dir: &std::path::Path,
) -> (BTreeMap<i64, Vec<String>>, BTreeMap<i64, Vec<String>>) {
    let value_of = |line: &String| -> String {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        record["value"].as_str().unwrap().to_owned()
    };
    let raw = sink_batches(dir, "raw")
        .into_iter()
        .map(|(t, lines)| (t, lines.iter().map(value_of).collect()))
        .collect();
    let sessions = sink_batches(dir, "sessions")
        .into_iter()
        .map(|(t, mut lines)| {
            lines.sort();
            (t, lines)
        })
        .collect();
    (raw, sessions)
}

/// `map_with_state` with `sessions` (timeout 300 ms) over `files`, one per
/// 100 ms batch, with `--partitions partitions`: what the source read and
/// what the stream gave, by batch time, each batch's records sorted.
pub(super) fn sessions_run(
    dir: &std::path::Path,
    files: &[(String, String)],
    partitions: &str,
    sessions: &std::path::Path,
) -> (BTreeMap<i64, Vec<String>>, BTreeMap<i64, Vec<String>>) {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (name, text) in files {
        std::fs::write(input.join(name), text).unwrap();
    }
    let pipeline =
        with_sessions(one_file_per_batch("100ms"), sessions).write(dir.join("pipeline.toml"));
    run_idle(&pipeline, partitions, 6);
    read_sessions(dir)
}

/// Scala's `mapWithState` with the sessions function and a 300 ms
/// timeout, over `batches` (the lines each batch read): per batch, the
/// records it gives, sorted, as the `text_files` sink writes them.
pub(super) fn reference_sessions(
    batches: &BTreeMap<i64, Vec<String>>,
) -> BTreeMap<i64, Vec<String>> {
    let mut state: BTreeMap<String, (i64, i64)> = BTreeMap::new(); // events, last seen
    let record = |user: &str, events: i64, closed: bool| {
        format!(
            "{{\"key\": {}, \"value\": {{\"events\": {events}, \"closed\": {closed}}}}}",
            serde_json::Value::String(user.to_owned())
        )
    };
    batches
        .iter()
        .map(|(&t, lines)| {
            let mut out = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for word in lines.iter().flat_map(|l| l.split_whitespace()) {
                let entry = state.entry(word.to_owned()).or_insert((0, t));
                entry.0 += 1;
                entry.1 = t;
                seen.insert(word.to_owned());
                out.push(record(word, entry.0, false));
            }
            let idle: Vec<String> = state
                .iter()
                .filter(|(user, (_, last))| !seen.contains(*user) && *last < t - 300)
                .map(|(user, _)| user.clone())
                .collect();
            for user in idle {
                let (events, _) = state.remove(&user).unwrap();
                out.push(record(&user, events, true));
            }
            out.sort();
            (t, out)
        })
        .collect()
}

#[test]
fn sessions_by_hand_close_once_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        ("f0.txt".to_owned(), "alice bob\nalice\n".to_owned()),
        ("f1.txt".to_owned(), "carol alice\n".to_owned()),
    ];
    let (raw, sessions) = sessions_run(
        dir.path(),
        &files,
        "2",
        std::path::Path::new(fixtures::SESSIONS),
    );
    let record = |user: &str, events: i64, closed: bool| {
        format!(
            "{{\"key\": \"{user}\", \"value\": {{\"events\": {events}, \"closed\": {closed}}}}}"
        )
    };
    let times: Vec<i64> = raw.keys().copied().collect();
    let given: Vec<(i64, Vec<String>)> = sessions
        .into_iter()
        .filter(|(_, records)| !records.is_empty())
        .collect();
    // Each event numbered in its session; a session closes once, in the
    // first batch more than 300 ms after its user's last event.
    assert_eq!(
        given,
        [
            (
                times[0],
                vec![
                    record("alice", 1, false),
                    record("alice", 2, false),
                    record("bob", 1, false)
                ]
            ),
            (
                times[1],
                vec![record("alice", 3, false), record("carol", 1, false)]
            ),
            (times[0] + 400, vec![record("bob", 1, true)]),
            (
                times[1] + 400,
                vec![record("alice", 3, true), record("carol", 1, true)]
            ),
        ]
    );
}

#[test]
fn sessions_match_a_model_of_map_with_state_with_one_partition_and_with_four() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 22, 0.02, 3);
    let mut last = Vec::new();
    for partitions in ["1", "4"] {
        let (raw, sessions) = sessions_run(
            &dir.path().join(partitions),
            &files,
            partitions,
            std::path::Path::new(fixtures::SESSIONS),
        );
        assert_eq!(raw.values().filter(|b| !b.is_empty()).count(), files.len());
        let model = reference_sessions(&raw);
        assert!(model.len() >= 22, "{} batches", model.len());
        let closed: usize = model
            .values()
            .flatten()
            .filter(|r| r.ends_with("\"closed\": true}}"))
            .count();
        assert!(closed > 100, "{closed} sessions closed in the model");
        let differing: Vec<&i64> = model
            .iter()
            .filter(|(t, records)| sessions.get(t).unwrap_or(&Vec::new()) != *records)
            .map(|(t, _)| t)
            .collect();
        assert!(
            differing.is_empty(),
            "P = {partitions}: batches differ at {differing:?}"
        );
        last.push(model.into_values().flatten().count());
    }
    assert_eq!(last[0], last[1]);
}

#[test]
fn the_sessions_example_closes_each_session_once() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(fixtures::WORKSPACE).join("examples/sessions");
    let pipeline = example_pipeline(
        "sessions",
        &[
            ("split_words", fixtures::SPLIT_WORDS),
            ("word_pair", fixtures::WORD_PAIR),
            ("sessions", fixtures::SESSIONS),
        ],
    );
    std::fs::create_dir(dir.path().join("in")).unwrap();
    for name in ["events-1.txt", "events-2.txt"] {
        std::fs::copy(
            example.join("in").join(name),
            dir.path().join("in").join(name),
        )
        .unwrap();
    }
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, pipeline).unwrap();
    let stdout = stdout_of(&wait(
        sluice(&["run", path.to_str().unwrap(), "--stop-when-idle", "8"])
            .spawn()
            .unwrap(),
        std::time::Duration::from_secs(120),
    ));
    let blocks: Vec<Vec<String>> = pprint_blocks(&stdout)
        .into_iter()
        .map(|(_, records)| records)
        .collect();
    let open = |user: &str, n: i64| format!("('{user}', {{'events': {n}, 'closed': False}})");
    let closed = |user: &str, n: i64| format!("('{user}', {{'events': {n}, 'closed': True}})");
    assert_eq!(blocks.len(), 10, "2 batches with a file, 8 idle: {stdout}");
    assert_eq!(
        blocks[0],
        [open("alice", 1), open("alice", 2), open("bob", 1)]
    );
    assert_eq!(blocks[1], [open("alice", 3), open("carol", 1)]);
    // A user idle for more than 5 s: six batches after the last event.
    assert_eq!(blocks[6], [closed("bob", 1)]);
    assert_eq!(blocks[7], [closed("alice", 3), closed("carol", 1)]);
    for (i, block) in blocks.iter().enumerate() {
        if ![0, 1, 6, 7].contains(&i) {
            assert!(block.is_empty(), "batch {i}: {stdout}");
        }
    }
}

#[test]
fn state_snapshots_give_every_key_s_state_after_each_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(
        dir.path(),
        &[("f0.txt", "alice bob\nalice\n"), ("f1.txt", "carol\n")],
    );
    let pipeline = one_file_per_batch("100ms")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "sessions",
            "pairs",
            "map_with_state",
            fixtures::SESSIONS,
            "timeout = \"300ms\"",
        )
        .host_stream("snapshots", "sessions", "state_snapshots", "")
        .text_files("out", "snapshots", "out/snapshots", "format = \"jsonl\"")
        .write(dir.path().join("pipeline.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains("  stream snapshots: state_snapshots state_snapshots (builtin) (text, json) -> (text, int64)\n"),
        "{checked}"
    );
    run_until_idle(&pipeline, "2");
    let state = |pairs: &[(&str, i64)]| -> Vec<String> {
        pairs
            .iter()
            .map(|(k, v)| format!("{{\"key\": \"{k}\", \"value\": {v}}}"))
            .collect()
    };
    // Like Spark's stateSnapshots(): every key's state after the batch, the
    // keys without new values too, until they time out.
    assert_eq!(
        sorted_batches(dir.path(), "snapshots"),
        [
            state(&[("alice", 2), ("bob", 1)]),
            state(&[("alice", 2), ("bob", 1), ("carol", 1)]),
            state(&[("alice", 2), ("bob", 1), ("carol", 1)]),
            state(&[("alice", 2), ("bob", 1), ("carol", 1)]),
            state(&[("carol", 1)]),
        ]
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .host_stream("snapshots", "lines", "state_snapshots", "")
            .pprint("out", "snapshots"),
    );
    assert!(
        stderr.contains("stream `snapshots`: `state_snapshots` gives the (key, state) records a `map_with_state` stream keeps, but `lines` is no map_with_state stream"),
        "{stderr}"
    );
}

#[test]
fn a_state_updater_breaking_the_contract_fails_its_batch_precisely() {
    for (mode, message) in [
        (
            "short",
            "returned invalid output: 2 states and 3 keep flags for 3 keys; a state updater gives one state and one flag per key, in the order of its input",
        ),
        (
            "flags",
            "returned invalid output: 3 states and 4 keep flags for 3 keys; a state updater gives one state and one flag per key, in the order of its input",
        ),
        (
            "float",
            "returned invalid output: the state column has the wrong layout for declared type int64",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &[("f0.txt", "a b c\n")]);
        let pipeline = with_state(
            one_file_per_batch("100ms"),
            fixtures::BAD_STATE,
            &format!("params = {{ mode = \"{mode}\" }}"),
        )
        .text_files("out", "recent", "out/state", "")
        .write(dir.path().join("pipeline.toml"));
        let output = run(&[
            "run",
            pipeline.to_str().unwrap(),
            "--partitions",
            "1",
            "--stop-when-idle",
            "2",
        ]);
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains("pipeline `pipeline`, stream `recent`, plugin bad_state (sha256 ")
                && stderr.contains(", partition 0, attempt 1: ")
                && stderr.contains(message),
            "{mode}: {stderr}"
        );
        assert!(
            sink_batches(dir.path(), "state").is_empty(),
            "{mode}: nothing delivered"
        );
    }
}

#[test]
fn an_initial_state_times_out_from_the_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &[("f0.txt", "alice\n")]);
    std::fs::write(
        dir.path().join("initial.jsonl"),
        "{\"key\": \"zed\", \"value\": 4}\n",
    )
    .unwrap();
    let pipeline = one_file_per_batch("100ms")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "recent",
            "pairs",
            "map_with_state",
            fixtures::SESSIONS,
            "initial_state = \"initial.jsonl\"\ntimeout = \"300ms\"",
        )
        .text_files("out", "recent", "out/sessions", "format = \"jsonl\"")
        .write(dir.path().join("pipeline.toml"));
    let checked = stdout_of(&run(&["check", pipeline.to_str().unwrap()]));
    assert!(
        checked.contains("stream recent: map_with_state sessions (")
            && checked
                .contains(") (text, int64) -> (text, json), int64 state per key, 1 initial keys\n"),
        "{checked}"
    );
    run_idle(&pipeline, "2", 5);
    let record = |user: &str, events: i64, closed: bool| {
        format!(
            "{{\"key\": \"{user}\", \"value\": {{\"events\": {events}, \"closed\": {closed}}}}}"
        )
    };
    let batches: Vec<Vec<String>> = sorted_batches(dir.path(), "sessions")
        .into_iter()
        .filter(|records| !records.is_empty())
        .collect();
    // `zed` never gets a value: its idle time starts with the first batch,
    // so it closes with `alice`, 400 ms later.
    assert_eq!(
        batches,
        [
            vec![record("alice", 1, false)],
            vec![record("alice", 1, true), record("zed", 4, true)],
        ]
    );
}

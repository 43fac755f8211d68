//! Checkpoints (`checkpoint = true`): a restarted pipeline resumes where
//! the last run stopped — after a clean stop, a crash at each fault point,
//! or `kill -9` at random moments — and every input file's counts are
//! written exactly once; windows and per-key states carry over.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use super::common::*;
use sluice_test_fixtures as fixtures;

/// A checkpointed pipeline with batches of `interval` and the source
/// `lines` reading the files in `in`, one per batch, in name order.
fn checkpointed_one_file_per_batch(interval: &str) -> PipelineFile {
    PipelineFile::new(interval)
        .raw("checkpoint = true")
        .files_source(
            "lines",
            "in",
            "include_existing = true\nmax_files_per_batch = 1",
        )
}

/// The word count over the files in `in`, one per batch of `interval`,
/// checkpointed, written under `out/counts`.
fn checkpointed_wordcount(dir: &Path, interval: &str) -> PathBuf {
    checkpointed_one_file_per_batch(interval)
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("files", "counts", "out/counts", "")
        .write(dir.join("pipeline.toml"))
}

/// `sluice run PIPELINE ARGS` with info logs, to completion.
fn run_logged(pipeline: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut command = sluice(&[&["run", pipeline.to_str().unwrap()], args].concat());
    command.env("SLUICE_LOG", "info");
    if let Some(fault) = fault {
        command.env("SLUICE_FAULT", fault);
    }
    wait(command.spawn().unwrap(), Duration::from_secs(120))
}

/// The batches with records, each sorted, in batch order.
fn non_empty_batches(dir: &Path) -> Vec<Vec<String>> {
    sorted_batches(dir, "counts")
        .into_iter()
        .filter(|batch| !batch.is_empty())
        .collect()
}

/// What one batch per file gives: each file's word counts, sorted, in
/// name order.
fn one_batch_per_file(files: &[(String, String)]) -> Vec<Vec<String>> {
    let mut files = files.to_vec();
    files.sort();
    files
        .iter()
        .map(|(_, text)| {
            reference_counts([text.as_str()])
                .into_iter()
                .map(|(word, n)| format!("('{word}', {n})"))
                .collect()
        })
        .collect()
}

fn owned(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}

/// Staging directories a `text_files` commit left (none may remain).
fn staging_left(dir: &Path) -> Vec<PathBuf> {
    walk(&dir.join("out"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("sluice-staging"))
        .collect()
}

#[test]
fn a_restarted_pipeline_goes_on_where_the_last_run_stopped() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), THREE_FILES);
    let pipeline = checkpointed_wordcount(dir.path(), "100ms");
    stdout_of(&run_logged(&pipeline, &["--max-batches", "1"], None));
    let second = run_logged(&pipeline, &["--max-batches", "1"], None);
    stdout_of(&second);
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(log.contains("resuming from the checkpoint"), "{log}");
    assert!(
        log.contains("resumed from the checkpoint: files read before are not read again source=lines read_before=1 waiting=2"),
        "{log}"
    );
    // A file that arrives while the pipeline is down is read after the
    // restart, though it was not there when the first run started.
    write_inputs(dir.path(), &[("f3.txt", "d d\n")]);
    stdout_of(&run_logged(&pipeline, &["--stop-when-idle", "2"], None));
    let mut expected = owned(THREE_FILES);
    expected.push(("f3.txt".into(), "d d\n".into()));
    assert_eq!(non_empty_batches(dir.path()), one_batch_per_file(&expected));
    // Batch times only move forward across the restarts.
    let times: Vec<i64> = sink_batches(dir.path(), "counts").into_keys().collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    // Without `checkpoint`, the checkpoints are ignored (and said so) and
    // the files are read again.
    let plain = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("checkpoint = true\n", "");
    std::fs::write(&pipeline, plain).unwrap();
    let output = run_logged(&pipeline, &["--max-batches", "1"], None);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("checkpoints of an earlier run are there but `checkpoint` is off: they are ignored, and the sources start anew"),
        "{log}"
    );
    assert_eq!(
        non_empty_batches(dir.path()).len(),
        expected.len() + 1,
        "f0.txt read again"
    );
}

#[test]
fn a_crash_at_each_fault_point_leaves_every_file_counted_once() {
    // batch_started:2 — the second batch polled and recorded, not run;
    // checkpoint_rename:3 — the second batch's `.pending` half written;
    // checkpoint_rename:2 and sinks_committed:2 — a batch committed by
    // its sinks but not recorded as done (it runs again and is not
    // written twice).
    for (fault, replayed) in [
        ("batch_started:2", true),
        ("checkpoint_rename:3", false),
        ("checkpoint_rename:2", true),
        ("sinks_committed:2", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), THREE_FILES);
        let pipeline = checkpointed_wordcount(dir.path(), "100ms");
        let crashed = run_logged(&pipeline, &[], Some(fault));
        assert!(!crashed.status.success(), "{fault}");
        let point = fault.split(':').next().unwrap();
        assert!(
            String::from_utf8_lossy(&crashed.stderr)
                .contains(&format!("SLUICE_FAULT: fault point `{point}` reached")),
            "{fault}"
        );
        let restarted = run_logged(&pipeline, &["--stop-when-idle", "2"], None);
        stdout_of(&restarted);
        let log = String::from_utf8_lossy(&restarted.stderr);
        assert_eq!(
            log.contains("running again the batch that was in flight when the last run stopped"),
            replayed,
            "{fault}: {log}"
        );
        assert_eq!(
            non_empty_batches(dir.path()),
            one_batch_per_file(&owned(THREE_FILES)),
            "{fault}"
        );
        assert_eq!(staging_left(dir.path()), Vec::<PathBuf>::new(), "{fault}");
        let unfinished: Vec<_> = walk(&dir.path().join(".sluice"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert_eq!(unfinished, Vec::<PathBuf>::new(), "{fault}");
    }
}

#[test]
fn kill_9_at_random_moments_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Half the files are there at the start; the others arrive one per
    // run, while a run is up or between two.
    let files = corpus_files(dir.path(), 56, 0.1, 7);
    let (present, arriving) = files.split_at(20);
    write_inputs(dir.path(), &all_named(present));
    let mut arriving = arriving.iter();
    let pipeline = checkpointed_wordcount(dir.path(), "100ms");
    let seed = kill_seed();
    let input = dir.path().join("in");
    let (kills, faults, replays) = crash_repeatedly(&pipeline, 36, seed, "3", |random| {
        let (name, text) = arriving.next().unwrap();
        std::thread::sleep(Duration::from_millis(random.u64(0..200)));
        drop_file(&input, name, text.as_bytes());
        std::thread::sleep(Duration::from_millis(random.u64(20..200)));
    });
    eprintln!(
        "seed {seed}: {kills} kill -9, {faults} fault points hit, {replays} batches in flight run again"
    );
    assert!(kills >= 20, "{kills} kills");
    assert_eq!(
        non_empty_batches(dir.path()),
        one_batch_per_file(&files),
        "seed {seed}"
    );
    assert_eq!(staging_left(dir.path()), Vec::<PathBuf>::new());
    // Byte for byte what a run never interrupted writes for the same
    // batches (their times, and the empty batches between, differ).
    let calm = tempfile::tempdir().unwrap();
    write_inputs(calm.path(), &all_named(&files));
    let reference = checkpointed_wordcount(calm.path(), "100ms");
    stdout_of(&run_logged(&reference, &["--stop-when-idle", "3"], None));
    assert!(
        batch_bytes(dir.path()) == batch_bytes(calm.path()),
        "seed {seed}: the part files differ from an uninterrupted run's"
    );
}

/// `files` as `write_inputs` takes them.
fn all_named(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect()
}

/// A batch directory's files: (name, bytes), by name.
type PartFiles = Vec<(String, Vec<u8>)>;

/// The part files of each batch of `out/counts` that has records, in
/// batch order.
fn batch_bytes(dir: &Path) -> Vec<PartFiles> {
    let mut batches: Vec<(i64, PartFiles)> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name()?.to_str()?.to_owned();
            let time = name.strip_prefix("counts-")?.parse().ok()?;
            let mut parts: PartFiles = std::fs::read_dir(&path)
                .unwrap()
                .map(|part| {
                    let part = part.unwrap().path();
                    let name = part.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&part).unwrap())
                })
                .collect();
            parts.sort();
            parts
                .iter()
                .any(|(_, bytes)| !bytes.is_empty())
                .then_some((time, parts))
        })
        .collect();
    batches.sort();
    batches.into_iter().map(|(_, parts)| parts).collect()
}

#[test]
fn a_corrupt_newest_checkpoint_falls_back_and_none_usable_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), THREE_FILES);
    let pipeline = checkpointed_wordcount(dir.path(), "100ms");
    stdout_of(&run_logged(&pipeline, &["--max-batches", "2"], None));
    let checkpoints = dir.path().join(".sluice/pipeline/checkpoint");
    let mut done: Vec<PathBuf> = walk(&checkpoints)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "done"))
        .collect();
    done.sort();
    assert_eq!(done.len(), 2);
    // The newest, truncated: the one before is used, and the batch after it
    // runs again from its recorded input (its output, committed, is not
    // written twice).
    let bytes = std::fs::read(&done[1]).unwrap();
    std::fs::write(&done[1], &bytes[..bytes.len() / 2]).unwrap();
    let output = run_logged(&pipeline, &["--stop-when-idle", "2"], None);
    stdout_of(&output);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains(&format!(
            "checkpoint is corrupt: its contents do not match their checksum (truncated or changed); using the one before pipeline=pipeline file={}",
            done[1].display()
        )),
        "{log}"
    );
    assert!(
        log.contains("running again the batch that was in flight"),
        "{log}"
    );
    let batches = non_empty_batches(dir.path());
    let expected = one_batch_per_file(&owned(THREE_FILES));
    assert_eq!(batches, expected);

    // Every checkpoint unusable: refused, naming the newest and `--fresh`.
    for file in walk(&checkpoints) {
        std::fs::write(file, b"").unwrap();
    }
    let output = run_logged(&pipeline, &["--max-batches", "1"], None);
    let stderr = stderr_of_failure(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: pipeline `pipeline`, checkpoint: no usable checkpoint in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is not a Sluice checkpoint (no `sluice-checkpoint 1` header) (and the 2 before it cannot be used either); to start over (reading the sources anew, forgetting what was read), run with `--fresh`"),
        "{stderr}"
    );
    // `--fresh` starts over: f0 is read again.
    let output = run_logged(&pipeline, &["--fresh", "--max-batches", "1"], None);
    stdout_of(&output);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("starting fresh (--fresh): checkpoints removed"),
    );
    let batches = non_empty_batches(dir.path());
    assert_eq!(batches.last(), expected.first());
}

#[test]
fn a_socket_source_s_write_ahead_log_loses_and_doubles_no_line_across_crashes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let socket = |interval: &str, sync: &str| {
        PipelineFile::new(interval)
            .raw("checkpoint = true")
            .table(
                "sources.lines",
                &format!("kind = \"socket\"\nport = {port}\nwal_sync = \"{sync}\""),
            )
            .text_files("raw", "lines", "out/raw", "")
            .write(dir.path().join("pipeline.toml"))
    };
    let line = |i: usize| format!("line {i}");
    let mut sent = 0;
    // Each run gets 400 lines, is given time to read them, and then is
    // killed, crashes at a fault point, or (the last) runs to the end. The
    // first is killed before its first batch: its lines are only in the
    // log, and the next run processes them first.
    for (run, interval, sync, fault) in [
        (1, "10s", "batch", None),
        (2, "100ms", "always", Some("sinks_committed:3")),
        (3, "100ms", "batch", Some("batch_started:2")),
        (4, "100ms", "batch", None),
    ] {
        let pipeline = socket(interval, sync);
        let mut command = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "5"]);
        if let Some(fault) = fault {
            command.env("SLUICE_FAULT", fault);
        }
        let mut child = command.spawn().unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let text: String = (sent..sent + 400).map(|i| line(i) + "\n").collect();
        std::io::Write::write_all(&mut stream, text.as_bytes()).unwrap();
        sent += 400;
        if run == 4 {
            drop(stream);
            stdout_of(&wait(child, Duration::from_secs(60)));
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
        }
        let output = child.wait_with_output().unwrap();
        assert_ne!(output.status.code(), Some(101));
        assert!(!output.status.success(), "run {run} stopped by itself");
        drop(stream);
    }

    let mut received = sink_lines(dir.path(), "raw");
    let mut expected: Vec<String> = (0..sent).map(|i| format!("'{}'", line(i))).collect();
    // In order within each run; compared as sets of exactly-once lines.
    received.sort();
    expected.sort();
    assert_eq!(received.len(), expected.len(), "lines lost or doubled");
    assert!(received == expected, "other lines than those sent");
    assert_eq!(staging_left(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn wal_sync_needs_checkpoints() {
    let stderr = check_fails(
        PipelineFile::new("1s")
            .table(
                "sources.lines",
                "kind = \"socket\"\nport = 9999\nwal_sync = \"always\"",
            )
            .pprint("out", "lines"),
    );
    assert!(
        stderr.contains("p.toml:5:12: source `lines`: `wal_sync` applies only with `checkpoint = true` (without checkpoints there is no write-ahead log)"),
        "{stderr}"
    );
}

/// The seed of a random crash sequence: `SLUICE_KILL_SEED`, else a new
/// one (the tests print it, so a failure can be run again).
fn kill_seed() -> u64 {
    std::env::var("SLUICE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

/// Runs `pipeline` `runs` times; each run, after `pause` (given the
/// random generator), is killed (`kill -9`) or has crashed at the random
/// fault point it was given (every third run); then runs it once to the
/// end (`idle` idle batches). Returns (kills, fault points hit, batches in
/// flight run again).
fn crash_repeatedly(
    pipeline: &Path,
    runs: u32,
    seed: u64,
    idle: &str,
    mut pause: impl FnMut(&mut fastrand::Rng),
) -> (u32, u32, usize) {
    let mut random = fastrand::Rng::with_seed(seed);
    let points = ["batch_started", "checkpoint_rename", "sinks_committed"];
    let (mut kills, mut faults, mut replays) = (0, 0, 0);
    for round in 0..runs {
        let mut command = sluice(&["run", pipeline.to_str().unwrap()]);
        command.env("SLUICE_LOG", "info");
        if round % 3 == 2 {
            let point = points[random.usize(..points.len())];
            command.env("SLUICE_FAULT", format!("{point}:{}", random.u32(1..6)));
        }
        let mut child = command.spawn().unwrap();
        pause(&mut random);
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(!status.success(), "sluice stopped by itself");
                faults += 1;
            }
            None => {
                child.kill().unwrap();
                kills += 1;
            }
        }
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(101), "{log}");
        replays += log
            .matches("running again the batch that was in flight")
            .count();
    }
    stdout_of(&run_logged(pipeline, &["--stop-when-idle", idle], None));
    (kills, faults, replays)
}

#[test]
fn windows_and_running_totals_survive_crashes_and_match_the_models() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 30, 0.01, 11);
    write_inputs(dir.path(), &all_named(&files));
    // `recent`: counts over 1 s sliding every 200 ms, kept incrementally
    // (sum and its inverse); `totals`: counts since the start.
    let window_keys = format!(
        "window_duration = \"1s\"\nslide_duration = \"200ms\"\ninverse_plugin = {}\ndrop_when = 0",
        toml_path(fixtures::SUBTRACT)
    );
    let pipeline = with_windowed_counts(
        checkpointed_one_file_per_batch("100ms"),
        Path::new(fixtures::SUM),
        &window_keys,
    )
    .stream(
        "totals",
        "pairs",
        "update_state_by_key",
        fixtures::RUNNING_SUM,
        "",
    )
    .text_files("raw", "lines", "out/raw", "format = \"jsonl\"")
    .text_files("win", "recent", "out/win", "format = \"jsonl\"")
    .text_files("tot", "totals", "out/tot", "format = \"jsonl\"")
    .write(dir.path().join("pipeline.toml"));
    let seed = kill_seed();
    let (kills, faults, replays) = crash_repeatedly(&pipeline, 15, seed, "3", |random| {
        std::thread::sleep(Duration::from_millis(random.u64(50..500)));
    });
    eprintln!(
        "seed {seed}: {kills} kill -9, {faults} fault points hit, {replays} batches run again"
    );

    let run = read_windowed(dir.path());
    // Every file was read by exactly one batch, in name order.
    let read: Vec<String> = run
        .batches
        .values()
        .filter(|lines| !lines.is_empty())
        .map(|lines| lines.join("\n"))
        .collect();
    let expected: Vec<String> = files
        .iter()
        .map(|(_, text)| text.trim_end_matches('\n').to_owned())
        .collect();
    assert!(
        read == expected,
        "seed {seed}: files read {} times, expected {}",
        read.len(),
        expected.len()
    );
    // Each window is the counts of the batches in (t - 1 s, t].
    let model = reference_windows(&run.batches, 1000, 200);
    assert_eq!(
        run.windows.keys().collect::<Vec<_>>(),
        model.keys().collect::<Vec<_>>(),
        "seed {seed}"
    );
    for (time, window) in &run.windows {
        assert!(window == &model[time], "seed {seed}: window at {time}");
    }
    // Each batch's totals are the counts of everything read up to it.
    let totals = keyed_counts(dir.path(), "tot");
    assert_eq!(
        totals.keys().collect::<Vec<_>>(),
        run.batches.keys().collect::<Vec<_>>(),
        "seed {seed}"
    );
    for (time, got) in &totals {
        let so_far = reference_counts(
            run.batches
                .range(..=time)
                .flat_map(|(_, lines)| lines.iter().map(String::as_str)),
        );
        assert!(got == &so_far, "seed {seed}: totals at {time}");
    }
    assert_eq!(staging_left(dir.path()), Vec::<PathBuf>::new());

    // A window changed against the checkpoint: refused, naming the change.
    let changed = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("window_duration = \"1s\"", "window_duration = \"2s\"");
    std::fs::write(&pipeline, changed).unwrap();
    let output = run_logged(&pipeline, &["--max-batches", "1"], None);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("stream `recent` cannot resume from the checkpoint in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("its window was 1s long sliding every 200ms when checkpointed, and is 2s sliding every 200ms now; undo that change, or run with `--fresh` to start over"),
        "{stderr}"
    );
}

#[test]
fn a_deployed_version_runs_again_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let pipeline = PipelineFile::new("100ms")
        .raw("checkpoint = true")
        .files_source("lines", "in", "")
        .stream("tagged", "lines", "map", fixtures::TAG_A, "")
        .text_files("files", "tagged", "out/tagged", "")
        .write(dir.path().join("pipeline.toml"));
    let mut first = start_logged(dir.path(), &pipeline, 1);
    wait_until_running(dir.path());
    drop_file(&dir.path().join("in"), "f1.txt", b"x\n");
    wait_for_record(dir.path(), "tagged", "'a:x'");
    stdout_of(&run(&[
        "deploy",
        "tagged",
        fixtures::TAG_B,
        "--pipeline",
        pipeline.to_str().unwrap(),
    ]));
    drop_file(&dir.path().join("in"), "f2.txt", b"y\n");
    wait_for_record(dir.path(), "tagged", "'b:y'");
    // A shadow candidate too (tag-a again, beside v2).
    stdout_of(&run(&[
        "deploy",
        "tagged",
        fixtures::TAG_A,
        "--shadow",
        "--no-wait",
        "--pipeline",
        pipeline.to_str().unwrap(),
    ]));
    // Its next batch records it in the checkpoint. A batch's records are
    // written before its checkpoint is: the batch after it showing its
    // records proves that checkpoint done.
    drop_file(&dir.path().join("in"), "f2b.txt", b"w\n");
    wait_for_record(dir.path(), "tagged", "'b:w'");
    drop_file(&dir.path().join("in"), "f2c.txt", b"v\n");
    wait_for_record(dir.path(), "tagged", "'b:v'");
    first.kill().unwrap();
    first.wait().unwrap();

    // The restart runs v2, not the pipeline file's tag-a.
    let mut second = start_logged(dir.path(), &pipeline, 2);
    drop_file(&dir.path().join("in"), "f3.txt", b"z\n");
    wait_for_record(dir.path(), "tagged", "'b:z'");
    // v2 is current again, and tag-a its shadow, both from the checkpoint.
    let json = stdout_of(&run(&[
        "status",
        "--json",
        "--pipeline",
        pipeline.to_str().unwrap(),
    ]));
    let stream = &serde_json::from_str::<serde_json::Value>(&json).unwrap()["streams"][0];
    assert_eq!(stream["current"]["plugin"], "tag_b", "{stream:#}");
    assert_eq!(stream["current"]["origin"], "checkpoint", "{stream:#}");
    assert_eq!(stream["shadow"]["plugin"], "tag_a", "{stream:#}");
    // `sluice status` shows the latest checkpoint.
    let status = stdout_of(&run(&["status", "--pipeline", pipeline.to_str().unwrap()]));
    let line = status
        .lines()
        .find(|l| l.starts_with("  checkpoint: batch "))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        line.contains(" MiB written in ") && line.ends_with("/.sluice/pipeline/checkpoint"),
        "{line}"
    );
    send_signal(&second, "TERM");
    second.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("stderr-2.log")).unwrap();
    assert!(log.contains("is current, replacing v1"), "{log}");
    assert!(log.contains("(checkpoint, checked in"), "{log}");
    let lines = sink_lines(dir.path(), "tagged");
    assert_eq!(lines, ["'a:x'", "'b:y'", "'b:w'", "'b:v'", "'b:z'"]);

    // The kept component is checked: damaged, the start is refused.
    let plugins = dir.path().join(".sluice/pipeline/checkpoint/plugins");
    let kept: Vec<PathBuf> = walk(&plugins);
    assert_eq!(kept.len(), 2, "tag-b and tag-a: {kept:?}");
    let tag_b = kept.iter().find(|p| p.ends_with("tag_b.wasm")).unwrap();
    std::fs::write(tag_b, b"sluice-checkpoint 1 0\nnot wasm").unwrap();
    let output = run_logged(&pipeline, &["--max-batches", "1"], None);
    let stderr = stderr_of_failure(&output);
    assert!(
        stderr.contains("stream `tagged`, deployed v2 (tag_b, sha256"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is corrupt: its contents do not match their checksum (truncated or changed); deploy it again after a start with `--fresh`, or restore the pipeline file it was checked against"),
        "{stderr}"
    );
}

#[test]
fn a_file_replaced_before_its_batch_runs_again_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), THREE_FILES);
    let pipeline = checkpointed_wordcount(dir.path(), "100ms");
    let crashed = run_logged(&pipeline, &[], Some("batch_started:1"));
    assert!(!crashed.status.success());
    // Same name, same size, other words: a replaced file.
    drop_file(&dir.path().join("in"), "f0.txt", b"x y z\n");
    let output = run_logged(&pipeline, &["--stop-when-idle", "2"], None);
    stdout_of(&output);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("the file was changed or replaced since this batch first read it; the batch is run again with what it holds now"),
        "{log}"
    );
    let batches = non_empty_batches(dir.path());
    assert_eq!(batches[0], ["('x', 1)", "('y', 1)", "('z', 1)"]);
    assert_eq!(batches.len(), 3);
}

#[test]
fn sessions_time_out_once_across_crashes_as_the_model_says() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus_files(dir.path(), 22, 0.02, 3);
    write_inputs(dir.path(), &all_named(&files));
    let pipeline = super::state::with_sessions(
        checkpointed_one_file_per_batch("100ms"),
        Path::new(fixtures::SESSIONS),
    )
    .write(dir.path().join("pipeline.toml"));
    let seed = kill_seed();
    let (kills, faults, replays) = crash_repeatedly(&pipeline, 12, seed, "6", |random| {
        std::thread::sleep(Duration::from_millis(random.u64(50..500)));
    });
    eprintln!(
        "seed {seed}: {kills} kill -9, {faults} fault points hit, {replays} batches run again"
    );
    let (raw, given) = super::state::read_sessions(dir.path());
    assert_eq!(
        raw.values().filter(|b| !b.is_empty()).count(),
        files.len(),
        "seed {seed}"
    );
    // Each session's events are numbered on, and it closes exactly once,
    // in the first batch more than 300 ms after its last event, even
    // when that batch comes after a restart.
    let model = super::state::reference_sessions(&raw);
    let differing: Vec<&i64> = model
        .iter()
        .filter(|(t, records)| given.get(t).unwrap_or(&Vec::new()) != *records)
        .map(|(t, _)| t)
        .collect();
    assert!(
        differing.is_empty(),
        "seed {seed}: batches differ at {differing:?}"
    );
}

//! What plugins print: captured per call, kept for the last batches, and
//! shown by `sluice logs` (once, by batch, or followed), with a plugin
//! that prints too much cut, marked, and still working.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::common::*;
use sluice_test_fixtures as fixtures;

/// A pipeline over `dir/in` whose stream `loud` is the hostile guest with
/// `params`, written to `text_files` under `out/loud`.
fn loud_pipeline(dir: &Path, partitions: usize, params: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    PipelineFile::new("300ms")
        .raw(&format!("partitions = {partitions}"))
        .files_source("lines", "in", "include_existing = true")
        .stream(
            "loud",
            "lines",
            "flat_map",
            fixtures::HOSTILE,
            &format!("params = {{ {params} }}"),
        )
        .text_files("out", "loud", "out/loud", "")
        .write(dir.join("p.toml"))
}

/// The records each `hello: N records` line of `lines` counts, summed.
fn records_said(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|l| l.split_once("] stderr: hello: "))
        .map(|(_, rest)| rest.trim_end_matches(" records").parse::<usize>().unwrap())
        .sum()
}

#[test]
fn sluice_logs_shows_what_each_call_printed_and_follows_new_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = loud_pipeline(dir.path(), 2, "say = \"hello\"");
    std::fs::write(dir.path().join("in/a.txt"), "a1\na2\na3\n").unwrap();
    let pipeline = path.to_str().unwrap();
    let run = sluice(&["run", pipeline]).spawn().unwrap();
    wait_for_record(dir.path(), "loud", "'a3'");

    let mut follow = sluice(&["logs", "loud", "-p", pipeline, "--follow"])
        .spawn()
        .unwrap();
    let (sender, followed) = mpsc::channel();
    let reader = BufReader::new(follow.stdout.take().unwrap());
    let reading = std::thread::spawn(move || {
        for line in reader.lines() {
            if sender.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let read_until = |seen: &mut Vec<String>, records: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while records_said(seen) < records {
            let left = deadline.saturating_duration_since(Instant::now());
            match followed.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("followed logs stopped at {seen:#?}"),
            }
        }
    };
    // The batch that ran before `--follow` started is shown first.
    read_until(&mut seen, 3);
    std::fs::write(dir.path().join("in/b.txt"), "b1\nb2\nb3\nb4\nb5\n").unwrap();
    read_until(&mut seen, 8);
    // Every call said how many records it got: each record exactly once.
    assert_eq!(records_said(&seen), 8, "{seen:#?}");
    let stdout_lines = seen
        .iter()
        .filter(|l| l.ends_with("] stdout: hello on stdout"))
        .count();
    let stderr_lines = seen
        .iter()
        .filter(|l| l.contains("] stderr: hello: "))
        .count();
    assert_eq!(stdout_lines, stderr_lines, "{seen:#?}");
    // `2026-12-01 15:20:00.300000 loud[0] stderr: hello: 3 records`
    let first = &seen[0];
    let (batch, rest) = first.split_once(" loud[").unwrap();
    assert!(
        rest.starts_with("0] ") || rest.starts_with("1] "),
        "{first}"
    );

    // One batch, by the time printed.
    let one = stdout_of(&super::common::run(&[
        "logs", "-p", pipeline, "--batch", batch,
    ]));
    assert!(!one.is_empty());
    for line in one.lines() {
        assert!(line.starts_with(&format!("{batch} loud[")), "{one}");
    }
    let json = stdout_of(&super::common::run(&[
        "logs", "loud", "-p", pipeline, "--json",
    ]));
    let entry: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(entry["stream"], "loud");
    assert_eq!(entry["plugin"], "hostile");
    assert_eq!(entry["hash"].as_str().unwrap().len(), 64);

    let stderr = stderr_of_failure(&super::common::run(&["logs", "nope", "-p", pipeline]));
    assert!(
        stderr.contains("pipeline `p` has no stream or sink `nope`; `sluice status` lists them"),
        "{stderr}"
    );
    let stderr = stderr_of_failure(&super::common::run(&[
        "logs",
        "-p",
        pipeline,
        "--batch",
        "yesterday",
    ]));
    assert!(
        stderr.contains("`--batch yesterday` is not a batch time"),
        "{stderr}"
    );

    stdout_of(&super::common::run(&["stop", "-p", pipeline]));
    stdout_of(&wait(run, Duration::from_secs(60)));
    // The follower ends by itself when the pipeline is gone.
    let status = wait(follow, Duration::from_secs(30)).status;
    assert!(status.success(), "{status:?}");
    reading.join().unwrap();
}

#[test]
fn a_plugin_that_prints_too_much_keeps_working_and_its_output_is_cut_with_a_mark() {
    let dir = tempfile::tempdir().unwrap();
    let path = loud_pipeline(dir.path(), 1, "say = \"hello\", flood = 1000000");
    std::fs::write(dir.path().join("in/a.txt"), "r1\nr2\nr3\nr4\n").unwrap();
    let pipeline = path.to_str().unwrap();
    let run = sluice(&["run", pipeline]).spawn().unwrap();
    wait_for_record(dir.path(), "loud", "'r4'");
    let logs = stdout_of(&super::common::run(&["logs", "loud", "-p", pipeline]));
    stdout_of(&super::common::run(&["stop", "-p", pipeline]));
    stdout_of(&wait(run, Duration::from_secs(60)));

    let mut lines = sink_lines(dir.path(), "loud");
    lines.sort();
    assert_eq!(lines, ["'r1'", "'r2'", "'r3'", "'r4'"]);
    // 17 bytes said, then 10 000 lines of 100: 1 000 017 bytes, 16 KiB kept.
    let dropped = 1_000_017 - 16 * 1024;
    let mark =
        format!("] stderr: [… {dropped} more bytes dropped: a call keeps 16 KiB of each output]");
    assert_eq!(
        logs.lines().filter(|l| l.ends_with(&mark)).count(),
        1,
        "{}",
        logs.lines().last().unwrap_or_default()
    );
    assert_eq!(
        logs.lines()
            .filter(|l| l.ends_with("] stderr: hello: 4 records"))
            .count(),
        1
    );
}

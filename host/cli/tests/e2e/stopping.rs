//! Stopping a running pipeline: gracefully (the first SIGTERM or Ctrl-C,
//! `sluice stop --graceful`), or after the batch under way (a second
//! signal, `sluice stop`).

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use super::common::*;
use sluice_test_fixtures as fixtures;

/// The word count over files already in `in`, one per 2 s batch.
fn slow_wordcount(dir: &Path) -> std::path::PathBuf {
    PipelineFile::new("2s")
        .files_source(
            "lines",
            "in",
            "include_existing = true\nmax_files_per_batch = 1",
        )
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .write(dir.join("pipeline.toml"))
}

fn run_logged(pipeline: &Path) -> Child {
    sluice(&["run", pipeline.to_str().unwrap()])
        .env("SLUICE_LOG", "info")
        .spawn()
        .unwrap()
}

/// The slow word count over [`THREE_FILES`], running, its first batch
/// (of `f0.txt`) committed; its pipeline file and process.
fn running_after_first_batch(dir: &Path) -> (std::path::PathBuf, Child) {
    write_inputs(dir, THREE_FILES);
    let pipeline = slow_wordcount(dir);
    let child = run_logged(&pipeline);
    wait_for_batches(dir, 1);
    (pipeline, child)
}

/// Waits until the `text_files` sink has committed `n` batches.
fn wait_for_batches(dir: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink_batches(dir, "counts").len() < n {
        assert!(Instant::now() < deadline, "no {n} batches within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_processes_the_files_received_and_reads_no_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_, child) = running_after_first_batch(dir.path());
    send_signal(&child, "TERM");
    // Arrives after the stop: left for the next run.
    std::thread::sleep(Duration::from_millis(300));
    drop_file(&dir.path().join("in"), "f3.txt", b"late words\n");
    let output = wait(child, Duration::from_secs(60));
    let stdout = stdout_of(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let pair = |word: &str, n: i64| format!("{{\"key\": \"{word}\", \"value\": {n}}}");
    // f0 before the signal; f1 and f2, received, one per batch after it.
    assert_eq!(
        sorted_batches(dir.path(), "counts"),
        [
            vec![pair("a", 2), pair("b", 1)],
            vec![pair("b", 1)],
            vec![pair("a", 1), pair("c", 1)],
        ],
        "{stdout}{stderr}"
    );
    for line in [
        "SIGTERM: stopping gracefully; SIGTERM again stops after the current batch",
        "graceful stop: no more input is taken; processing what was received",
        "graceful stop: everything received was processed; stopping",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
}

#[test]
fn a_second_sigterm_stops_after_the_current_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (_, child) = running_after_first_batch(dir.path());
    send_signal(&child, "TERM");
    // Signals that arrive together are delivered once.
    std::thread::sleep(Duration::from_millis(300));
    send_signal(&child, "TERM");
    let output = wait(child, Duration::from_secs(60));
    stdout_of(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SIGTERM: stopping after the current batch"),
        "{stderr}"
    );
    // The batch at the next tick never ran: f1 and f2 wait for the next run.
    assert_eq!(sink_batches(dir.path(), "counts").len(), 1, "{stderr}");
}

#[test]
fn sluice_stop_stops_after_the_current_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, child) = running_after_first_batch(dir.path());
    let said = stdout_of(&run(&["stop", "-p", pipeline.to_str().unwrap()]));
    assert_eq!(
        said,
        "pipeline `pipeline` stops after the batch under way\n"
    );
    let output = wait(child, Duration::from_secs(60));
    stdout_of(&output);
    assert_eq!(sink_batches(dir.path(), "counts").len(), 1);
}

#[test]
fn sluice_stop_graceful_processes_the_socket_lines_received() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = socket_wordcount(dir.path(), port, "2s", "");
    let child = run_logged(&pipeline);
    let (mut connection, _) = listener.accept().unwrap();
    connection.write_all(b"to be or\nnot to be\n").unwrap();
    connection.flush().unwrap();
    // Received (most likely still buffered for the next batch), then stop.
    std::thread::sleep(Duration::from_millis(300));
    let said = stdout_of(&run(&[
        "stop",
        "-p",
        pipeline.to_str().unwrap(),
        "--graceful",
    ]));
    assert_eq!(
        said,
        "pipeline `pipeline` is stopping gracefully: it takes no more input, processes what it received, then exits\n"
    );
    // Sent after the stop: not read.
    let _ = connection.write_all(b"after the stop\n");
    let output = wait(child, Duration::from_secs(60));
    stdout_of(&output);
    assert_eq!(
        read_counts(dir.path()),
        reference_counts(["to be or not to be"])
    );
}

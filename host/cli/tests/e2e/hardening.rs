//! What a careless user or an attacker tries: special files where a plugin
//! or an input file belongs, reducers that break their contract, lines
//! without end, floods, numbers out of range, staging left by a crash, and
//! idle connections to the control endpoint. None panics, stalls or stops
//! the host by surprise; each refusal is a message.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::common::*;
use sluice_test_fixtures as fixtures;

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `sluice check` of a one-stream pipeline whose plugin is `plugin`.
fn check_with_plugin(dir: &Path, plugin: &Path) -> std::process::Output {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let pipeline = PipelineFile::new("1s")
        .files_source("lines", "in", "")
        .stream("words", "lines", "flat_map", plugin, "")
        .pprint("out", "words")
        .write(dir.join("p.toml"));
    run(&["check", pipeline.to_str().unwrap()])
}

#[test]
fn special_files_as_plugins_are_refused_at_once_everywhere_a_plugin_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plugin.wasm");
    mkfifo(&fifo);
    let cases = [
        (Path::new("/dev/zero").to_path_buf(), "character device"),
        (fifo.clone(), "FIFO"),
        (dir.path().join("in"), "directory"),
    ];
    for (plugin, what) in &cases {
        let started = Instant::now();
        let output = check_with_plugin(dir.path(), plugin);
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "plugin {}: is a {what}, not a regular file; a plugin is a `.wasm` component file",
                plugin.display()
            )),
            "{stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        let inspect = run(&["plugin", "inspect", plugin.to_str().unwrap()]);
        stderr_of_failure(&inspect);
        let stdout = String::from_utf8_lossy(&inspect.stdout);
        assert!(
            stdout.contains(&format!("is a {what}, not a regular file")),
            "{stdout}"
        );
    }
    // The deploy client reads the file before it connects.
    let deploy = run(&[
        "deploy",
        "words",
        fifo.to_str().unwrap(),
        "--control",
        dir.path().join("no-socket").to_str().unwrap(),
    ]);
    let stderr = stderr_of_failure(&deploy);
    assert!(
        stderr.contains(&format!(
            "cannot deploy {}: is a FIFO, not a regular file",
            fifo.display()
        )),
        "{stderr}"
    );
}

/// Runs word count over `text` with the `bad-reducer` guest in `mode`, one
/// partition, and returns the output.
/// Runs `split-key` then the `bad-expansion` value flat-mapper in `mode`
/// over `text`; the output and the directory.
fn bad_expansion(mode: &str, text: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), text).unwrap();
    let pipeline = PipelineFile::new("200ms")
        .raw("partitions = 1")
        .files_source("lines", "in", "include_existing = true")
        .stream("keyed", "lines", "map", fixtures::SPLIT_KEY, "")
        .stream(
            "words",
            "keyed",
            "flat_map_values",
            fixtures::BAD_EXPANSION,
            &format!("params = {{ mode = {mode:?} }}"),
        )
        .text_files("files", "words", "out/words", "")
        .write(dir.path().join("pipeline.toml"));
    let output = run(&["run", pipeline.to_str().unwrap(), "--max-batches", "2"]);
    (output, dir)
}

#[test]
fn a_value_flat_mapper_must_count_its_values_and_give_its_type() {
    let text = "a: x y\nb:\nc: z\n";
    let (output, dir) = bad_expansion("words", text);
    stdout_of(&output);
    let mut words = sink_lines(dir.path(), "words");
    words.sort();
    assert_eq!(words, ["('a', 'x')", "('a', 'y')", "('c', 'z')"]);
    for (mode, broken) in [
        (
            "short",
            "returned invalid output: 2 counts for 3 values; a value flat-mapper gives one count per input value",
        ),
        (
            "miscount",
            "returned invalid output: counts adding up to 4 for 3 values; they must add up to the values given",
        ),
        (
            "floats",
            "returned invalid output: the value column has the wrong layout for declared type text",
        ),
        (
            "blame",
            "the operator failed on record 1 of the partition: blamed",
        ),
    ] {
        let (output, dir) = bad_expansion(mode, text);
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("stream `words`, plugin bad_expansion (sha256 ")
                && stderr.contains(&format!("partition 0, attempt 1: {broken}")),
            "{mode}: {stderr}"
        );
        assert!(
            sink_lines(dir.path(), "words").is_empty(),
            "{mode}: nothing is delivered"
        );
    }
}

fn bad_reducer(mode: &str, text: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), text).unwrap();
    let pipeline = PipelineFile::new("200ms")
        .raw("partitions = 1")
        .files_source("lines", "in", "include_existing = true")
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream(
            "counts",
            "pairs",
            "reduce_by_key",
            fixtures::BAD_REDUCER,
            &format!("params = {{ mode = {mode:?} }}"),
        )
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .write(dir.path().join("pipeline.toml"));
    let output = run(&["run", pipeline.to_str().unwrap(), "--max-batches", "2"]);
    (output, dir)
}

#[test]
fn a_reducer_must_give_one_value_of_its_type_per_key() {
    let (output, dir) = bad_reducer("sum", "a b a c\n");
    stdout_of(&output);
    assert_eq!(
        read_counts(dir.path()),
        [("a", 2), ("b", 1), ("c", 1)]
            .map(|(w, n)| (w.to_owned(), n))
            .into()
    );
    for (mode, broken) in [
        (
            "short",
            "returned invalid output: 2 values for 3 keys; a reducer gives one value per key, in order",
        ),
        (
            "long",
            "returned invalid output: 4 values for 3 keys; a reducer gives one value per key, in order",
        ),
        (
            "floats",
            "returned invalid output: the value column has the wrong layout for declared type int64",
        ),
        // The guest blames the second value of the first group ("a", the
        // input's records 0 and 2): the error names the input's record.
        (
            "blame",
            "the operator failed on record 2 of the partition: blamed",
        ),
    ] {
        let (output, dir) = bad_reducer(mode, "a b a c\n");
        let stderr = stderr_of_failure(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("stream `counts`, plugin bad_reducer (sha256 ")
                && stderr.contains(&format!(
                    "partition 0 (before the exchange), attempt 1: {broken}"
                )),
            "{mode}: {stderr}"
        );
        assert!(
            sink_lines(dir.path(), "counts").is_empty(),
            "{mode}: nothing is delivered"
        );
    }
}

#[test]
fn bad_input_files_are_skipped_counted_and_shown_in_status_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), "one two\n").unwrap();
    // A link to a file outside the directory is read, as Spark reads it.
    std::fs::write(dir.path().join("outside.txt"), "linked\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), input.join("b.txt")).unwrap();
    // A link to itself can never be read: tried, then skipped.
    std::os::unix::fs::symlink(input.join("loop.txt"), input.join("loop.txt")).unwrap();
    // A FIFO would block a reader forever: skipped at once.
    mkfifo(&input.join("pipe.txt"));
    // A line of 200 bytes against max_line_bytes = 64: split in four.
    std::fs::write(input.join("c.txt"), format!("{}\nshort\n", "x".repeat(200))).unwrap();
    let pipeline = PipelineFile::new("100ms")
        .files_source(
            "lines",
            "in",
            "include_existing = true\nmax_line_bytes = 64",
        )
        .text_files("raw", "lines", "out/lines", "")
        .write(dir.path().join("pipeline.toml"));
    let child = sluice(&["run", pipeline.to_str().unwrap()])
        .spawn()
        .unwrap();
    // Three attempts at the looping link take three batches or more.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = run(&["status", "--pipeline", pipeline.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&status.stdout).into_owned();
        if text.contains("unreadable") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    send_signal(&child, "TERM");
    let output = wait(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        status.contains(
            "source lines: 7 lines from 3 files; 1 lines over max_line_bytes, 1 unreadable files skipped, 1 special files skipped"
        ),
        "{status}\n{stderr}"
    );
    // A text record is written as Python's repr of the string.
    let mut lines: Vec<String> = sink_lines(dir.path(), "lines")
        .iter()
        .map(|l| l.trim_matches('\'').to_owned())
        .collect();
    lines.sort();
    let x64 = "x".repeat(64);
    assert_eq!(
        lines,
        [
            "linked".to_owned(),
            "one".to_owned() + " two",
            "short".into(),
            "x".repeat(8),
            x64.clone(),
            x64.clone(),
            x64,
        ]
    );
    assert!(
        stderr.contains("not a regular file (a FIFO, device or socket, or a link to one); skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "cannot read the file; skipped (fix it and copy it in again under a new name)"
        ),
        "{stderr}"
    );
}

#[test]
fn long_lines_follow_the_policy_and_fail_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.txt"), format!("ok\n{}\n", "y".repeat(100))).unwrap();
    let run_with = |policy: &str| {
        let pipeline = PipelineFile::new("100ms")
            .files_source(
                "lines",
                "in",
                &format!("include_existing = true\nmax_line_bytes = 64\nlong_lines = {policy:?}"),
            )
            .text_files("raw", "lines", &format!("out-{policy}/lines"), "")
            .write(dir.path().join(format!("{policy}.toml")));
        run(&["run", pipeline.to_str().unwrap(), "--max-batches", "2"])
    };
    stdout_of(&run_with("skip"));
    let mut skipped = Vec::new();
    for dir in walk(&dir.path().join("out-skip")) {
        if dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        {
            skipped.extend(
                std::fs::read_to_string(dir)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    assert_eq!(skipped, ["'ok'"]);
    let failed = run_with("fail");
    let stderr = stderr_of_failure(&failed);
    assert_eq!(failed.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "source `lines`: {}, line 2: longer than 64 bytes (`max_line_bytes`); the source has `long_lines = \"fail\"` (use \"split\" or \"skip\" to go on, or raise `max_line_bytes`)",
            input.join("a.txt").display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_socket_flood_is_held_to_the_buffer_and_every_line_arrives() {
    const LINES: usize = 60_000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = PipelineFile::new("300ms")
        .table(
            "sources.net",
            &format!("kind = \"socket\"\nport = {port}\nbuffer_mib = 1\nmax_line_bytes = 1024"),
        )
        .text_files("raw", "net", "out/lines", "")
        .write(dir.path().join("pipeline.toml"));
    let server = std::thread::spawn(move || {
        let (mut connection, _) = listener.accept().unwrap();
        // 6 MB of 100-byte lines, then one line of 5 000 bytes with no end.
        let line = format!("{}\n", "z".repeat(99));
        for _ in 0..LINES {
            connection.write_all(line.as_bytes()).unwrap();
        }
        connection.write_all("w".repeat(5000).as_bytes()).unwrap();
    });
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "10"])
        .spawn()
        .unwrap();
    server.join().unwrap();
    let output = wait(child, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the buffer is full (`buffer_mib`); reading pauses until the next batch takes it, and TCP pushes back on the server"),
        "{stderr}"
    );
    let lines: Vec<String> = sink_lines(dir.path(), "lines")
        .iter()
        .map(|l| l.trim_matches('\'').to_owned())
        .collect();
    // The endless line arrives split at 1 024 bytes: 4 pieces and a rest.
    assert_eq!(lines.len(), LINES + 5, "{stderr}");
    assert_eq!(lines.iter().filter(|l| l.len() == 99).count(), LINES);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with('w'))
            .map(String::len)
            .collect::<Vec<_>>(),
        [1024, 1024, 1024, 1024, 904]
    );
}

#[test]
fn staging_left_by_a_killed_run_is_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let left = dir.path().join("out/.counts.sluice-staging-Ab12Cd");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("part-00000"), "('half', 1)\n").unwrap();
    let pipeline = wordcount_pipeline(dir.path(), "in", "", "");
    let output = run(&["run", pipeline.to_str().unwrap(), "--max-batches", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    stdout_of(&output);
    assert!(!left.exists(), "{stderr}");
    assert!(
        stderr.contains("removed staging left by an earlier run (nothing of it was committed)"),
        "{stderr}"
    );
}

#[test]
fn idle_connections_do_not_lock_the_owner_out_of_the_control_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = dir.path().join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let pipeline = PipelineFile::new("100ms")
        .table(
            "control",
            &format!("listen = \"127.0.0.1:{port}\"\ntoken_file = \"token\""),
        )
        .files_source("lines", "in", "")
        .text_files("raw", "lines", "out/lines", "")
        .write(dir.path().join("pipeline.toml"));
    let child = sluice(&["run", pipeline.to_str().unwrap()])
        .spawn()
        .unwrap();
    wait_until_running(dir.path());
    // More idle connections than both caps: nobody sends a request.
    let idle: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() >= 17);
    std::thread::sleep(Duration::from_millis(300));
    let status = run(&["status", "--pipeline", pipeline.to_str().unwrap()]);
    assert!(stdout_of(&status).contains("batches:"));
    // Past the unauthenticated cap, a connection is closed at once.
    let mut refused = idle.into_iter().last().unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = Vec::new();
    assert_eq!(refused.read_to_end(&mut buffer).unwrap_or(0), 0);
    send_signal(&child, "TERM");
    let output = wait(child, Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&output.stderr).contains(
        "control listener: 16 connections are still to show who they are; closing a new one"
    ));
}

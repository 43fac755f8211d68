//! The `socket` source against a local TCP server.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use super::common::*;
use sluice_test_fixtures as fixtures;

#[test]
fn socket_lines_are_counted_across_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"batch_interval = "200ms"
[sources.net]
kind = "socket"
host = "127.0.0.1"
port = {port}
[streams.words]
from = "net"
op = "flat_map"
plugin = {split}
[streams.pairs]
from = "words"
op = "map"
plugin = {pair}
[streams.counts]
from = "pairs"
op = "reduce_by_key"
plugin = {sum}
[sinks.files]
from = "counts"
kind = "text_files"
prefix = "out/counts"
format = "jsonl"
"#,
            split = toml_path(fixtures::SPLIT_WORDS),
            pair = toml_path(fixtures::WORD_PAIR),
            sum = toml_path(fixtures::SUM),
        ),
    )
    .unwrap();
    let server = std::thread::spawn(move || {
        // First connection: two lines, then the server hangs up.
        let (mut first, _) = listener.accept().unwrap();
        first.write_all(b"to be or\nnot to be\n").unwrap();
        drop(first);
        // The source reconnects; the last line has no newline.
        let (mut second, _) = listener.accept().unwrap();
        second.write_all(b"that is\r\nthe question").unwrap();
        drop(second);
    });
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "10"])
        .spawn()
        .unwrap();
    server.join().unwrap();
    stdout_of(&wait(child, Duration::from_secs(60)));
    assert_eq!(
        read_counts(dir.path()),
        reference_counts(["to be or not to be", "that is the question"])
    );
}

#[test]
fn max_rate_paces_reading_across_batches_and_loses_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = socket_wordcount(dir.path(), port, "500ms", "max_rate = 200");
    let server = std::thread::spawn(move || {
        // 1000 lines at once: 1 s of them may pass at once, the rest at
        // 200 a second.
        let (mut connection, _) = listener.accept().unwrap();
        connection.write_all(&b"w\n".repeat(1000)).unwrap();
    });
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "4"])
        .spawn()
        .unwrap();
    server.join().unwrap();
    stdout_of(&wait(child, Duration::from_secs(60)));
    assert_eq!(read_counts(dir.path()), [("w".to_owned(), 1000)].into());
    // Unpaced, the lines arrive within a millisecond, in one batch.
    let with_lines = sink_batches(dir.path(), "counts")
        .values()
        .filter(|lines| !lines.is_empty())
        .count();
    assert!(with_lines >= 3, "{with_lines} batches with lines");
}

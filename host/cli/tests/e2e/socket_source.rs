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

//! The `socket` source against a local TCP server.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

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

/// The bound on resident memory under overload: the socket buffer (4 MiB)
/// and the batch built from it, twice over, on top of the process's fixed
/// size with its plugins loaded (under 150 MiB here).
const OVERLOAD_RSS_BOUND: u64 = 256 << 20;

#[test]
fn an_overloaded_socket_pipeline_stays_bounded_adapts_its_rate_and_loses_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    // A slow operator (a busy loop per record) behind a socket that a
    // server floods for 60 s: far more than the pipeline can process.
    let pipeline = PipelineFile::new("200ms")
        .table(
            "sources.lines",
            &format!("kind = \"socket\"\nport = {port}\nbuffer_mib = 4\nbackpressure = true"),
        )
        .stream(
            "slow",
            "lines",
            "flat_map",
            sluice_test_fixtures::HOSTILE,
            // The first batch takes the whole 4 MiB buffer before the
            // rate adapts; on a machine busy with other tests its calls
            // may take longer than the default 30 s.
            "params = { work = \"20000\" }\nlimits = { call_time = \"10m\" }",
        )
        .host_stream("n", "slow", "count", "")
        .text_files("counts", "n", "out/counts", "")
        .write(dir.path().join("pipeline.toml"));
    let child = sluice(&["run", pipeline.to_str().unwrap(), "--stop-when-idle", "10"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut stream, _) = listener.accept().unwrap();
    let flood = Duration::from_secs(60);
    let started = Instant::now();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(rss) = proc_memory(pid, "VmRSS") {
            peak = peak.max(rss);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    });
    let chunk = "flood line\n".repeat(1000);
    let mut sent = 0u64;
    let mut status = None;
    while started.elapsed() < flood {
        if let Err(e) = stream.write_all(chunk.as_bytes()) {
            // The pipeline closed the connection: say why it stopped.
            let output = wait(child, Duration::from_secs(60));
            panic!(
                "the pipeline closed the connection mid-flood ({e}); it exited with {}:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        sent += 1000;
        if status.is_none() && started.elapsed() > Duration::from_secs(30) {
            let json = stdout_of(&run(&[
                "status",
                "--json",
                "--pipeline",
                pipeline.to_str().unwrap(),
            ]));
            status = Some(serde_json::from_str::<serde_json::Value>(&json).unwrap());
        }
    }
    drop(stream);
    let output = wait(child, Duration::from_secs(300));
    stdout_of(&output);
    let peak = sampler.join().unwrap();
    // Nothing lost: every line sent was counted once it stopped.
    let counted: i64 = sink_lines(dir.path(), "counts")
        .iter()
        .map(|line| line.parse::<i64>().unwrap())
        .sum();
    assert_eq!(counted, sent as i64);
    eprintln!("{sent} lines sent in 60 s, peak RSS {} MiB", peak >> 20);
    assert!(
        peak > 0 && peak <= OVERLOAD_RSS_BOUND,
        "peak RSS {} MiB",
        peak >> 20
    );
    // Mid-flood, the status shows the delays and the rate backpressure set.
    let status = status.unwrap();
    assert!(
        status["max_scheduling_delay_ms"].as_f64().is_some(),
        "{status:#}"
    );
    let source = &status["sources"][0];
    let rate = source["rate_limit"].as_u64().unwrap();
    eprintln!(
        "after 30 s: reading at most {rate} lines/s, scheduling delay max {} ms",
        status["max_scheduling_delay_ms"]
    );
    assert!(rate >= 100, "backpressure set no rate: {status:#}");
    assert!(
        source["held_bytes"].as_u64().unwrap() <= 5 << 20,
        "{status:#}"
    );
}

#[test]
fn socket_buffers_must_fit_in_the_pipeline_s_source_memory() {
    let stderr = check_fails(
        PipelineFile::new("1s")
            .raw("source_memory_mib = 100")
            .table("sources.a", "kind = \"socket\"\nport = 9001")
            .table(
                "sources.b",
                "kind = \"socket\"\nport = 9002\nbuffer_mib = 40",
            )
            .pprint("out_a", "a")
            .pprint("out_b", "b"),
    );
    assert!(
        stderr.contains("p.toml: the socket sources' buffer_mib add up to 104 MiB (`a` 64, `b` 40), over source_memory_mib = 100; lower buffer_mib or raise source_memory_mib"),
        "{stderr}"
    );
    let stderr = check_fails(
        PipelineFile::new("1s")
            .files_source("lines", "in", "backpressure = true")
            .pprint("out", "lines"),
    );
    assert!(
        stderr.contains("source `lines`: `backpressure` does not apply to a `files` source"),
        "{stderr}"
    );
}

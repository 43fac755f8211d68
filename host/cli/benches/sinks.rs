//! Sink plugin benchmark: writing a batch of (word, count) records to an
//! HTTP receiver on 127.0.0.1 through the `post-alerts` sink plugin, against
//! a hand-written native writer of the same documents, in the same process
//! and run.
//!
//! `cargo bench -p sluice-cli --bench sinks`.
//! Environment: `SLUICE_BENCH_SINK_RECORDS` (records per batch, default
//! 500,000), `SLUICE_BENCH_SINK_BATCHES` (batches timed, default 5),
//! `SLUICE_BENCH_SINK_LANGUAGES` (the `--op sink` scaffolds measured,
//! default `rust c zig go python`).
//!
//! The scaffolds (`sluice plugin new --op sink`, the same sink in each
//! language: every record as a JSON line, one POST per partition) are
//! measured the same way, against the same native writer.
//!
//! The batch is cut into one partition per core. Sluice: `PluginSink::write`
//! with the plugin loaded as a pipeline would (its sandbox, limits and
//! allowlist), every partition in a fresh instance, all at once; the plugin
//! formats one JSON document per partition and POSTs it with `wasi:http`.
//! The baseline formats the same document in native Rust and POSTs it over
//! a plain `TcpStream`, one thread per partition: what a sink must at
//! least do. The receiver reads every body whole and answers 200.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice::batch::{Batch, Column, ValueType};
use sluice::plugin::engine::EngineSettings;
use sluice::plugin::http_grant::{AllowedUrl, HttpAllowance};
use sluice::plugin::sink_plugin::SinkPlugin;
use sluice::plugin::{Limits, Param, PluginEngine};
use sluice::sink::Sink;
use sluice::sink::plugin::{PluginSink, SinkErrorPolicy};
use sluice::time::BatchTime;
use sluice_test_fixtures as fixtures;

fn main() {
    let records: usize = common::env_or("SLUICE_BENCH_SINK_RECORDS", 500_000);
    let batches: usize = common::env_or("SLUICE_BENCH_SINK_BATCHES", 5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-sinks");
    std::fs::create_dir_all(&work).unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let port = receiver(received.clone());
    let url = format!("http://127.0.0.1:{port}/alerts");
    let partitions = partitions(records, cores);
    println!("{records} (word, count) records per batch in {cores} partitions; {batches} batches");

    let mut sink = sluice_sink(&work, &url);
    let mut times = Vec::new();
    for b in 0..batches {
        let before = received.load(Ordering::SeqCst);
        let started = Instant::now();
        sink.write(BatchTime(b as i64 * 1000), &partitions).unwrap();
        times.push(started.elapsed());
        if b == 0 {
            let bytes = received.load(Ordering::SeqCst) - before;
            println!("  body bytes per batch: {bytes}");
        }
    }
    let sluice = median(&mut times);

    let mut times = Vec::new();
    for b in 0..batches {
        let started = Instant::now();
        native_write(port, b as i64 * 1000, &partitions);
        times.push(started.elapsed());
    }
    let native = median(&mut times);
    println!(
        "  sink plugin (post-alerts, wasi:http): median {:>7.1} ms per batch ({:.0} ns/record)",
        ms(sluice),
        sluice.as_nanos() as f64 / records as f64
    );
    println!(
        "  native Rust writer (TcpStream):       median {:>7.1} ms per batch ({:.0} ns/record)",
        ms(native),
        native.as_nanos() as f64 / records as f64
    );
    println!(
        "  sink plugin time / native time: {:.2}",
        sluice.as_secs_f64() / native.as_secs_f64()
    );

    let languages = std::env::var("SLUICE_BENCH_SINK_LANGUAGES")
        .unwrap_or_else(|_| "rust c zig go python".into());
    println!("scaffold sinks (JSON lines, one POST per partition):");
    for language in languages.split_whitespace() {
        let mut sink = scaffold_sink(&work, language, &url);
        let mut times = Vec::new();
        for b in 0..batches {
            let started = Instant::now();
            sink.write(BatchTime(b as i64 * 1000), &partitions).unwrap();
            times.push(started.elapsed());
        }
        let time = median(&mut times);
        println!(
            "  {language:<7} median {:>7.1} ms per batch ({:>4.0} ns/record), {:.2}× native",
            ms(time),
            time.as_nanos() as f64 / records as f64,
            time.as_secs_f64() / native.as_secs_f64()
        );
    }
}

/// The `--op sink` scaffold of `language`, created and built in `work`,
/// loaded as a pipeline would, POSTing to `url`.
fn scaffold_sink(work: &Path, language: &str, url: &str) -> PluginSink {
    let lang = sluice_plugin_build::Language::from_name(language).unwrap();
    let project = work.join(format!("{language}-sink"));
    if !project.exists() {
        sluice_plugin_build::scaffold::create(
            &project,
            &format!("{language}-sink"),
            lang,
            sluice_plugin_build::PluginKind::Sink,
            &sluice_plugin_build::scaffold::default_rust_sdk(),
        )
        .unwrap();
    }
    let component = sluice_plugin_build::build(&project).unwrap().component;
    let engine = Arc::new(
        PluginEngine::new(&EngineSettings {
            cache_dir: Some(work.join("cache")),
            ..EngineSettings::default()
        })
        .unwrap(),
    );
    let plugin = SinkPlugin::load(
        &engine,
        &component,
        vec![Param {
            name: "url".into(),
            value: url.into(),
        }],
        Limits {
            call_time: Duration::from_secs(120),
            ..Limits::default()
        },
        HttpAllowance {
            urls: vec![AllowedUrl::parse(url).unwrap()],
            max_request_bytes: 1 << 30,
            ..HttpAllowance::default()
        },
    )
    .unwrap();
    PluginSink::new("bench", language, plugin, engine, SinkErrorPolicy::Fail)
}

/// `records` (word_i, i) records cut into `parts` partitions.
fn partitions(records: usize, parts: usize) -> Vec<Batch> {
    (0..parts)
        .map(|p| {
            let mut keys = Column::empty(ValueType::Text);
            let mut values = Column::empty(ValueType::Int64);
            for i in (p..records).step_by(parts) {
                if let Column::Varlen(v) = &mut keys {
                    v.push(format!("word{i}").as_bytes());
                }
                if let Column::Int64(v) = &mut values {
                    v.push(i as i64 + 1);
                }
            }
            Batch {
                keys: Some(keys),
                values,
            }
        })
        .collect()
}

fn sluice_sink(work: &Path, url: &str) -> PluginSink {
    let settings = EngineSettings {
        cache_dir: Some(work.join("cache")),
        ..EngineSettings::default()
    };
    let engine = Arc::new(PluginEngine::new(&settings).unwrap());
    let params = vec![
        Param {
            name: "url".into(),
            value: url.into(),
        },
        Param {
            name: "threshold".into(),
            value: "1".into(),
        },
    ];
    let allowance = HttpAllowance {
        urls: vec![AllowedUrl::parse(url).unwrap()],
        max_request_bytes: 1 << 30,
        ..HttpAllowance::default()
    };
    let limits = Limits {
        call_time: Duration::from_secs(120),
        ..Limits::default()
    };
    let plugin = SinkPlugin::load(
        &engine,
        Path::new(fixtures::POST_ALERTS),
        params,
        limits,
        allowance,
    )
    .unwrap();
    PluginSink::new("bench", "alerts", plugin, engine, SinkErrorPolicy::Fail)
}

/// What post-alerts sends, built natively, one POST per partition.
fn native_write(port: u16, batch_time_ms: i64, partitions: &[Batch]) {
    std::thread::scope(|scope| {
        for (p, batch) in partitions.iter().enumerate() {
            scope.spawn(move || {
                let (Some(Column::Varlen(keys)), Column::Int64(counts)) =
                    (&batch.keys, &batch.values)
                else {
                    unreachable!()
                };
                let mut body = format!(
                    "{{\"pipeline\":\"bench\",\"sink\":\"alerts\",\"batch_time_ms\":{batch_time_ms},\"partition\":{p},\"attempt\":1,\"alerts\":["
                );
                for (i, count) in counts.iter().enumerate() {
                    if i > 0 {
                        body.push(',');
                    }
                    let word = std::str::from_utf8(keys.get(i)).unwrap();
                    let _ = std::fmt::Write::write_fmt(
                        &mut body,
                        format_args!("{{\"word\":\"{word}\",\"count\":{count}}}"),
                    );
                }
                body.push_str("]}");
                post(port, body.as_bytes());
            });
        }
    });
}

fn post(port: u16, body: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /alerts HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A receiver on an ephemeral port: reads each request's body whole,
/// counts its bytes and answers 200, one thread per connection.
fn receiver(received: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let received = received.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                received.fetch_add(length as u64, Ordering::SeqCst);
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            });
        }
    });
    port
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

//! Cost of the web UI and the metrics: the README's word count (split-words
//! → word-pair → reduce_by_key(sum) → text_files) run by the real `sluice`
//! binary over the same backlog, one file per batch, once with `ui = false`
//! (no metrics, no batch history, no call costs kept) and once with the UI
//! on while a client asks `/metrics`, `/api/overview` and `/api/batches`
//! every 200 ms — five times what a Prometheus server scraping every second
//! and an open browser tab ask. Two more runs show what keeping batches for
//! `sluice replay` costs: none kept (`keep_batches = 0`), and every batch
//! kept (`keep_batch_mib = 64`; the default 1 MiB keeps none of these 2 MB
//! batches).
//!
//! `cargo bench -p sluice-cli --bench observability`.
//! Environment: `SLUICE_BENCH_UI_MB` (corpus size, default 40, in files of
//! 2 MB), `SLUICE_BENCH_ROUNDS` (alternating rounds per variant, default 3).
//!
//! What is compared is the batches' processing time, summed over the run
//! (each batch's `processing` from the scheduler's `batch done` debug
//! line), so batch-interval waits do not count; the best round of each is
//! reported, with their ratio. Every run's counts are checked against the
//! generator's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sluice_test_fixtures::{self as fixtures, PipelineFile};

/// How often the client asks the UI.
const POLL: Duration = Duration::from_millis(200);

fn main() {
    let mb: u32 = common::env_or("SLUICE_BENCH_UI_MB", 40);
    let rounds: u32 = common::env_or("SLUICE_BENCH_ROUNDS", 3);
    let files = (mb / 2).max(1);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-observability");
    let corpus = fixtures::corpus(
        &work.join(format!("corpus-{mb}")),
        files,
        f64::from(mb) / f64::from(files),
        7,
    );
    println!("{mb} MB in {files} files, one file per batch; best of {rounds} rounds each");
    let mut bare = Duration::MAX;
    let mut off = Duration::MAX;
    let mut on = Duration::MAX;
    let mut all = Duration::MAX;
    let mut requests = 0;
    for round in 0..rounds {
        bare = bare.min(run(&work, &corpus, round, Variant::Bare).0);
        off = off.min(run(&work, &corpus, round, Variant::NoUi).0);
        let (time, asked) = run(&work, &corpus, round, Variant::Ui);
        on = on.min(time);
        requests += asked;
        all = all.min(run(&work, &corpus, round, Variant::KeepAll).0);
    }
    for (name, time) in [
        ("ui = false, keep_batches = 0", bare),
        ("ui = false (keep_batches = 3, the default)", off),
        ("ui on, polled every 200 ms", on),
        ("ui = false, every batch kept (64 MiB)", all),
    ] {
        println!(
            "{name:<44} {:>9.3} s of batch processing",
            time.as_secs_f64()
        );
    }
    let change = |a: Duration, b: Duration| (b.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0;
    println!(
        "UI and metrics: {:+.1} % processing time ({requests} requests answered); keeping batches for replay: {:+.1} % by default, {:+.1} % keeping every batch",
        change(off, on),
        change(bare, off),
        change(bare, all)
    );
}

/// What a run turns on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    /// No UI, no batches kept for replay.
    Bare,
    /// No UI; the default `keep_batches`.
    NoUi,
    /// No UI; every batch kept for replay (`keep_batch_mib = 64`).
    KeepAll,
    /// The UI, polled.
    Ui,
}

/// One run over the corpus; its summed processing time, and how many UI
/// requests were answered.
fn run(work: &Path, corpus: &fixtures::Corpus, round: u32, variant: Variant) -> (Duration, u64) {
    let ui = variant == Variant::Ui;
    let dir = work.join(format!("run-{round}-{variant:?}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    for file in &corpus.files {
        std::fs::copy(file, dir.join("in").join(file.file_name().unwrap())).unwrap();
    }
    let setting = match variant {
        Variant::Bare => "ui = false\nkeep_batches = 0",
        Variant::NoUi => "ui = false",
        Variant::KeepAll => "ui = false\nkeep_batch_mib = 64",
        Variant::Ui => "ui = \"127.0.0.1:0\"",
    };
    let pipeline = PipelineFile::new("100ms")
        .raw(setting)
        .files_source(
            "lines",
            "in",
            "include_existing = true\nmax_files_per_batch = 1",
        )
        .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
        .stream("pairs", "words", "map", fixtures::WORD_PAIR, "")
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
        .write(dir.join("p.toml"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", pipeline.to_str().unwrap(), "--stop-when-idle", "3"])
        .args(["--log", "sluice::scheduler=debug,sluice::ui=info,warn"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicU64::new(0));
    let mut poller = None;
    let mut processing = Duration::ZERO;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(url) = field(&line, "url=") {
            let address = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned();
            let (stop, asked) = (stop.clone(), asked.clone());
            poller = Some(std::thread::spawn(move || poll(&address, &stop, &asked)));
        }
        if line.contains("batch done")
            && let Some(taken) = field(&line, "processing=")
        {
            processing += parse_debug_duration(taken);
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "sluice failed: {status:?}");
    stop.store(true, Ordering::Relaxed);
    if let Some(poller) = poller {
        poller.join().unwrap();
    }
    assert!(
        !ui || asked.load(Ordering::Relaxed) > 0,
        "the UI was never asked"
    );
    assert_eq!(
        common::jsonl_counts(&dir, "counts"),
        corpus.counts,
        "miscounted"
    );
    (processing, asked.load(Ordering::Relaxed))
}

/// The value of `key` in a log line (up to the next space).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    Some(line[start..].split(' ').next().unwrap_or_default())
}

/// A `Duration`'s `Debug` text: `85.2ms`, `1.5s`, `950µs`, `12ns`.
fn parse_debug_duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap();
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        other => panic!("unknown duration unit {other:?} in {text:?}"),
    };
    Duration::from_secs_f64(seconds)
}

/// Asks the UI what Prometheus and a browser would, every [`POLL`].
fn poll(address: &str, stop: &AtomicBool, asked: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        for path in ["/metrics", "/api/overview", "/api/batches?page=0&size=25"] {
            if get(address, path) {
                asked.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(POLL);
    }
}

/// An HTTP/1.0 GET; whether it was answered with 200.
fn get(address: &str, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").is_err() {
        return false;
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).is_ok()
        && String::from_utf8_lossy(&response).split(' ').nth(1) == Some("200")
}

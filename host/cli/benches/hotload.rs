//! Hot-load benchmark: the time from `sluice deploy` to the first batch on
//! the new version, in a running pipeline, measured by the client.
//!
//! `cargo bench -p sluice-cli --bench hotload`. Environment:
//! `SLUICE_BENCH_DEPLOYS` (deploys per case, default 20).
//!
//! A pipeline (files source, one `map` stream, a `text_files` sink) runs in
//! this process; a client thread deploys the `tag-b` and `tag-a` test
//! guests alternately through the control socket, each time waiting for
//! the first batch on the new version, as `sluice deploy` does. Reported
//! per case: the client's time from sending the request to the reply, the
//! compile-and-check part, and the wait for the batch boundary. Cases: a
//! 100 ms and a 1 s batch interval with compiled plugins cached, and a
//! 100 ms interval with the cache off (every deploy compiles). The largest
//! scheduling delay of the run shows whether deploys held batches up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use sluice::control::client::{self, Endpoint};
use sluice::control::protocol::{Reply, Request};
use sluice::pipeline::{self, PipelineOptions};
use sluice::scheduler::{Shutdown, StopConditions};
use sluice_test_fixtures::{self as fixtures, PipelineFile};

fn main() {
    let deploys: usize = std::env::var("SLUICE_BENCH_DEPLOYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let work = tempfile::tempdir().unwrap();
    println!(
        "deploy -> first batch on the new version ({deploys} deploys per case, client-side times)"
    );
    for (name, interval, cache) in [
        ("100 ms interval, cached", 100, true),
        ("1 s interval, cached", 1000, true),
        ("100 ms interval, no cache", 100, false),
    ] {
        let dir = work.path().join(name.replace([' ', ','], "-"));
        measure(&dir, name, Duration::from_millis(interval), cache, deploys);
    }
}

fn measure(dir: &Path, name: &str, interval: Duration, cache: bool, deploys: usize) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let pipeline = PipelineFile::new(&format!("{}ms", interval.as_millis()))
        .files_source("lines", "in", "")
        .stream("tagged", "lines", "map", fixtures::TAG_A, "")
        .text_files("out", "tagged", "out/tagged", "")
        .write(dir.join("pipeline.toml"));
    let options = PipelineOptions {
        cache_dir: Some(dir.join("cache")),
        no_cache: !cache,
        ..PipelineOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(tokio::sync::watch::Sender::new(Shutdown::Running));
    let run_path = pipeline.clone();
    let stopped = stop.clone();
    let run = runtime.spawn(async move {
        pipeline::run(&run_path, &options, StopConditions::default(), stopped).await
    });
    let endpoint = Endpoint::of_pipeline(&pipeline).unwrap();
    let started = Instant::now();
    while client::send(&endpoint, Request::Status, &[]).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pipeline did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let plugins = [
        std::fs::read(fixtures::TAG_B).unwrap(),
        std::fs::read(fixtures::TAG_A).unwrap(),
    ];
    let (mut total, mut check, mut boundary) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..deploys {
        let bytes = &plugins[i % 2];
        let request = Request::Deploy {
            stream: "tagged".into(),
            file_name: if i % 2 == 0 {
                "tag_b.wasm"
            } else {
                "tag_a.wasm"
            }
            .into(),
            size: bytes.len() as u64,
            shadow: false,
            wait: true,
        };
        let sent = Instant::now();
        let reply = client::send(&endpoint, request, bytes).unwrap();
        let elapsed = sent.elapsed();
        let Reply::Changed(change) = reply else {
            panic!("unexpected reply")
        };
        let first = change.first_batch.unwrap();
        total.push(elapsed.as_secs_f64() * 1000.0);
        check.push(change.check_ms.unwrap());
        boundary.push(first.after_ms - first.processing_ms);
        // Land the next deploy at an evenly spread point of the interval
        // (the golden ratio's fractional parts).
        let fraction = (i as f64 * 0.618_034).fract();
        std::thread::sleep(interval.mul_f64(fraction));
    }
    Shutdown::Now.request(&stop);
    let summary = runtime.block_on(run).unwrap().unwrap();
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "median {:>7.1} ms, max {:>7.1} ms",
            v[v.len() / 2],
            v[v.len() - 1]
        )
    };
    println!("  {name}:");
    println!(
        "    deploy -> reply after first batch: {}",
        stats(&mut total)
    );
    println!(
        "    compile and check:                 {}",
        stats(&mut check)
    );
    println!(
        "    wait for the batch boundary:       {}",
        stats(&mut boundary)
    );
    println!(
        "    largest scheduling delay of the run: {:.1} ms over {} batches",
        summary.max_scheduling_delay.as_secs_f64() * 1000.0,
        summary.batches
    );
}

//! Kafka benchmark: the fused word count (`split-pairs` → `reduce_by_key(sum)`)
//! from a 6-partition topic to a Kafka topic, beside the same word count from
//! files to `text_files` over the same lines, with the real `sluice` binary.
//!
//! `cargo bench -p sluice-cli --bench kafka`.
//! Environment: `SLUICE_BENCH_KAFKA_MB` (corpus size, default 20),
//! `SLUICE_BENCH_KAFKA_ROUNDS` (runs of each, default 3; the best is kept).
//!
//! The brokers are librdkafka's mock cluster (3 brokers in this process, on
//! 127.0.0.1): real protocol, no disk, so the figures bound what the source
//! and sink cost, not what a real cluster gives. Each run is a whole
//! `sluice run` (start, batches of 200 ms, one idle batch, stop): both rows
//! pay the same start and idle batch. The counts are checked against the
//! corpus's exact counts after every run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_test_fixtures::{self as fixtures, PipelineFile};

const PARTITIONS: i32 = 6;

fn main() {
    let mb: u32 = common::env_or("SLUICE_BENCH_KAFKA_MB", 20);
    let rounds: usize = common::env_or("SLUICE_BENCH_KAFKA_ROUNDS", 3);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-kafka");
    let files = mb.div_ceil(10);
    let corpus = fixtures::corpus(
        &work.join(format!("corpus-{mb}")),
        files,
        f64::from(mb) / f64::from(files),
        42,
    );
    let lines: Vec<String> = corpus
        .files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let bytes: usize = corpus
        .files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len() as usize)
        .sum();
    println!(
        "{} lines, {:.1} MB; {PARTITIONS} Kafka partitions on a 3-broker mock cluster; best of {rounds}",
        lines.len(),
        bytes as f64 / 1e6
    );

    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic("lines", PARTITIONS, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let started = Instant::now();
    produce(&bootstrap, &lines);
    let produced = started.elapsed();
    println!(
        "producing the lines (librdkafka, for reference): {:.2} s, {:.1} MB/s",
        produced.as_secs_f64(),
        bytes as f64 / 1e6 / produced.as_secs_f64()
    );

    let mut files_best = Duration::MAX;
    let mut kafka_best = Duration::MAX;
    for round in 0..rounds {
        let dir = work.join(format!("files-{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("in")).unwrap();
        for file in &corpus.files {
            std::fs::copy(file, dir.join("in").join(file.file_name().unwrap())).unwrap();
        }
        let pipeline = PipelineFile::new("200ms")
            .files_source("lines", "in", "include_existing = true")
            .stream("pairs", "lines", "flat_map", fixtures::SPLIT_PAIRS, "")
            .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
            .text_files("files", "counts", "out/counts", "format = \"jsonl\"")
            .write(dir.join("p.toml"));
        files_best = files_best.min(run(&pipeline));
        assert_eq!(
            common::jsonl_counts(&dir, "counts"),
            corpus.counts,
            "files → text_files miscounted"
        );

        let topic = format!("counts-{round}");
        cluster.create_topic(&topic, PARTITIONS, 1).unwrap();
        let dir = work.join(format!("kafka-{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pipeline = PipelineFile::new("200ms")
            .raw(&format!(
                "[sources.lines]\nkind = \"kafka\"\nbrokers = \"{bootstrap}\"\ntopics = [\"lines\"]\ngroup = \"bench-{round}\"\nstarting_offsets = \"earliest\"\nmax_records_per_partition = 10000000\n"
            ))
            .stream("pairs", "lines", "flat_map", fixtures::SPLIT_PAIRS, "")
            .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
            .raw(&format!(
                "[sinks.topic]\nfrom = \"counts\"\nkind = \"kafka\"\nbrokers = \"{bootstrap}\"\ntopic = \"{topic}\"\n"
            ))
            .write(dir.join("p.toml"));
        kafka_best = kafka_best.min(run(&pipeline));
        assert_eq!(
            topic_counts(&bootstrap, &topic),
            corpus.counts,
            "kafka → kafka miscounted"
        );
    }
    let row = |name: &str, wall: Duration| {
        println!(
            "{name:<40} {:>7.3} s {:>8.1} MB/s {:>12.0} lines/s",
            wall.as_secs_f64(),
            bytes as f64 / 1e6 / wall.as_secs_f64(),
            lines.len() as f64 / wall.as_secs_f64()
        );
    };
    row("files → word count → text_files", files_best);
    row("kafka → word count → kafka", kafka_best);
    println!(
        "kafka / files: {:.2}x the files run's time",
        kafka_best.as_secs_f64() / files_best.as_secs_f64()
    );
}

/// Writes `lines` round-robin over the partitions of `lines`.
fn produce(bootstrap: &str, lines: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    for (i, line) in lines.iter().enumerate() {
        let mut record = BaseRecord::<str, str>::to("lines")
            .payload(line)
            .partition(i as i32 % PARTITIONS);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Runs the pipeline to its first idle batch; its wall time.
fn run(pipeline: &Path) -> Duration {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", pipeline.to_str().unwrap(), "--stop-when-idle", "1"])
        .env("SLUICE_LOG", "warn")
        .output()
        .unwrap();
    let wall = started.elapsed();
    assert!(
        output.status.success(),
        "sluice failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    wall
}

fn topic_counts(bootstrap: &str, topic: &str) -> HashMap<String, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-reader")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    let mut remaining = 0i64;
    for partition in 0..PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .unwrap();
        remaining += high - low;
        list.add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut counts = HashMap::new();
    while remaining > 0 {
        let message = consumer
            .poll(Duration::from_secs(10))
            .expect("the counts topic ended early")
            .unwrap();
        let word = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let count: i64 = std::str::from_utf8(message.payload().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        *counts.entry(word).or_insert(0) += count;
        remaining -= 1;
    }
    counts
}

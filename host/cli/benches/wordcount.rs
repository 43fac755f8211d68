//! Word-count benchmark: the real engine with the real plugins, against the
//! same plan run with native Rust closures, in the same process and run.
//!
//! `cargo bench -p sluice-cli --bench wordcount`.
//! Environment: `SLUICE_BENCH_MB` (corpus size, default 200),
//! `SLUICE_BENCH_ROUNDS` (alternating rounds per variant, default 3),
//! `SLUICE_BENCH_PARTITION_MIB` (`target_partition_mib`, default the
//! pipeline default), `SLUICE_BENCH_LANGUAGES` (default all),
//! `SLUICE_BENCH_SECTIONS` (default "throughput limits languages startup";
//! the throughput section always runs).
//!
//! 1. Throughput: a corpus made by `scripts/gen_corpus.py` (files of
//!    10 MB) is read into memory, then run as one backlog batch: decoded
//!    into lines and cut into partitions as the files source and the
//!    scheduler do (default `target_partition_mib`, P = cores workers),
//!    then flat_map(split-words) → map(word-pair) → reduce_by_key(sum),
//!    with the exchange into P partitions. The same [`Executor`] runs it
//!    once with the WebAssembly plugins and once with native closures (the
//!    "same plan" baseline); a hand-written pass (split on whitespace and
//!    count in a hash map per thread, one pass per file, P threads, maps
//!    merged) shows what the hardware does. Every result is checked against
//!    the generator's exact counts; the best round of each is reported,
//!    with the ratios.
//!    A second plan fuses split and pair into one plugin (`split-pairs`),
//!    against the same fusion done natively; a third counts each
//!    partition's words in the guest (`split-count`, a `#[flat_map_batch]`:
//!    Spark's `mapPartitions` with a counter) before the same
//!    `reduce_by_key(sum)`, so one record per distinct word of a partition
//!    leaves the guest — the hand-written pass's own work in a plugin.
//! 2. Cost of the limits: the three-stream plan without time and memory
//!    limits, with the default limits, and with fuel metering as well.
//! 3. Start-up: time from spawning `sluice run` (plugins cached) to its
//!    first batch printed.
//! 4. Latency: time from a 1 MB file's rename into the input directory to
//!    its counts printed, with a 1 s batch interval.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sluice::batch::{Column, RecordType};
use sluice::executor::Executor;
use sluice::operator::Operator;
use sluice::operator::StreamOperators;
use sluice::pipeline::{self, PipelineOptions};
use sluice::plan::{LinePolicy, Plan};
use sluice::source::lines::{LineChunks, LineDecoder};
use sluice::time::BatchTime;
use sluice_test_fixtures::{self as fixtures, PipelineFile};

fn main() {
    let mb: u32 = common::env_or("SLUICE_BENCH_MB", 200);
    let rounds: u32 = common::env_or("SLUICE_BENCH_ROUNDS", 3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&work).unwrap();
    let (files, expected) = corpus(&work, mb);
    std::fs::create_dir_all(work.join("in")).unwrap();
    let batches: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let words: i64 = expected.values().sum();
    println!(
        "corpus: {} files, {:.1} MB, {} words; P = {cores}; best of {rounds} rounds",
        batches.len(),
        bytes as f64 / 1e6,
        words
    );
    for shape in [Shape::ThreeStreams, Shape::Fused, Shape::CountedInGuest] {
        let pipeline = write_pipeline(&work, "in", "pprint", shape);
        let options = PipelineOptions {
            cache_dir: Some(work.join("cache")),
            ..PipelineOptions::default()
        };
        let (engine, plan) = pipeline::load(&pipeline, &options).unwrap();
        let plan = Arc::new(plan);
        let wasm = Runner {
            executor: Executor::new(plan.clone(), cores).unwrap(),
            operators: StreamOperators::initial(&plan, &engine),
        };
        let native = Runner {
            executor: Executor::new(plan.clone(), cores).unwrap(),
            operators: StreamOperators::fixed(&plan, native_operators(shape)),
        };
        let mut best = [Duration::MAX; 3];
        for _ in 0..rounds {
            for (i, executor) in [&native, &wasm].into_iter().enumerate() {
                let (elapsed, counts) = run_all(executor, &batches);
                assert_eq!(counts, expected, "wrong counts from variant {i}");
                best[i] = best[i].min(elapsed);
            }
            let (elapsed, counts) = hand_written(&batches, cores);
            assert_eq!(counts, expected, "wrong counts from the hand-written pass");
            best[2] = best[2].min(elapsed);
        }
        let plan_name = match shape {
            Shape::ThreeStreams => "flat_map(split-words) -> map(word-pair) -> reduce_by_key(sum)",
            Shape::Fused => {
                "flat_map(split-pairs) -> reduce_by_key(sum)  [split and pair fused in one call]"
            }
            Shape::CountedInGuest => {
                "flat_map(split-count) -> reduce_by_key(sum)  [words counted per partition in the guest]"
            }
        };
        println!("plan: {plan_name}");
        let report = |name: &str, d: Duration| {
            let secs = d.as_secs_f64();
            println!(
                "  {name:>12}: {:>7.3} s  {:>7.1} MB/s  {:>6.2} M words/s",
                secs,
                bytes as f64 / 1e6 / secs,
                words as f64 / 1e6 / secs
            );
        };
        report("hand-written", best[2]);
        report("native", best[0]);
        report("sluice", best[1]);
        println!(
            "    ratio: sluice runs at {:.2}x native (same plan) and {:.2}x hand-written throughput",
            best[0].as_secs_f64() / best[1].as_secs_f64(),
            best[2].as_secs_f64() / best[1].as_secs_f64()
        );
    }

    let race = Race {
        work: &work,
        batches: &batches,
        expected: &expected,
        rounds,
        cores,
        bytes,
    };
    // SLUICE_BENCH_SECTIONS="throughput" skips the rest.
    let sections = std::env::var("SLUICE_BENCH_SECTIONS")
        .unwrap_or_else(|_| "throughput limits languages startup".into());
    if sections.contains("limits") {
        limits_cost(&race);
    }
    if sections.contains("languages") {
        languages(&race);
    }
    if sections.contains("startup") {
        startup_and_latency(&work);
    }
}

/// The cost of the limits on the three-stream plan: native, the engine
/// without time and memory limits, with the default limits, and with fuel
/// metering on top, alternating in the same rounds.
fn limits_cost(race: &Race) {
    let work = race.work;
    let plain = write_pipeline(work, "in", "pprint", Shape::ThreeStreams);
    let text = std::fs::read_to_string(&plain).unwrap();
    let fueled = PipelineFile::from(text.as_str())
        .table("limits", "fuel = 1000000000000")
        .write(work.join("pipeline-fuel.toml"));
    let default_limits = race.runner(&plain, false);
    let variants = [
        ("native", race.native(default_limits.executor.plan())),
        ("no limits", race.runner(&plain, true)),
        ("default limits", default_limits),
        ("+ fuel", race.runner(&fueled, false)),
    ];
    race.run(
        "cost of the limits (flat_map -> map -> reduce_by_key):",
        "no-limits",
        &variants,
    );
}

/// Variants run over the same batches, alternating, best of `rounds`.
struct Race<'a> {
    /// Where pipelines, plugin projects and the compile cache go.
    work: &'a Path,
    batches: &'a [Vec<u8>],
    expected: &'a HashMap<String, i64>,
    rounds: u32,
    cores: usize,
    bytes: usize,
}

impl Race<'_> {
    /// The pipeline file's plan with its plugins (without time and memory
    /// limits if `unlimited`).
    fn runner(&self, pipeline: &Path, unlimited: bool) -> Runner {
        let options = PipelineOptions {
            cache_dir: Some(self.work.join("cache")),
            unlimited_for_benchmarks: unlimited,
            ..PipelineOptions::default()
        };
        let (engine, plan) = pipeline::load(pipeline, &options).unwrap();
        let plan = Arc::new(plan);
        Runner {
            operators: StreamOperators::initial(&plan, &engine),
            executor: Executor::new(plan, self.cores).unwrap(),
        }
    }

    /// The three-stream `plan` with native closures instead of plugins.
    fn native(&self, plan: &Arc<Plan>) -> Runner {
        Runner {
            operators: StreamOperators::fixed(plan, native_operators(Shape::ThreeStreams)),
            executor: Executor::new(plan.clone(), self.cores).unwrap(),
        }
    }

    /// Runs `variants` (the first is the native baseline, the second the
    /// one named `second`) and prints each one's throughput and ratios.
    fn run<N: std::fmt::Display>(&self, title: &str, second: &str, variants: &[(N, Runner)]) {
        let mut best = vec![Duration::MAX; variants.len()];
        for _ in 0..self.rounds {
            for (i, (name, runner)) in variants.iter().enumerate() {
                let (elapsed, counts) = run_all(runner, self.batches);
                assert_eq!(&counts, self.expected, "wrong counts from {name}");
                best[i] = best[i].min(elapsed);
            }
        }
        println!("{title}");
        for (i, (name, _)) in variants.iter().enumerate() {
            let secs = best[i].as_secs_f64();
            println!(
                "  {:>18}: {secs:>7.3} s  {:>7.1} MB/s  {:.2}x native, {:.2}x {second}",
                name.to_string(),
                self.bytes as f64 / 1e6 / secs,
                best[0].as_secs_f64() / secs,
                best[1].as_secs_f64() / secs,
            );
        }
    }
}

/// The three-stream plan with the plugins of each language, built from
/// source with `sluice plugin build`, against native and Rust.
fn languages(race: &Race) {
    let work = race.work;
    let build = |language: &str, name: &str| {
        let source = Path::new(fixtures::WORKSPACE)
            .join("plugins")
            .join(language)
            .join(name);
        let project = work.join(format!("{language}-plugins")).join(name);
        std::fs::create_dir_all(&project).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, project.join(path.file_name().unwrap())).unwrap();
            }
        }
        sluice_plugin_build::build(&project).unwrap().component
    };
    let pipeline_of = |language: &str| {
        let (split, pair, sum) = (
            build(language, "split-words"),
            build(language, "word-pair"),
            build(language, "sum"),
        );
        PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream("words", "lines", "flat_map", split, "")
            .stream("pairs", "words", "map", pair, "")
            .stream("counts", "pairs", "reduce_by_key", sum, "")
            .pprint("out", "counts")
            .write(work.join(format!("pipeline-{language}.toml")))
    };
    let rust = race.runner(
        &write_pipeline(work, "in", "pprint", Shape::ThreeStreams),
        false,
    );
    let mut variants: Vec<(String, Runner)> = vec![
        ("native".into(), race.native(rust.executor.plan())),
        ("Rust plugins".into(), rust),
    ];
    // SLUICE_BENCH_LANGUAGES="c zig" measures some; the default is all.
    let languages = std::env::var("SLUICE_BENCH_LANGUAGES")
        .unwrap_or_else(|_| "c zig go javascript python".into());
    for language in languages.split_whitespace() {
        variants.push((
            format!("{language} plugins"),
            race.runner(&pipeline_of(language), false),
        ));
    }
    race.run(
        "languages (flat_map -> map -> reduce_by_key, default limits):",
        "Rust plugins",
        &variants,
    );
}

/// An executor and the operators it runs.
struct Runner {
    executor: Executor,
    operators: Vec<StreamOperators>,
}

/// Runs the corpus as one backlog batch, decoded and cut into partitions
/// as the files source and the scheduler do (default partitioning), then
/// through the plan; returns the time and the counts.
fn run_all(runner: &Runner, files: &[Vec<u8>]) -> (Duration, HashMap<String, i64>) {
    let started = Instant::now();
    let partitioning = runner.executor.plan().partitioning;
    let total = files.iter().map(Vec::len).sum();
    let mut lines = LineChunks::new(partitioning.chunk_bytes(total));
    lines.reserve(total);
    let mut decoder = LineDecoder::new(LinePolicy::default());
    for file in files {
        decoder.push_lines("corpus", file, &mut lines).unwrap();
    }
    let input = partitioning.cut(lines.finish(), RecordType::TEXT);
    let output = runner
        .executor
        .run(BatchTime(0), &[Arc::new(input)], &runner.operators)
        .unwrap();
    let elapsed = started.elapsed();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for partition in output.sinks[0].iter().flat_map(|p| p.iter()) {
        let (Some(Column::Varlen(keys)), Column::Int64(values)) =
            (&partition.keys, &partition.values)
        else {
            panic!("unexpected layout");
        };
        for (j, value) in values.iter().enumerate() {
            *counts.entry(keys.get_str(j).to_owned()).or_insert(0) += value;
        }
    }
    (elapsed, counts)
}

/// What the hardware does: one pass per file, `threads` threads taking
/// files in turn, each splitting on whitespace and counting in its own hash
/// map; the maps are merged at the end. No executor, no columns.
fn hand_written(batches: &[Vec<u8>], threads: usize) -> (Duration, HashMap<String, i64>) {
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let partials: Vec<FxHashMap<&[u8], i64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut counts: FxHashMap<&[u8], i64> = FxHashMap::default();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = batches.get(i) else { break };
                        for word in file.split(u8::is_ascii_whitespace) {
                            if !word.is_empty() {
                                *counts.entry(word).or_insert(0) += 1;
                            }
                        }
                    }
                    counts
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut merged: FxHashMap<&[u8], i64> = FxHashMap::default();
    for partial in partials {
        for (word, count) in partial {
            *merged.entry(word).or_insert(0) += count;
        }
    }
    let elapsed = started.elapsed();
    let counts = merged
        .into_iter()
        .map(|(word, count)| (String::from_utf8_lossy(word).into_owned(), count))
        .collect();
    (elapsed, counts)
}

/// The word count's plans.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// split-words, word-pair, sum.
    ThreeStreams,
    /// split-pairs (split and pair in one call), sum.
    Fused,
    /// split-count (each partition's words counted in the guest), sum.
    CountedInGuest,
}

/// The plan's operators as native closures.
fn native_operators(shape: Shape) -> Vec<Arc<dyn Operator>> {
    match shape {
        Shape::ThreeStreams => vec![
            common::native::split_words(),
            common::native::word_pair(),
            common::native::sum(),
        ],
        Shape::Fused => vec![common::native::split_pairs(), common::native::sum()],
        Shape::CountedInGuest => vec![common::native::split_count(), common::native::sum()],
    }
}

/// The corpus (cached between runs) and its exact counts.
fn corpus(work: &Path, mb: u32) -> (Vec<PathBuf>, HashMap<String, i64>) {
    let files = mb.div_ceil(10).max(1);
    let dir = work.join(format!("corpus-{files}x10MB"));
    let corpus = fixtures::corpus(&dir, files, 10.0, 42);
    (corpus.files, corpus.counts)
}

fn write_pipeline(work: &Path, input: &str, sink: &str, shape: Shape) -> PathBuf {
    // SLUICE_BENCH_PARTITION_MIB=N measures another `target_partition_mib`.
    let sizing = std::env::var("SLUICE_BENCH_PARTITION_MIB")
        .map(|mib| format!("target_partition_mib = {mib}"))
        .unwrap_or_default();
    let pipeline = PipelineFile::new("1s")
        .raw(&sizing)
        .files_source("lines", input, "");
    let pipeline = match shape {
        Shape::ThreeStreams => pipeline
            .stream("words", "lines", "flat_map", fixtures::SPLIT_WORDS, "")
            .stream("pairs", "words", "map", fixtures::WORD_PAIR, ""),
        Shape::Fused => pipeline.stream("pairs", "lines", "flat_map", fixtures::SPLIT_PAIRS, ""),
        Shape::CountedInGuest => {
            pipeline.stream("pairs", "lines", "flat_map", fixtures::SPLIT_COUNT, "")
        }
    };
    pipeline
        .stream("counts", "pairs", "reduce_by_key", fixtures::SUM, "")
        .table("sinks.out", &format!("from = \"counts\"\nkind = {sink:?}"))
        .write(work.join(format!("pipeline-{sink}-{shape:?}.toml")))
}

/// Measures start-up to first batch, and arrival-to-print latency, with
/// the real binary.
fn startup_and_latency(work: &Path) {
    let binary = env!("CARGO_BIN_EXE_sluice");
    let input = work.join("latency-in");
    let _ = std::fs::remove_dir_all(&input);
    std::fs::create_dir_all(&input).unwrap();
    let pipeline = write_pipeline(work, "latency-in", "pprint", Shape::ThreeStreams);
    let spawn = || {
        Command::new(binary)
            .args(["run", pipeline.to_str().unwrap()])
            .env("SLUICE_CACHE_DIR", work.join("cache"))
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    // Start-up: the cache is warm (the throughput run compiled the plugins).
    let mut startups = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut child = spawn();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && !line.starts_with("Time: ") {
            line.clear();
        }
        startups.push(started.elapsed());
        child.kill().unwrap();
        child.wait().unwrap();
    }
    startups.sort();
    println!(
        "start-up to first batch printed (plugins cached): median {:.0} ms, max {:.0} ms",
        startups[2].as_secs_f64() * 1e3,
        startups[4].as_secs_f64() * 1e3
    );

    // Latency: drop 1 MB files at uneven offsets within the interval.
    let mut child = spawn();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel::<(Instant, usize)>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut records = 0;
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line == "\n" {
                let _ = sender.send((Instant::now(), records));
                records = 0;
            } else if line.starts_with('(') || line == "...\n" {
                records += 1;
            }
            line.clear();
        }
    });
    let megabyte: String = (0..)
        .map(|i| format!("word{} lorem ipsum dolor sit amet\n", i % 5000))
        .take_while({
            let mut size = 0;
            move |l: &String| {
                size += l.len();
                size <= 1_000_000
            }
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let mut latencies = Vec::new();
    for i in 0..6u64 {
        while receiver.try_recv().is_ok() {}
        std::thread::sleep(Duration::from_millis(137 * i % 1000));
        let hidden = input.join(format!(".f{i}"));
        std::fs::write(&hidden, &megabyte).unwrap();
        let dropped = Instant::now();
        std::fs::rename(&hidden, input.join(format!("f{i}.txt"))).unwrap();
        loop {
            let (at, records) = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
            if records > 0 {
                latencies.push(at - dropped);
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    latencies.sort();
    println!(
        "1 MB file arrival to counts printed (interval 1 s): min {:.0} ms, median {:.0} ms, max {:.0} ms (bound: 1050 ms)",
        latencies[0].as_secs_f64() * 1e3,
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
}

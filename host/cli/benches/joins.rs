//! Join benchmark: the host's `join`, `full_outer_join` and `cogroup` of
//! two keyed streams of a million keys each, against a hand-written hash
//! join of the same records, in the same process and run.
//!
//! `cargo bench -p sluice-cli --bench joins`.
//! Environment: `SLUICE_BENCH_JOIN_KEYS` (distinct keys per side, default
//! 1,000,000), `SLUICE_BENCH_JOIN_BATCHES` (batches timed, default 5).
//!
//! Plan: two sources, each flat_map(split-pairs) → reduce_by_key(sum),
//! then the join of the two counts. Side A holds keys 0..n, side B keys
//! n/2..3n/2, each once, so half the keys match. The word count's operators
//! run as native closures (the join is the host's own, with no plugin). The
//! whole plan is timed, and the join alone on the counts the plan without
//! it gave (exchange of both sides included). The baseline builds a hash
//! map of B's counts and probes it with A's, writing each match's key and
//! its `[v,w]` pair into one column, one thread: what a join must at least
//! do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sluice::batch::{Batch, Column, Varlen};
use sluice::combine::{JoinSite, join};
use sluice::config::StreamOp;
use sluice::executor::Executor;
use sluice::operator::{Operator, StreamOperators};
use sluice::pipeline::{self, PipelineOptions};
use sluice::plan::Plan;
use sluice::time::BatchTime;
use sluice_test_fixtures::{self as fixtures, PipelineFile};

fn main() {
    let keys: usize = common::env_or("SLUICE_BENCH_JOIN_KEYS", 1_000_000);
    let batches: usize = common::env_or("SLUICE_BENCH_JOIN_BATCHES", 5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-joins");
    std::fs::create_dir_all(&work).unwrap();
    let left = Arc::new(words(0, keys, cores));
    let right = Arc::new(words(keys / 2, keys, cores));
    println!(
        "{keys} keys per side, {} matching; {batches} batches each; P = {cores}",
        keys / 2
    );
    let inputs = [left.clone(), right.clone()];
    let (counts_median, _, counts, _) = time_plan(&work, None, &inputs, batches, cores);
    println!(
        "  two counts alone: median {:>7.1} ms per batch",
        ms(counts_median)
    );
    for op in ["join", "full_outer_join", "cogroup"] {
        let (whole, records, _, plan) = time_plan(&work, Some(op), &inputs, batches, cores);
        let expected = match op {
            "join" => keys / 2,
            _ => keys + keys / 2,
        };
        assert_eq!(records, expected, "{op}: records");
        // The join alone, on the counts the plan without it gave.
        let spec = plan.streams.iter().find(|s| s.name == "joined").unwrap();
        let types = (
            plan.node_type(spec.inputs[0]),
            plan.node_type(spec.inputs[1]),
        );
        let site = JoinSite {
            pipeline: &plan.name,
            batch_time: BatchTime(1000),
        };
        let mut times = Vec::new();
        for _ in 0..batches {
            let started = Instant::now();
            // On rayon's global pool: a thread per core.
            let joined = join(spec, (&counts[0], &counts[1]), types, &site).unwrap();
            times.push(started.elapsed());
            assert_eq!(joined.iter().map(Batch::len).sum::<usize>(), expected);
        }
        let alone = median(times);
        println!(
            "  {op:<16}: median {:>7.1} ms per batch with the counts; the {op} alone {:>7.1} ms for {records} records ({:.0} ns per record)",
            ms(whole),
            ms(alone),
            alone.as_secs_f64() * 1e9 / records as f64
        );
    }
    let (counts_a, counts_b) = (count(&left), count(&right));
    let mut times = Vec::new();
    for _ in 0..batches {
        let started = Instant::now();
        let joined = hash_join(&counts_a, &counts_b);
        times.push(started.elapsed());
        assert_eq!(joined.len(), keys / 2);
    }
    println!(
        "  hand-written hash join (1 thread): median {:>7.1} ms for {} records",
        ms(median(times)),
        keys / 2
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// The median time per batch of the two counts, then `op` of them if
/// given; the records of the last batch's first sink; the last batch's
/// output of each sink; and the plan.
fn time_plan(
    work: &std::path::Path,
    op: Option<&str>,
    inputs: &[Arc<Vec<Batch>>],
    batches: usize,
    cores: usize,
) -> (Duration, usize, Vec<Arc<Vec<Batch>>>, Arc<Plan>) {
    let mut file = PipelineFile::new("1s")
        .files_source("a", "a", "")
        .files_source("b", "b", "")
        .stream("pairs_a", "a", "flat_map", fixtures::SPLIT_PAIRS, "")
        .stream("counts_a", "pairs_a", "reduce_by_key", fixtures::SUM, "")
        .stream("pairs_b", "b", "flat_map", fixtures::SPLIT_PAIRS, "")
        .stream("counts_b", "pairs_b", "reduce_by_key", fixtures::SUM, "");
    file = match op {
        Some(op) => file
            .combined("joined", &["counts_a", "counts_b"], op, "")
            .pprint("out", "joined"),
        None => file.pprint("out_a", "counts_a").pprint("out_b", "counts_b"),
    };
    let path = file.write(work.join(format!("{}.toml", op.unwrap_or("counts"))));
    let options = PipelineOptions {
        cache_dir: Some(work.join("cache")),
        ..PipelineOptions::default()
    };
    let (_engine, plan) = pipeline::load(&path, &options).unwrap();
    let plan = Arc::new(plan);
    let native: Vec<Arc<dyn Operator>> = plan
        .streams
        .iter()
        .map(|s| match s.op {
            StreamOp::ReduceByKey => common::native::sum(),
            // The join runs no operator.
            _ => common::native::split_pairs(),
        })
        .collect();
    let operators = StreamOperators::fixed(&plan, native);
    let executor = Executor::new(plan.clone(), cores).unwrap();
    let mut times = Vec::new();
    let mut sinks = Vec::new();
    for b in 0..batches {
        let started = Instant::now();
        let output = executor
            .run(BatchTime((b as i64 + 1) * 1000), inputs, &operators)
            .unwrap();
        times.push(started.elapsed());
        sinks = output.sinks.into_iter().flatten().collect();
    }
    let records = sinks.first().map_or(0, |p| p.iter().map(Batch::len).sum());
    (median(times), records, sinks, plan)
}

/// Keys `from..from + n`, each once, as 10-word lines cut into `partitions`.
fn words(from: usize, n: usize, partitions: usize) -> Vec<Batch> {
    let mut lines = Varlen::with_capacity(n / 10 + 1, n * 9);
    let mut line = String::new();
    for (i, key) in (from..from + n).enumerate() {
        if i > 0 && i % 10 == 0 {
            lines.push(line.as_bytes());
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&format!("k{key:07}"));
    }
    lines.push(line.as_bytes());
    Batch {
        keys: None,
        values: Column::Varlen(lines),
    }
    .split(partitions)
}

/// Each word of `input` with its count.
fn count(input: &[Batch]) -> Vec<(String, i64)> {
    let mut counts: FxHashMap<String, i64> = FxHashMap::default();
    for batch in input {
        let Column::Varlen(lines) = &batch.values else {
            unreachable!()
        };
        for i in 0..lines.len() {
            for word in lines.get_str(i).split_whitespace() {
                *counts.entry(word.to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts.into_iter().collect()
}

/// The join of `a` and `b`: a hash map of `b`, probed with `a`, each match
/// written as its key and `[v,w]`.
fn hash_join(a: &[(String, i64)], b: &[(String, i64)]) -> Batch {
    let index: FxHashMap<&str, i64> = b.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut keys = Varlen::with_capacity(a.len() / 2, a.len() * 4);
    let mut values = Varlen::with_capacity(a.len() / 2, a.len() * 3);
    let mut text = String::new();
    for (key, v) in a {
        if let Some(w) = index.get(key.as_str()) {
            use std::fmt::Write as _;
            text.clear();
            let _ = write!(text, "[{v},{w}]");
            keys.push(key.as_bytes());
            values.push(text.as_bytes());
        }
    }
    Batch {
        keys: Some(Column::Varlen(keys)),
        values: Column::Varlen(values),
    }
}

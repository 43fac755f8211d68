//! Window and state benchmark: `reduce_by_key_and_window` and
//! `update_state_by_key` over a million distinct keys, with the real `sum`
//! and `running-sum` plugins and with the same plans run by native
//! closures, in the same process and run.
//!
//! `cargo bench -p sluice-cli --bench windows`.
//! Environment: `SLUICE_BENCH_WINDOW_BATCHES` (batches run, default 70),
//! `SLUICE_BENCH_WINDOW_RECORDS` (records per batch, default 200,000).
//!
//! Plan: flat_map(split-pairs) → reduce_by_key_and_window(sum), a 60 s
//! window sliding every 1 s batch. Batch b holds `records` words drawn
//! from 1,000,000 keys (a stride walk, so every key comes back every five
//! batches), as 10-word lines. The executor runs the batches directly at
//! batch times 1 s apart; reported per variant: the median and worst
//! processing time of the batches once the window is full, against a plain
//! `reduce_by_key` of the same batches, and the window's memory per key
//! held. The last window's counts are checked against a count made here.
//!
//! The state plans keep a state for each of the million keys:
//! update_state_by_key(running-sum), every key's running count since the
//! start (Spark's stateful word count), passes all the keys with a state
//! through the plugin every batch; map_with_state(sessions) passes only the
//! batch's keys (a fifth of them) and gives one JSON record per value.
//! Reported once every key has a state (after five batches), with the
//! state's bytes per key; the last totals (or record count) are checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// Shared with the word-count benchmark, which uses all of it.
#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::batch::{Batch, Column, Varlen};
use sluice::executor::Executor;
use sluice::operator::{Operator, StreamOperators};
use sluice::pipeline::{self, PipelineOptions};
use sluice::time::BatchTime;
use sluice_test_fixtures::{self as fixtures, PipelineFile};

const KEYS: u64 = 1_000_000;
const WINDOW_BATCHES: usize = 60;

fn main() {
    let batches: usize = common::env_or("SLUICE_BENCH_WINDOW_BATCHES", 70);
    let records: usize = common::env_or("SLUICE_BENCH_WINDOW_RECORDS", 200_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-windows");
    std::fs::create_dir_all(&work).unwrap();
    let inputs: Vec<Vec<Batch>> = (0..batches).map(|b| input(b, records, cores)).collect();
    println!(
        "{batches} batches of {records} records over {KEYS} keys; window {WINDOW_BATCHES} batches, slide 1; P = {cores}"
    );
    let inverse = format!(
        "window_duration = \"60s\"\nmax_state_mib = 16384\ninverse_plugin = {}\ndrop_when = 0",
        sluice_test_fixtures::toml_path(fixtures::SUBTRACT)
    );
    let plans: [(&str, &str, &str, usize); 5] = [
        ("reduce_by_key", "", fixtures::SUM, 1),
        (
            "reduce_by_key_and_window",
            "window_duration = \"60s\"\nmax_state_mib = 16384",
            fixtures::SUM,
            WINDOW_BATCHES,
        ),
        (
            "reduce_by_key_and_window",
            &inverse,
            fixtures::SUM,
            WINDOW_BATCHES,
        ),
        (
            "update_state_by_key",
            "max_state_mib = 16384",
            fixtures::RUNNING_SUM,
            batches,
        ),
        (
            "map_with_state",
            "max_state_mib = 16384",
            fixtures::SESSIONS,
            batches,
        ),
    ];
    for (op, keys, plugin, covered) in plans {
        let path = PipelineFile::new("1s")
            .files_source("lines", "in", "")
            .stream("pairs", "lines", "flat_map", fixtures::SPLIT_PAIRS, "")
            .stream("counts", "pairs", op, plugin, keys)
            .pprint("out", "counts")
            .write(work.join(format!("{op}-{}.toml", keys.len())));
        let options = PipelineOptions {
            cache_dir: Some(work.join("cache")),
            ..PipelineOptions::default()
        };
        let (engine, plan) = pipeline::load(&path, &options).unwrap();
        let plan = Arc::new(plan);
        let plugin_name = std::path::Path::new(plugin)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('_', "-");
        let with_inverse = if keys.contains("inverse_plugin") {
            " with inverse_plugin = subtract"
        } else {
            ""
        };
        println!("plan: flat_map(split-pairs) -> {op}({plugin_name}){with_inverse}");
        let native = match op {
            "update_state_by_key" => vec![common::native::split_pairs(), native_running_sum()],
            "map_with_state" => vec![common::native::split_pairs(), native_sessions()],
            _ => native_operators(),
        };
        let native = StreamOperators::with_inverse(
            StreamOperators::fixed(&plan, native),
            &plan,
            native_subtract(),
        );
        for (name, operators) in [
            ("native", native),
            ("sluice", StreamOperators::initial(&plan, &engine)),
        ] {
            let executor = Executor::new(plan.clone(), cores).unwrap();
            let mut times = Vec::new();
            let mut last = Vec::new();
            for (b, input) in inputs.iter().enumerate() {
                let started = Instant::now();
                let output = executor
                    .run(
                        BatchTime((b as i64 + 1) * 1000),
                        &[Arc::new(input.clone())],
                        &operators,
                    )
                    .unwrap();
                times.push(started.elapsed());
                last = output.sinks[0].as_deref().cloned().unwrap_or_default();
            }
            // Once the window is full, or every key has a state.
            let warm_up = match op {
                "reduce_by_key_and_window" => WINDOW_BATCHES,
                "update_state_by_key" | "map_with_state" => (KEYS as usize).div_ceil(records),
                _ => 0,
            };
            let steady: Vec<Duration> = times.iter().skip(warm_up).copied().collect();
            if op == "map_with_state" {
                // One mapped record per value of the last batch.
                assert_eq!(
                    last.iter().map(Batch::len).sum::<usize>(),
                    records,
                    "{name}"
                );
            } else {
                assert_eq!(
                    counts(&last),
                    expected(batches, records, covered),
                    "{name}: wrong counts"
                );
            }
            let mut sorted = steady.clone();
            sorted.sort();
            let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
            let worst = sorted.last().copied().unwrap_or_default();
            let state = executor
                .window_sizes()
                .first()
                .map(|(_, size)| {
                    format!(
                        "; window: {} batches, {} records, {:.1} MiB = {:.1} bytes per key per batch, {:.1} bytes per distinct key",
                        size.batches,
                        size.records,
                        size.bytes as f64 / f64::from(1 << 20),
                        size.bytes as f64 / size.records.max(1) as f64,
                        // The stride walk visits distinct keys in turn.
                        size.bytes as f64 / (records * WINDOW_BATCHES).min(KEYS as usize) as f64
                    )
                })
                .unwrap_or_default();
            let state = executor
                .state_sizes()
                .first()
                .map(|(_, size)| {
                    format!(
                        "; state: {} keys, {:.1} MiB = {:.1} bytes per key",
                        size.keys,
                        size.bytes as f64 / f64::from(1 << 20),
                        size.bytes as f64 / size.keys.max(1) as f64,
                    )
                })
                .unwrap_or(state);
            println!(
                "  {name:>6}: median {:>8.1} ms, worst {:>8.1} ms per batch over {} batches{state}",
                median.as_secs_f64() * 1e3,
                worst.as_secs_f64() * 1e3,
                steady.len()
            );
        }
    }
}

/// The key of record `i` of batch `b`: a stride walk over the key space.
fn key(b: usize, records: usize, i: usize) -> u64 {
    ((b * records + i) as u64 * 7919) % KEYS
}

/// Batch `b`: `records` words as 10-word lines, cut into `partitions`.
fn input(b: usize, records: usize, partitions: usize) -> Vec<Batch> {
    let mut lines = Varlen::with_capacity(records / 10 + 1, records * 8);
    let mut line = String::new();
    for i in 0..records {
        if i > 0 && i % 10 == 0 {
            lines.push(line.as_bytes());
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&format!("k{:07}", key(b, records, i)));
    }
    if !line.is_empty() {
        lines.push(line.as_bytes());
    }
    Batch {
        keys: None,
        values: Column::Varlen(lines),
    }
    .split(partitions)
}

/// The counts of the last `covered` of `batches` batches.
fn expected(batches: usize, records: usize, covered: usize) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for b in batches.saturating_sub(covered)..batches {
        for i in 0..records {
            *counts
                .entry(format!("k{:07}", key(b, records, i)))
                .or_insert(0) += 1;
        }
    }
    counts
}

fn counts(partitions: &[Batch]) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for partition in partitions {
        let (Some(Column::Varlen(keys)), Column::Int64(values)) =
            (&partition.keys, &partition.values)
        else {
            panic!("unexpected layout");
        };
        for (j, value) in values.iter().enumerate() {
            *counts.entry(keys.get_str(j).to_owned()).or_insert(0) += value;
        }
    }
    counts
}

/// subtract as a native inverse reducer.
fn native_subtract() -> Arc<dyn Operator> {
    Arc::new(sluice::operator::NativeInverse(
        |totals: &Column, leaving: &Column| {
            let (Column::Int64(totals), Column::Int64(leaving)) = (totals, leaving) else {
                panic!("int64 totals and leaving values");
            };
            Column::Int64(
                totals
                    .iter()
                    .zip(leaving)
                    .map(|(t, l)| t.wrapping_sub(*l))
                    .collect(),
            )
        },
    ))
}

/// sessions as a native state mapper: per value, the events of its key's
/// session so far, as JSON.
fn native_sessions() -> Arc<dyn Operator> {
    use sluice::plugin::{MappingBatch, StateMapping, StateUpdate};
    Arc::new(sluice::operator::NativeStateMapper(
        |input: &MappingBatch| {
            let batch = &input.state;
            let Column::Int64(states) = &batch.states else {
                panic!("int64 states");
            };
            let mut keys = Varlen::with_capacity(batch.values.len(), 0);
            let mut json = Varlen::with_capacity(batch.values.len(), 0);
            let mut totals = Vec::with_capacity(batch.len());
            let Column::Varlen(key_column) = &batch.keys else {
                panic!("text keys");
            };
            for (i, &state) in states.iter().enumerate() {
                let mut events = state;
                for _ in batch.groups[i]..batch.groups[i + 1] {
                    events += 1;
                    keys.push(key_column.get(i));
                    json.push(format!("{{\"events\": {events}, \"closed\": false}}").as_bytes());
                }
                totals.push(events);
            }
            StateMapping {
                update: StateUpdate {
                    states: Column::Int64(totals),
                    keep: vec![true; batch.len()].into(),
                },
                mapped: Batch {
                    keys: Some(Column::Varlen(keys)),
                    values: Column::Varlen(json),
                },
            }
        },
    ))
}

/// running-sum as a native state updater: each key's total plus its new
/// values.
fn native_running_sum() -> Arc<dyn Operator> {
    use sluice::plugin::{StateBatch, StateUpdate};
    Arc::new(sluice::operator::NativeStateUpdater(
        |input: &StateBatch| {
            let (Column::Int64(values), Column::Int64(states)) = (&input.values, &input.states)
            else {
                panic!("int64 values and states");
            };
            let totals = (0..input.len())
                .map(|i| {
                    let group = &values[input.groups[i] as usize..input.groups[i + 1] as usize];
                    group.iter().fold(states[i], |sum, v| sum.wrapping_add(*v))
                })
                .collect();
            StateUpdate {
                states: Column::Int64(totals),
                keep: vec![true; input.len()].into(),
            }
        },
    ))
}

/// split-pairs and sum as native closures.
fn native_operators() -> Vec<Arc<dyn Operator>> {
    vec![common::native::split_pairs(), common::native::sum()]
}

//! Grouping benchmark: the host's grouping by key (the half of every
//! reducer, state and counting call that the host does) against a plain
//! hash map doing the same job, on the same partitions, in the same run.
//!
//! `cargo bench -p sluice-cli --bench grouping`.
//! Environment: `SLUICE_BENCH_MB` (corpus size, default 50),
//! `SLUICE_BENCH_ROUNDS` (alternating rounds, default 15).
//!
//! The corpus made by `scripts/gen_corpus.py` is split into words on
//! ASCII whitespace, in the partitions the files source cuts (the default
//! `target_partition_mib` of lines), as a word count's map-side combine
//! sees them (keys: the words; values: 1). Per partition:
//!
//! - `hash map`: an `FxHashMap<&[u8], u32>` giving each record its key's
//!   row (a new row for a new key), the native baseline;
//! - `rows_by_key`: the same rows from [`grouping::rows_by_key`];
//! - `group_by_key`: the whole grouping a reducer call gets (rows, then
//!   the values sorted into their groups and each key once).
//!
//! The best round of each is reported in ns per record, with its ratio to
//! the hash map.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sluice::batch::{Column, Varlen};
use sluice::grouping;
use sluice::partition::DEFAULT_TARGET_PARTITION_MIB;
use sluice::plan::LinePolicy;
use sluice::source::lines::{LineChunks, LineDecoder};
use sluice_test_fixtures as fixtures;

fn main() {
    let mb: u32 = common::env_or("SLUICE_BENCH_MB", 50);
    let rounds: u32 = common::env_or("SLUICE_BENCH_ROUNDS", 15);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-grouping");
    let files = mb.div_ceil(10).max(1);
    let corpus = fixtures::corpus(&work.join(format!("corpus-{files}x10MB")), files, 10.0, 42);
    let partitions = partitions(&corpus.files);
    let records: usize = partitions.iter().map(|(keys, _)| keys.len()).sum();
    let distinct: usize = corpus.counts.len();
    let words: i64 = corpus.counts.values().sum();
    assert_eq!(records as i64, words, "the partitions hold every word once");
    println!(
        "{records} words ({distinct} distinct) in {} partitions of {DEFAULT_TARGET_PARTITION_MIB} MiB of text; best of {rounds} rounds",
        partitions.len()
    );

    let empty = Column::Varlen(Varlen::with_capacity(0, 0));
    let variants: [(&str, &Grouping<'_>); 3] = [
        ("hash map", &|keys, _| hash_map_rows(keys)),
        ("rows_by_key", &|keys, _| {
            grouping::rows_by_key(&empty, keys).new_keys.len()
        }),
        ("group_by_key", &|keys, values| {
            grouping::group_by_key(keys, values).groups.len() - 1
        }),
    ];
    let mut best = [Duration::MAX; 3];
    for _ in 0..rounds {
        for (i, (name, group)) in variants.iter().enumerate() {
            let started = Instant::now();
            let keys: usize = partitions
                .iter()
                .map(|(keys, values)| group(keys, values))
                .sum();
            best[i] = best[i].min(started.elapsed());
            std::hint::black_box(keys);
            assert!(keys >= distinct, "{name} found {keys} keys");
        }
    }
    for (i, (name, _)) in variants.iter().enumerate() {
        println!(
            "  {name:>12}: {:>6.1} ns/record  {:.2}x the hash map's time",
            best[i].as_secs_f64() * 1e9 / records as f64,
            best[i].as_secs_f64() / best[0].as_secs_f64()
        );
    }
}

/// One way of grouping a partition's (keys, values); gives the number of
/// distinct keys.
type Grouping<'a> = dyn Fn(&Column, &Column) -> usize + 'a;

/// The corpus's words, in the partitions the files source cuts its lines
/// into at the default size: (keys, values of 1).
fn partitions(files: &[PathBuf]) -> Vec<(Column, Column)> {
    let mut lines = LineChunks::new(DEFAULT_TARGET_PARTITION_MIB << 20);
    let mut decoder = LineDecoder::new(LinePolicy::default());
    for file in files {
        let text = std::fs::read(file).unwrap();
        decoder.push_lines("corpus", &text, &mut lines).unwrap();
    }
    lines
        .finish()
        .into_iter()
        .map(|chunk| {
            let Column::Varlen(chunk) = chunk.values else {
                unreachable!("lines are text")
            };
            let mut words = Varlen::with_capacity(chunk.len() * 10, chunk.data.len());
            for line in 0..chunk.len() {
                for word in chunk.get(line).split(u8::is_ascii_whitespace) {
                    if !word.is_empty() {
                        words.push(word);
                    }
                }
            }
            let ones = Column::Int64(vec![1; words.len()]);
            (Column::Varlen(words), ones)
        })
        .collect()
}

/// Each record's row by a plain hash map; the number of distinct keys.
fn hash_map_rows(keys: &Column) -> usize {
    let Column::Varlen(keys) = keys else {
        unreachable!("text keys")
    };
    let mut rows: FxHashMap<&[u8], u32> = FxHashMap::default();
    let mut row_of = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        let next = rows.len() as u32;
        row_of.push(*rows.entry(keys.get(i)).or_insert(next));
    }
    std::hint::black_box(&row_of);
    rows.len()
}

//! The word count's operators as native closures, for the benchmarks' "same
//! plan" baselines: split, pair, split-and-pair, split-and-count and sum, over the same
//! batches the plugins get. The sum uses the same structure as the SDK's
//! combine.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use sluice::batch::{Batch, Column, Varlen};
use sluice::operator::{NativeOperator, Operator};

/// split-words: each whitespace-separated word of each line.
pub fn split_words() -> Arc<dyn Operator> {
    Arc::new(NativeOperator(|input: &Batch| {
        let Column::Varlen(lines) = &input.values else {
            unreachable!()
        };
        let mut words = Varlen::with_capacity(lines.len() * 10, lines.data.len());
        for i in 0..lines.len() {
            for word in lines.get_str(i).split_whitespace() {
                words.push(word.as_bytes());
            }
        }
        Batch {
            keys: None,
            values: Column::Varlen(words),
        }
    }))
}

/// word-pair: (word, 1).
pub fn word_pair() -> Arc<dyn Operator> {
    Arc::new(NativeOperator(|input: &Batch| Batch {
        keys: Some(input.values.clone()),
        values: Column::Int64(vec![1; input.len()]),
    }))
}

/// split-pairs: (word, 1) for each word of each line.
pub fn split_pairs() -> Arc<dyn Operator> {
    Arc::new(NativeOperator(|input: &Batch| {
        let Column::Varlen(lines) = &input.values else {
            unreachable!()
        };
        let mut words = Varlen::with_capacity(lines.len() * 10, lines.data.len());
        let mut ones = Vec::with_capacity(lines.len() * 10);
        for i in 0..lines.len() {
            for word in lines.get_str(i).split_whitespace() {
                words.push(word.as_bytes());
                ones.push(1i64);
            }
        }
        Batch {
            keys: Some(Column::Varlen(words)),
            values: Column::Int64(ones),
        }
    }))
}

/// split-count: each distinct word of the partition's lines with its count,
/// counted in one hash map per call.
pub fn split_count() -> Arc<dyn Operator> {
    Arc::new(NativeOperator(|input: &Batch| {
        let Column::Varlen(lines) = &input.values else {
            unreachable!()
        };
        let mut counts: FxHashMap<&str, i64> = FxHashMap::default();
        for i in 0..lines.len() {
            for word in lines.get_str(i).split_whitespace() {
                *counts.entry(word).or_insert(0) += 1;
            }
        }
        let mut words = Varlen::with_capacity(counts.len(), counts.len() * 8);
        let mut sums = Vec::with_capacity(counts.len());
        for (word, count) in counts {
            words.push(word.as_bytes());
            sums.push(count);
        }
        Batch {
            keys: Some(Column::Varlen(words)),
            values: Column::Int64(sums),
        }
    }))
}

/// sum: the values of equal keys added, keys in order of first appearance.
pub fn sum() -> Arc<dyn Operator> {
    Arc::new(NativeOperator(|input: &Batch| {
        let (Some(Column::Varlen(keys)), Column::Int64(values)) = (&input.keys, &input.values)
        else {
            unreachable!()
        };
        let mut combined: FxHashMap<&[u8], (u32, i64)> =
            FxHashMap::with_capacity_and_hasher(values.len().min(1 << 16), Default::default());
        for (i, value) in values.iter().enumerate() {
            combined
                .entry(keys.get(i))
                .and_modify(|(_, sum)| *sum = sum.wrapping_add(*value))
                .or_insert((i as u32, *value));
        }
        let mut entries: Vec<(u32, i64)> = combined.into_values().collect();
        entries.sort_unstable_by_key(|(first, _)| *first);
        let mut out_keys = Varlen::with_capacity(entries.len(), entries.len() * 8);
        let mut sums = Vec::with_capacity(entries.len());
        for (first, sum) in entries {
            out_keys.push(keys.get(first as usize));
            sums.push(sum);
        }
        Batch {
            keys: Some(Column::Varlen(out_keys)),
            values: Column::Int64(sums),
        }
    }))
}

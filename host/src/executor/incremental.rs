//! A windowed stream with an inverse reducer (Spark's `invFunc`): its
//! window's totals updated as batches enter and leave, passing only the
//! keys of those batches to the plugins.
//!
//! Per batch, the entering partial and the partials leaving are routed into
//! the totals' buckets; contiguous runs of buckets are gathered into
//! partitions sized by data and each is updated on its own worker:
//!
//! 1. the entering records and the totals of their keys are combined by the
//!    reducer (one call; keys new to the window are added);
//! 2. the leaving records (combined first by the reducer when several
//!    batches leave at once, as Spark does) are removed from the totals of
//!    their keys by the inverse reducer (one call);
//! 3. keys whose total equals `drop_when` are dropped.
//!
//! The partition's totals are the window's value for its keys; they are
//! cut back into their buckets for the next batch.

use std::hash::Hash;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{ChainRun, PartitionCall, StreamReport};
use crate::batch::{Batch, Column, RecordType};
use crate::error::{Error, Phase};
use crate::exchange::{gather, partition_of};
use crate::plan::InverseSpec;
use crate::recovery::DeadLetter;

/// What enters and leaves a window in one batch, routed into the totals'
/// buckets.
pub(super) struct WindowMoves {
    /// The entering partial's partitions, each routed.
    pub entering: Vec<Vec<Batch>>,
    /// The leaving partials' partitions, each routed.
    pub leaving: Vec<Vec<Batch>>,
    /// How many batches leave.
    pub leaving_batches: usize,
}

impl ChainRun<'_> {
    /// The next totals of the chain's windowed stream (per bucket) from
    /// `totals` and `moves`, and the window's value: every key's total, one
    /// batch per partition.
    pub(super) fn update_totals(
        &self,
        totals: &[Arc<Batch>],
        moves: WindowMoves,
        reports: &mut [StreamReport],
        dead_letters: &mut [Vec<DeadLetter>],
    ) -> Result<(Vec<Arc<Batch>>, Vec<Batch>), Error> {
        let stream = self.chain.last();
        let spec = &self.executor.plan.streams[stream];
        let Some(inverse) = &spec.inverse else {
            return Err(Error::Internal(format!(
                "stream `{}` keeps window totals but has no inverse",
                spec.name
            )));
        };
        let record_type = spec.output_type;
        let buckets = totals.len();
        let bytes: usize = totals.iter().map(|b| b.byte_size()).sum::<usize>()
            + moves
                .entering
                .iter()
                .flatten()
                .map(Batch::byte_size)
                .sum::<usize>()
            + moves
                .leaving
                .iter()
                .flatten()
                .map(Batch::byte_size)
                .sum::<usize>();
        let groups = spec.exchange.gathered(bytes);
        let entering = gather(moves.entering, &groups, record_type);
        let leaving = gather(moves.leaving, &groups, record_type);
        let several_leave = moves.leaving_batches > 1;
        let results = groups
            .par_iter()
            .zip(entering.into_par_iter().zip(leaving))
            .enumerate()
            .map(|(partition, (range, (entering, leaving)))| {
                let group = Group {
                    run: self,
                    stream,
                    partition,
                    inverse,
                };
                group.update(&totals[range.clone()], entering, leaving, several_leave)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut next: Vec<Arc<Batch>> = Vec::with_capacity(buckets);
        let mut output = Vec::with_capacity(results.len());
        for ((window, calls), range) in results.into_iter().zip(&groups) {
            for call in calls {
                call.report(&mut reports[stream], &mut dead_letters[stream]);
            }
            next.extend(split_by_bucket(
                &window,
                range.clone(),
                buckets,
                record_type,
            ));
            output.push(window);
        }
        Ok((next, output))
    }
}

/// One partition's update of the totals.
struct Group<'a, 'r> {
    run: &'a ChainRun<'r>,
    stream: usize,
    partition: usize,
    inverse: &'a InverseSpec,
}

impl Group<'_, '_> {
    /// The partition's totals after `entering` and `leaving`, and the calls
    /// made.
    fn update(
        &self,
        totals: &[Arc<Batch>],
        entering: Batch,
        leaving: Batch,
        several_leave: bool,
    ) -> Result<(Batch, Vec<PartitionCall>), Error> {
        let spec = &self.run.executor.plan.streams[self.stream];
        let record_type = spec.output_type;
        let rows: usize = totals.iter().map(|b| b.len()).sum();
        let mut current = Batch::with_capacity(record_type, rows, 0);
        for bucket in totals {
            current.extend_from(bucket);
        }
        let mut calls = Vec::new();
        if !entering.is_empty() {
            let index = KeyIndex::of(&current);
            // The entering records, then the totals of their keys.
            let mut input = entering;
            let mut added = vec![false; current.len()];
            let entering_rows = input.len();
            for i in 0..entering_rows {
                if let Some(row) = index.row(input.keys.as_ref(), i)
                    && !added[row]
                {
                    added[row] = true;
                    push_record(&mut input, &current, row);
                }
            }
            let (combined, call) =
                self.run
                    .call(self.stream, self.partition, Phase::Window, &input)?;
            calls.push(call);
            current = merge(&current, &index, &combined, record_type);
        }
        if !leaving.is_empty() {
            let leaving = if several_leave {
                let (combined, call) =
                    self.run
                        .call(self.stream, self.partition, Phase::Window, &leaving)?;
                calls.push(call);
                combined
            } else {
                leaving
            };
            let index = KeyIndex::of(&current);
            let mut totals_of_leaving =
                Column::with_capacity(record_type.value, leaving.len(), leaving.byte_size());
            let mut rows = Vec::with_capacity(leaving.len());
            for i in 0..leaving.len() {
                let Some(row) = index.row(leaving.keys.as_ref(), i) else {
                    return Err(Error::Internal(format!(
                        "stream `{}`: a key leaving the window is not in its totals",
                        spec.name
                    )));
                };
                totals_of_leaving.push_from(&current.values, row);
                rows.push(row);
            }
            let (values, call) = self.uncombine(&totals_of_leaving, &leaving.values)?;
            calls.push(call);
            current = replace_values(&current, &rows, &values);
        }
        if let Some(drop) = &self.inverse.drop_when {
            let dropped = drop.key_bytes(0);
            let keep: Vec<bool> = (0..current.len())
                .map(|row| current.values.key_bytes(row).as_slice() != dropped.as_slice())
                .collect();
            if keep.contains(&false) {
                current = current.select(&keep);
            }
        }
        Ok((current, calls))
    }

    /// One call of the inverse reducer, under the stream's policy.
    fn uncombine(
        &self,
        totals: &Column,
        leaving: &Column,
    ) -> Result<(Column, PartitionCall), Error> {
        let executor = self.run.executor;
        let spec = &executor.plan.streams[self.stream];
        let Some(inverse) = &self.run.operators[self.stream].inverse else {
            return Err(Error::Internal(format!(
                "stream `{}` has an inverse plugin but no inverse operator",
                spec.name
            )));
        };
        let site = self.run.site(
            self.stream,
            self.partition,
            Phase::Uncombine,
            inverse,
            false,
        );
        let recovery = self.run.recovery(self.stream, &*inverse.operator, false);
        let started = Instant::now();
        let value_type = spec.output_type.value;
        let values = recovery.stateful(&site, |site| {
            inverse
                .operator
                .uncombine(totals, leaving, value_type, site)
        })?;
        Ok((
            values,
            PartitionCall {
                called: false,
                call_time: started.elapsed(),
                ..PartitionCall::default()
            },
        ))
    }
}

/// The rows of a keyed batch by key.
enum KeyIndex<'a> {
    Varlen(FxHashMap<&'a [u8], usize>),
    Fixed(FxHashMap<u64, usize>),
}

impl<'a> KeyIndex<'a> {
    fn of(batch: &'a Batch) -> Self {
        fn index<K: Hash + Eq>(n: usize, key: impl Fn(usize) -> K) -> FxHashMap<K, usize> {
            let mut map = FxHashMap::with_capacity_and_hasher(n, Default::default());
            for i in 0..n {
                map.insert(key(i), i);
            }
            map
        }
        match &batch.keys {
            Some(Column::Varlen(v)) => KeyIndex::Varlen(index(v.len(), |i| v.get(i))),
            Some(Column::Int64(v)) => KeyIndex::Fixed(index(v.len(), |i| v[i] as u64)),
            Some(Column::Float64(v)) => KeyIndex::Fixed(index(v.len(), |i| v[i].to_bits())),
            None => KeyIndex::Fixed(FxHashMap::default()),
        }
    }

    /// The row of key `i` of `keys`, if the indexed batch has it.
    fn row(&self, keys: Option<&Column>, i: usize) -> Option<usize> {
        match (self, keys?) {
            (KeyIndex::Varlen(map), Column::Varlen(v)) => map.get(v.get(i)).copied(),
            (KeyIndex::Fixed(map), Column::Int64(v)) => map.get(&(v[i] as u64)).copied(),
            (KeyIndex::Fixed(map), Column::Float64(v)) => map.get(&v[i].to_bits()).copied(),
            _ => None,
        }
    }
}

/// Appends record `row` of `from` to `to` (same record type).
fn push_record(to: &mut Batch, from: &Batch, row: usize) {
    if let (Some(keys), Some(from_keys)) = (&mut to.keys, &from.keys) {
        keys.push_from(from_keys, row);
    }
    to.values.push_from(&from.values, row);
}

/// `current` with the values of `combined`'s keys replaced, and the keys
/// it does not hold appended, in `combined`'s order.
fn merge(
    current: &Batch,
    index: &KeyIndex<'_>,
    combined: &Batch,
    record_type: RecordType,
) -> Batch {
    let mut replaced: Vec<Option<usize>> = vec![None; current.len()];
    let mut added = Vec::new();
    for j in 0..combined.len() {
        match index.row(combined.keys.as_ref(), j) {
            Some(row) => replaced[row] = Some(j),
            None => added.push(j),
        }
    }
    let mut out = Batch::with_capacity(
        record_type,
        current.len() + added.len(),
        current.byte_size() + combined.byte_size(),
    );
    for (row, replacement) in replaced.iter().enumerate() {
        if let (Some(keys), Some(from)) = (&mut out.keys, &current.keys) {
            keys.push_from(from, row);
        }
        match replacement {
            Some(j) => out.values.push_from(&combined.values, *j),
            None => out.values.push_from(&current.values, row),
        }
    }
    for &j in &added {
        push_record(&mut out, combined, j);
    }
    out
}

/// `current` with the value of row `rows[i]` replaced by `values[i]`.
fn replace_values(current: &Batch, rows: &[usize], values: &Column) -> Batch {
    let mut replacement: Vec<Option<usize>> = vec![None; current.len()];
    for (i, &row) in rows.iter().enumerate() {
        replacement[row] = Some(i);
    }
    let mut out_values = Column::with_capacity(
        current.values.layout_type(),
        current.len(),
        current.byte_size(),
    );
    for (row, r) in replacement.iter().enumerate() {
        match r {
            Some(i) => out_values.push_from(values, *i),
            None => out_values.push_from(&current.values, row),
        }
    }
    Batch {
        keys: current.keys.clone(),
        values: out_values,
    }
}

/// `window`'s records cut into the buckets of `range` (of `buckets`) by
/// key hash.
fn split_by_bucket(
    window: &Batch,
    range: Range<usize>,
    buckets: usize,
    record_type: RecordType,
) -> Vec<Arc<Batch>> {
    if range.len() == 1 {
        return vec![Arc::new(window.clone())];
    }
    let mut out: Vec<Batch> = range
        .clone()
        .map(|_| Batch::with_capacity(record_type, window.len() / range.len() + 1, 0))
        .collect();
    if let Some(keys) = &window.keys {
        for row in 0..window.len() {
            let bucket = partition_of(keys.key_bytes(row).as_slice(), buckets);
            let slot = bucket.clamp(range.start, range.end - 1) - range.start;
            push_record(&mut out[slot], window, row);
        }
    }
    out.into_iter().map(Arc::new).collect()
}

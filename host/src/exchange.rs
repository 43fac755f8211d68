//! The exchange (shuffle) between the two halves of a `reduce_by_key`.
//!
//! Invariant: every record whose key has the same bytes lands in the same
//! bucket, `xxh3_64(key bytes) % B`, on every run and machine (xxh3 with
//! its default seed is stable), and every bucket in exactly one output
//! partition, so per-partition combining after the exchange sees all the
//! values of a key. Record order within an output partition follows bucket
//! order, then input partition order, then record order.
//!
//! Each input partition is [`route`]d into B buckets on the worker that
//! made it, as soon as its map-side combine is done; [`gather`] then moves
//! whole, contiguous runs of buckets into the R output partitions, in
//! parallel — R fixed, or sized by the combined bytes (see
//! [`crate::partition::Partitioning::gathered`]).

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::batch::{Batch, RecordType};

/// The output partition of a key.
#[inline]
pub fn partition_of(key: &[u8], partitions: usize) -> usize {
    (xxh3_64(key) % partitions as u64) as usize
}

/// The output partitions from each input partition's routed pieces (as
/// [`route`] gives them, in input partition order): output partition `r`
/// gathers the buckets of `groups[r]`, bucket by bucket, each in input
/// partition order. Pieces are moved, and each is freed as soon as it is
/// copied into its output partition.
pub fn gather(
    routed: Vec<Vec<Batch>>,
    groups: &[std::ops::Range<usize>],
    record_type: RecordType,
) -> Vec<Batch> {
    let buckets = groups.last().map_or(0, |g| g.end);
    let mut by_bucket: Vec<Vec<Batch>> = (0..buckets)
        .map(|_| Vec::with_capacity(routed.len()))
        .collect();
    for pieces in routed {
        for (bucket, piece) in by_bucket.iter_mut().zip(pieces) {
            bucket.push(piece);
        }
    }
    let mut by_target: Vec<Vec<Batch>> = Vec::with_capacity(groups.len());
    let mut buckets = by_bucket.into_iter();
    for group in groups {
        by_target.push(buckets.by_ref().take(group.len()).flatten().collect());
    }
    by_target
        .into_par_iter()
        .map(|pieces| Batch::concat(pieces, record_type))
        .collect()
}

/// The records of one keyed batch, routed into `partitions` pieces by key
/// hash, in record order.
pub fn route(batch: &Batch, partitions: usize, record_type: RecordType) -> Vec<Batch> {
    let partitions = partitions.max(1);
    let Some(keys) = &batch.keys else {
        // Unkeyed input cannot reach an exchange: the plan refuses it.
        return (0..partitions).map(|_| Batch::empty(record_type)).collect();
    };
    let n = batch.len();
    let share = n / partitions + 1;
    let mut out: Vec<Batch> = (0..partitions)
        .map(|_| Batch::with_capacity(record_type, share, batch.byte_size() / partitions + 16))
        .collect();
    for i in 0..n {
        let target = &mut out[partition_of(keys.key_bytes(i).as_slice(), partitions)];
        if let Some(to) = &mut target.keys {
            to.push_from(keys, i);
        }
        target.values.push_from(&batch.values, i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Column, ValueType};

    const KEYED: RecordType = RecordType {
        key: Some(ValueType::Text),
        value: ValueType::Int64,
    };

    fn pairs(words: &[&str]) -> Batch {
        Batch {
            keys: Some(Batch::text(words.iter().copied()).values),
            values: Column::Int64(vec![1; words.len()]),
        }
    }

    #[test]
    fn equal_keys_meet_in_one_partition_and_nothing_is_lost() {
        let inputs = [pairs(&["a", "b", "c", "a"]), pairs(&["b", "a", "d"])];
        let routed = inputs.iter().map(|b| route(b, 3, KEYED)).collect();
        let out = gather(routed, &[0..1, 1..2, 2..3], KEYED);
        assert_eq!(out.len(), 3);
        assert_eq!(out.iter().map(Batch::len).sum::<usize>(), 7);
        for word in ["a", "b", "c", "d"] {
            let holders: Vec<usize> = out
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    let Some(Column::Varlen(keys)) = &b.keys else {
                        return false;
                    };
                    (0..keys.len()).any(|i| keys.get(i) == word.as_bytes())
                })
                .map(|(r, _)| r)
                .collect();
            assert_eq!(holders, [partition_of(word.as_bytes(), 3)], "{word}");
        }
    }
}

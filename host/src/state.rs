//! What the host keeps for an `update_state_by_key` stream between
//! batches: one state per key, partitioned by key hash.
//!
//! The states live in host memory in column layout: for each hash bucket
//! of the stream's exchange (`xxh3(key) % B`, the buckets a `reduce_by_key`
//! routes into), a keyed [`Batch`] whose keys are the bucket's keys and
//! whose values are their states. Each batch, the new records are routed
//! into the same buckets; contiguous runs of buckets are gathered into
//! partitions sized by data, and each partition is handed to the state
//! updater in one call ([`Prepared::input`]): every key with a state, in
//! the order kept, then the keys new in this batch, in arrival order, with
//! the batch's values grouped by key. The updater's answer gives each
//! bucket its next keys and states ([`Prepared::apply`]).
//!
//! Nothing changes until the whole batch has succeeded: the executor
//! builds a [`NextState`] and [`KeyedState::commit`]s it after every chain
//! ran, so a batch that fails and runs again updates each key once.
//!
//! For checkpoints (a later change writes them), each bucket tracks which
//! of its keys changed since the last snapshot and how many were removed:
//! a snapshot writes the changed keys and the removed ones, not the whole
//! state. The size of the state, keys and states in bytes, is bounded by
//! the stream's `max_state_mib`.

use std::hash::Hash;
use std::ops::Range;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::batch::{Batch, Column, RecordType, ValueType};
use crate::exchange::partition_of;
use crate::plugin::{StateBatch, StateUpdate};

/// One bucket's keys and states.
#[derive(Clone)]
struct Bucket {
    /// Keys and their states, as a keyed batch (key type, state type).
    records: Arc<Batch>,
    /// Per row, whether its key is new or its state changed since the last
    /// snapshot.
    changed: Arc<Vec<bool>>,
    /// Keys removed since the last snapshot.
    removed: usize,
}

/// The states of one `update_state_by_key` stream.
pub struct KeyedState {
    buckets: Vec<Bucket>,
    record_type: RecordType,
}

/// How much a keyed state holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateSize {
    /// Keys with a state.
    pub keys: usize,
    /// Their bytes, keys and states.
    pub bytes: usize,
    /// Keys changed or added since the last snapshot.
    pub changed: usize,
    /// Keys removed since the last snapshot.
    pub removed: usize,
}

impl StateSize {
    fn add(self, other: StateSize) -> StateSize {
        StateSize {
            keys: self.keys + other.keys,
            bytes: self.bytes + other.bytes,
            changed: self.changed + other.changed,
            removed: self.removed + other.removed,
        }
    }

    fn of_bucket(bucket: &Bucket) -> StateSize {
        StateSize {
            keys: bucket.records.len(),
            bytes: bucket.records.byte_size(),
            changed: bucket.changed.iter().filter(|&&c| c).count(),
            removed: bucket.removed,
        }
    }
}

impl KeyedState {
    /// An empty state of `buckets` buckets whose records are (key,
    /// state) of `record_type`.
    pub fn new(buckets: usize, record_type: RecordType) -> Self {
        let empty = Bucket {
            records: Arc::new(Batch::empty(record_type)),
            changed: Arc::new(Vec::new()),
            removed: 0,
        };
        KeyedState {
            buckets: vec![empty; buckets.max(1)],
            record_type,
        }
    }

    /// A state of `buckets` buckets holding `records`, (key, state) pairs
    /// of `record_type` (e.g. an initial state), each key once.
    ///
    /// # Errors
    ///
    /// When a key appears twice, naming it.
    pub fn load(buckets: usize, record_type: RecordType, records: &Batch) -> Result<Self, String> {
        let mut state = KeyedState::new(buckets, record_type);
        let buckets = state.buckets.len();
        let Some(keys) = &records.keys else {
            return Ok(state);
        };
        let seen = group_by_key(&Column::empty(keys.layout_type()), keys);
        // Rows are numbered in order of first appearance: the first key
        // seen before has a row below its index.
        if let Some(i) = (0..keys.len()).find(|&i| seen.row_of[i] as usize != i) {
            let key = match keys {
                Column::Varlen(v) => format!("{:?}", String::from_utf8_lossy(v.get(i))),
                Column::Int64(v) => v[i].to_string(),
                Column::Float64(v) => v[i].to_string(),
            };
            return Err(format!("key {key} appears more than once"));
        }
        let routed = crate::exchange::route(records, buckets, record_type);
        for (bucket, records) in state.buckets.iter_mut().zip(routed) {
            bucket.changed = Arc::new(vec![true; records.len()]);
            bucket.records = Arc::new(records);
        }
        Ok(state)
    }

    /// How many buckets the state is cut into.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// How much the state holds.
    pub fn size(&self) -> StateSize {
        self.buckets
            .iter()
            .map(StateSize::of_bucket)
            .fold(StateSize::default(), StateSize::add)
    }

    /// Bytes held by the buckets in `range`.
    pub fn bytes_in(&self, range: Range<usize>) -> usize {
        self.buckets[range]
            .iter()
            .map(|b| b.records.byte_size())
            .sum()
    }

    /// Keys held by the buckets in `range`.
    pub fn keys_in(&self, range: Range<usize>) -> usize {
        self.buckets[range].iter().map(|b| b.records.len()).sum()
    }

    /// The call input for the buckets in `range`, whose new records are
    /// `new` (keyed, of the stream's input type; each record's key hashes
    /// into `range`).
    pub fn prepare(&self, range: Range<usize>, new: &Batch, value_type: ValueType) -> Prepared {
        let held = &self.buckets[range.clone()];
        let bucket_rows: Vec<usize> = held.iter().map(|b| b.records.len()).collect();
        let mut old = Batch::with_capacity(
            self.record_type,
            bucket_rows.iter().sum::<usize>() + new.len(),
            self.bytes_in(range.clone()) + new.byte_size(),
        );
        for bucket in held {
            old.extend_from(&bucket.records);
        }
        let (old_keys, old_states) = match old.keys {
            Some(keys) => (keys, old.values),
            // A keyed record type always has keys; an empty column stands
            // in if not.
            None => (Column::empty(ValueType::Bytes), old.values),
        };
        let empty_keys = Column::empty(old_keys.layout_type());
        let new_keys = new.keys.as_ref().unwrap_or(&empty_keys);
        let grouping = group_by_key(&old_keys, new_keys);
        let rows = old_keys.len() + grouping.new_keys.len();
        let mut keys = old_keys;
        let mut states = old_states;
        for &first in &grouping.new_keys {
            keys.push_from(new_keys, first as usize);
            states.push_placeholder();
        }
        let mut has_state = vec![true; rows];
        has_state[rows - grouping.new_keys.len()..].fill(false);
        // Values grouped by row, in arrival order (a stable counting sort).
        let mut groups = vec![0u32; rows + 1];
        for &row in &grouping.row_of {
            groups[row as usize + 1] += 1;
        }
        for i in 0..rows {
            groups[i + 1] += groups[i];
        }
        let mut next = groups.clone();
        let mut order = vec![0u32; grouping.row_of.len()];
        for (record, &row) in grouping.row_of.iter().enumerate() {
            let at = &mut next[row as usize];
            order[*at as usize] = record as u32;
            *at += 1;
        }
        let mut values = Column::with_capacity(value_type, order.len(), new.byte_size());
        for &record in &order {
            values.push_from(&new.values, record as usize);
        }
        Prepared {
            range,
            bucket_rows,
            input: StateBatch {
                keys,
                values,
                groups,
                states,
                has_state,
            },
        }
    }

    /// Keeps `next` as the state.
    pub fn commit(&mut self, next: NextState) {
        for (bucket, update) in next.buckets {
            let was = &self.buckets[bucket];
            self.buckets[bucket] = Bucket {
                removed: was.removed + update.removed,
                ..update
            };
        }
    }
}

/// Rows of a partition's state call: each new record's row, and the first
/// record of each new key.
struct Grouping {
    /// Per new record, its key's row: an old key's row, or
    /// `old + j` for the `j`th new key.
    row_of: Vec<u32>,
    /// Per new key, the new record it first appeared in.
    new_keys: Vec<u32>,
}

/// Groups the records with `new` keys by key, against the `old` keys
/// (distinct); keys compare byte for byte, numbers by their bits.
fn group_by_key(old: &Column, new: &Column) -> Grouping {
    match (old, new) {
        (Column::Varlen(o), Column::Varlen(n)) => {
            group_rows((o.len(), |i| o.get(i)), (n.len(), |i| n.get(i)))
        }
        (Column::Int64(o), Column::Int64(n)) => {
            group_rows((o.len(), |i| o[i]), (n.len(), |i| n[i]))
        }
        (Column::Float64(o), Column::Float64(n)) => {
            group_rows((o.len(), |i| o[i].to_bits()), (n.len(), |i| n[i].to_bits()))
        }
        // The plan gives the state and the input the same key type; an
        // empty side has no layout to disagree with.
        (_, n) => {
            let (count, key) = (n.len(), |i| n.key_bytes(i).as_slice().to_vec());
            group_rows((0, |_| Vec::new()), (count, key))
        }
    }
}

fn group_rows<K: Hash + Eq>(
    (olds, old_key): (usize, impl Fn(usize) -> K),
    (news, new_key): (usize, impl Fn(usize) -> K),
) -> Grouping {
    let mut rows: FxHashMap<K, u32> =
        FxHashMap::with_capacity_and_hasher(olds + news.min(1 << 16), Default::default());
    for i in 0..olds {
        rows.insert(old_key(i), i as u32);
    }
    let mut row_of = Vec::with_capacity(news);
    let mut new_keys = Vec::new();
    for i in 0..news {
        let next = (olds + new_keys.len()) as u32;
        let row = *rows.entry(new_key(i)).or_insert_with(|| {
            new_keys.push(i as u32);
            next
        });
        row_of.push(row);
    }
    Grouping { row_of, new_keys }
}

/// One partition's state call, before and after.
pub struct Prepared {
    /// The buckets it covers.
    range: Range<usize>,
    /// How many of the input's first rows each bucket held.
    bucket_rows: Vec<usize>,
    /// What the state updater is called with.
    pub input: StateBatch,
}

/// A state with one more batch applied, not yet kept (see
/// [`KeyedState::commit`]).
#[derive(Default)]
pub struct NextState {
    buckets: Vec<(usize, Bucket)>,
}

impl NextState {
    /// Adds the buckets of one partition.
    pub fn extend(&mut self, other: NextState) {
        self.buckets.extend(other.buckets);
    }

    /// How much the updated buckets hold.
    pub fn size(&self) -> StateSize {
        self.buckets
            .iter()
            .map(|(_, b)| StateSize::of_bucket(b))
            .fold(StateSize::default(), StateSize::add)
    }
}

impl Prepared {
    /// The buckets' next keys and states from `update` (checked to hold
    /// one state and flag per input key), `previous` being the state it
    /// was prepared from; and the partition's output, every kept (key,
    /// state), old keys first, in order.
    pub fn apply(
        self,
        previous: &KeyedState,
        update: StateUpdate,
        total_buckets: usize,
    ) -> (NextState, Batch) {
        let Prepared {
            range,
            bucket_rows,
            input,
        } = self;
        let record_type = previous.record_type;
        let output = Batch {
            keys: Some(input.keys),
            values: update.states,
        }
        .select(&update.keep);
        // Rows of the output and whether each changed.
        let mut changed_rows = Vec::with_capacity(output.len());
        let mut removed = vec![0usize; range.len()];
        let mut kept_of = vec![Vec::<u32>::new(); range.len()];
        let old_rows: usize = bucket_rows.iter().sum();
        let mut row = 0usize;
        let mut out_row = 0u32;
        for (slot, (&rows, bucket)) in bucket_rows.iter().zip(range.clone()).enumerate() {
            let old_changed = &previous.buckets[bucket].changed;
            for local in 0..rows {
                if update.keep[row] {
                    let differs = input.states.key_bytes(row).as_slice()
                        != output.values.key_bytes(out_row as usize).as_slice();
                    changed_rows.push(differs || old_changed.get(local).copied().unwrap_or(true));
                    kept_of[slot].push(out_row);
                    out_row += 1;
                } else {
                    removed[slot] += 1;
                }
                row += 1;
            }
        }
        let keys = output.keys.as_ref();
        for new_row in old_rows..update.keep.len() {
            if update.keep[new_row] {
                let bucket = keys.map_or(range.start, |k| {
                    partition_of(k.key_bytes(out_row as usize).as_slice(), total_buckets)
                });
                let slot = bucket.clamp(range.start, range.end - 1) - range.start;
                changed_rows.push(true);
                kept_of[slot].push(out_row);
                out_row += 1;
            }
        }
        let buckets = range
            .zip(kept_of)
            .zip(removed)
            .map(|((bucket, rows), removed)| {
                let mut records = Batch::with_capacity(record_type, rows.len(), 0);
                let mut changed = Vec::with_capacity(rows.len());
                for &r in &rows {
                    if let (Some(to), Some(from)) = (&mut records.keys, &output.keys) {
                        to.push_from(from, r as usize);
                    }
                    records.values.push_from(&output.values, r as usize);
                    changed.push(changed_rows[r as usize]);
                }
                (
                    bucket,
                    Bucket {
                        records: Arc::new(records),
                        changed: Arc::new(changed),
                        removed,
                    },
                )
            })
            .collect();
        (NextState { buckets }, output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: RecordType = RecordType {
        key: Some(ValueType::Text),
        value: ValueType::Int64,
    };

    fn pairs(records: &[(&str, i64)]) -> Batch {
        Batch {
            keys: Some(Batch::text(records.iter().map(|(k, _)| *k)).values),
            values: Column::Int64(records.iter().map(|(_, v)| *v).collect()),
        }
    }

    /// Running sums: every key keeps the sum of its values; a key with no
    /// new value is removed.
    fn sums(input: &StateBatch) -> StateUpdate {
        let (Column::Int64(values), Column::Int64(states)) = (&input.values, &input.states) else {
            panic!("int64 columns");
        };
        let mut out = Vec::new();
        let mut keep = Vec::new();
        for i in 0..input.len() {
            let group = &values[input.groups[i] as usize..input.groups[i + 1] as usize];
            out.push(states[i] + group.iter().sum::<i64>());
            keep.push(!group.is_empty());
        }
        StateUpdate {
            states: Column::Int64(out),
            keep,
        }
    }

    fn run(state: &mut KeyedState, records: &[(&str, i64)]) -> Vec<(String, i64)> {
        let buckets = state.buckets();
        let new = pairs(records);
        let prepared = state.prepare(0..buckets, &new, ValueType::Int64);
        let update = sums(&prepared.input);
        let (next, output) = prepared.apply(state, update, buckets);
        state.commit(next);
        let (Some(Column::Varlen(keys)), Column::Int64(values)) = (&output.keys, &output.values)
        else {
            panic!("text keys, int64 states");
        };
        let mut all: Vec<(String, i64)> = (0..output.len())
            .map(|i| (keys.get_str(i).to_owned(), values[i]))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn states_accumulate_keys_are_removed_and_changes_are_tracked() {
        let mut state = KeyedState::new(1, TYPE);
        let owned = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
            v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
        };
        assert_eq!(
            run(&mut state, &[("a", 1), ("b", 2), ("a", 3)]),
            owned(&[("a", 4), ("b", 2)])
        );
        assert_eq!(
            run(&mut state, &[("b", 5), ("c", 1)]),
            owned(&[("b", 7), ("c", 1)]),
            "`a` got nothing and is removed"
        );
        let size = state.size();
        assert_eq!((size.keys, size.changed, size.removed), (2, 2, 1));
    }

    #[test]
    fn grouping_keeps_arrival_order_within_a_key() {
        let state = KeyedState::new(1, TYPE);
        let prepared = state.prepare(
            0..1,
            &pairs(&[("x", 1), ("y", 2), ("x", 3)]),
            ValueType::Int64,
        );
        assert_eq!(prepared.input.groups, vec![0, 2, 3]);
        assert_eq!(prepared.input.values, Column::Int64(vec![1, 3, 2]));
        assert_eq!(prepared.input.has_state, vec![false, false]);
    }
}

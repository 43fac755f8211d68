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
//! For checkpoints, each bucket tracks which of its keys changed since the
//! last snapshot (a new state, or new values) and, when the pipeline is
//! checkpointed, which keys were removed: a snapshot ([`snapshot`]) writes
//! the changed keys and the removed ones, not the whole state. The size of
//! the state, keys and states in bytes, is bounded by the stream's
//! `max_state_mib`.

pub mod snapshot;

use std::ops::Range;
use std::sync::Arc;

use crate::batch::{Batch, Column, RecordType, ValueType};
use crate::exchange::partition_of;
use crate::grouping::{rows_by_key, sort_into_groups};
use crate::plugin::{MappingBatch, StateBatch, StateUpdate};

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
    /// Those keys, when the state keeps them ([`KeyedState::track_removed_keys`]).
    removed_keys: Arc<Column>,
    /// Per row, the batch time (ms) its key last got a value.
    last_seen: Arc<Vec<i64>>,
}

/// The states of one `update_state_by_key` stream.
pub struct KeyedState {
    buckets: Vec<Bucket>,
    record_type: RecordType,
    /// The time (ms) of the first batch committed: an initial state's
    /// idle time starts there.
    started: Option<i64>,
    /// Whether the keys removed since the last snapshot are kept (for
    /// checkpoints; otherwise only counted).
    track_removed: bool,
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
            removed_keys: Arc::new(empty_keys(record_type)),
            last_seen: Arc::new(Vec::new()),
        };
        KeyedState {
            buckets: vec![empty; buckets.max(1)],
            record_type,
            started: None,
            track_removed: false,
        }
    }

    /// Keeps the keys removed from now on until the next snapshot, not
    /// only their count (a checkpointed pipeline's snapshots write them).
    pub fn track_removed_keys(&mut self) {
        self.track_removed = true;
    }

    /// A state of `buckets` buckets holding `records`, (key, state) pairs
    /// of `record_type` (e.g. an initial state) whose keys are distinct
    /// (see [`KeyedState::duplicate_key`]).
    pub fn load(buckets: usize, record_type: RecordType, records: &Batch) -> Self {
        let mut state = KeyedState::new(buckets, record_type);
        let buckets = state.buckets.len();
        let routed = crate::exchange::route(records, buckets, record_type);
        for (bucket, records) in state.buckets.iter_mut().zip(routed) {
            bucket.changed = Arc::new(vec![true; records.len()]);
            // Initial states count as seen at the start: a timeout runs
            // from the first batch.
            bucket.last_seen = Arc::new(vec![i64::MAX; records.len()]);
            bucket.records = Arc::new(records);
        }
        state
    }

    /// Why `records` cannot be a state: the first key that appears more
    /// than once, named.
    pub fn duplicate_key(records: &Batch) -> Option<String> {
        let keys = records.keys.as_ref()?;
        let seen = rows_by_key(&Column::empty(keys.layout_type()), keys);
        // Rows are numbered in order of first appearance: the first key
        // seen before has a row below its index.
        let i = (0..keys.len()).find(|&i| seen.row_of[i] as usize != i)?;
        let key = match keys {
            Column::Varlen(v) => format!("{:?}", String::from_utf8_lossy(v.get(i))),
            Column::Int64(v) => v[i].to_string(),
            Column::Float64(v) => v[i].to_string(),
        };
        Some(format!("key {key} appears more than once"))
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

    /// How much the state would hold with `next` committed.
    pub fn size_with(&self, next: &NextState) -> StateSize {
        let mut replaced = vec![false; self.buckets.len()];
        for (bucket, _) in &next.buckets {
            replaced[*bucket] = true;
        }
        self.buckets
            .iter()
            .zip(&replaced)
            .filter(|(_, replaced)| !**replaced)
            .map(|(b, _)| StateSize::of_bucket(b))
            .fold(next.size(), StateSize::add)
    }

    /// Every (key, state) held once `next` is committed, in bucket order,
    /// cut into `parts` partitions of whole buckets (`state_snapshots`).
    pub fn snapshot_with(&self, next: &NextState, parts: usize) -> Vec<Batch> {
        let mut buckets: Vec<&Arc<Batch>> = self.buckets.iter().map(|b| &b.records).collect();
        for (bucket, update) in &next.buckets {
            buckets[*bucket] = &update.records;
        }
        let parts = parts.clamp(1, buckets.len().max(1));
        let per_part = buckets.len().div_ceil(parts);
        buckets
            .chunks(per_part.max(1))
            .map(|chunk| {
                let rows = chunk.iter().map(|b| b.len()).sum();
                let bytes = chunk.iter().map(|b| b.byte_size()).sum();
                let mut part = Batch::with_capacity(self.record_type, rows, bytes);
                for bucket in chunk {
                    part.extend_from(bucket);
                }
                part
            })
            .collect()
    }

    /// Keys held by the buckets in `range`.
    pub fn keys_in(&self, range: Range<usize>) -> usize {
        self.buckets[range].iter().map(|b| b.records.len()).sum()
    }

    /// The call input for the buckets in `range`, whose new records are
    /// `new` (keyed, of the stream's input type; each record's key hashes
    /// into `range`): with [`Selection::All`], every key with a state and
    /// every new key (`update_state_by_key`); with [`Selection::Touched`],
    /// only the keys with new values and those timing out
    /// (`map_with_state`).
    pub fn prepare(&self, range: Range<usize>, new: &Batch, selection: Selection) -> Prepared {
        let held = &self.buckets[range.clone()];
        let bucket_rows: Vec<usize> = held.iter().map(|b| b.records.len()).collect();
        let olds: usize = bucket_rows.iter().sum();
        let mut old = Batch::with_capacity(self.record_type, olds, self.bytes_in(range.clone()));
        let mut last_seen = Vec::with_capacity(olds);
        for bucket in held {
            old.extend_from(&bucket.records);
            last_seen.extend_from_slice(&bucket.last_seen);
        }
        let (old_keys, old_states) = match old.keys {
            Some(keys) => (keys, old.values),
            // A keyed record type always has keys; an empty column stands
            // in if not.
            None => (Column::empty(ValueType::Bytes), old.values),
        };
        let empty_keys = Column::empty(old_keys.layout_type());
        let new_keys = new.keys.as_ref().unwrap_or(&empty_keys);
        let grouping = rows_by_key(&old_keys, new_keys);
        let all_rows = olds + grouping.new_keys.len();
        let mut counts = vec![0u32; all_rows];
        for &row in &grouping.row_of {
            counts[row as usize] += 1;
        }
        // The rows the call gets, and whether each times out.
        let mut included: Vec<u32> = Vec::with_capacity(all_rows);
        let mut timing_out = Vec::with_capacity(all_rows);
        for row in 0..all_rows {
            let (include, times_out) = match selection {
                Selection::All => (true, false),
                Selection::Touched { idle_before } => {
                    let idle = row < olds
                        && counts[row] == 0
                        && idle_before.is_some_and(|t| {
                            // An initial state counts as seen at the first
                            // batch.
                            let seen = match last_seen[row] {
                                i64::MAX => self.started.unwrap_or(i64::MAX),
                                seen => seen,
                            };
                            seen < t
                        });
                    (counts[row] > 0 || idle, idle)
                }
            };
            if include {
                included.push(row as u32);
                timing_out.push(times_out);
            }
        }
        let mut slot_of = vec![u32::MAX; all_rows];
        for (slot, &row) in included.iter().enumerate() {
            slot_of[row as usize] = slot as u32;
        }
        let rows = included.len();
        let mut keys = Column::with_capacity(old_keys.layout_type(), rows, 0);
        let mut states = Column::with_capacity(old_states.layout_type(), rows, 0);
        let mut has_state = Vec::with_capacity(rows);
        for &row in &included {
            let row = row as usize;
            if row < olds {
                keys.push_from(&old_keys, row);
                states.push_from(&old_states, row);
                has_state.push(true);
            } else {
                keys.push_from(new_keys, grouping.new_keys[row - olds] as usize);
                states.push_placeholder();
                has_state.push(false);
            }
        }
        // Values grouped by slot, in arrival order (a stable counting sort).
        let mut groups = vec![0u32; rows + 1];
        for (slot, &row) in included.iter().enumerate() {
            groups[slot + 1] = groups[slot] + counts[row as usize];
        }
        let slots: Vec<u32> = grouping
            .row_of
            .iter()
            .map(|&row| slot_of[row as usize])
            .collect();
        let values = sort_into_groups(&new.values, &slots, &groups);
        Prepared {
            layout: Layout {
                range,
                bucket_rows,
                slot_of,
            },
            input: MappingBatch {
                state: StateBatch {
                    keys,
                    values,
                    groups: groups.into(),
                    states,
                    has_state: has_state.into(),
                },
                timing_out: timing_out.into(),
            },
        }
    }

    /// Keeps `next`, the state after the batch at `time` (ms), as the
    /// state.
    pub fn commit(&mut self, next: NextState, time: i64) {
        self.started.get_or_insert(time);
        for (bucket, update) in next.buckets {
            self.buckets[bucket] = update;
        }
    }
}

/// One partition's state call, before and after.
pub struct Prepared {
    /// Where the call's keys sit in the buckets.
    pub layout: Layout,
    /// What the call gets: the keys, their values and states (a state
    /// updater's whole input), and which keys time out (always none with
    /// [`Selection::All`]).
    pub input: MappingBatch,
}

/// Where a partition's call keys sit in its buckets.
pub struct Layout {
    /// The buckets it covers.
    range: Range<usize>,
    /// How many keys each bucket held.
    bucket_rows: Vec<usize>,
    /// Per old row of the buckets (in order), then per new key: its entry
    /// in the call's input, `u32::MAX` when not called.
    slot_of: Vec<u32>,
}

/// Which keys a state call gets.
#[derive(Clone, Copy, Debug)]
pub enum Selection {
    /// Every key with a state or new values (`update_state_by_key`).
    All,
    /// Keys with new values, and keys that got none since before
    /// `idle_before` (ms), which time out (`map_with_state`).
    Touched {
        /// Keys last seen before this batch time (ms) time out; `None`: no
        /// timeout.
        idle_before: Option<i64>,
    },
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

impl Layout {
    /// The buckets' next keys and states after the call on `input` gave
    /// `update` (checked to hold one state and flag per input key), at
    /// batch time `now` (ms), `previous` being the state it was prepared
    /// from. Keys the call did not get keep their states; keys timing out
    /// are removed whatever the update says.
    pub fn apply(
        &self,
        previous: &KeyedState,
        input: &MappingBatch,
        update: &StateUpdate,
        now: i64,
        total_buckets: usize,
    ) -> NextState {
        let Layout {
            range,
            bucket_rows,
            slot_of,
        } = self;
        let record_type = previous.record_type;
        let kept = |slot: usize| kept(input, update, slot);
        let input = &input.state;
        let mut buckets = Vec::with_capacity(range.len());
        let mut new_rows: Vec<Vec<usize>> = vec![Vec::new(); range.len()];
        let olds: usize = bucket_rows.iter().sum();
        // New keys, by the bucket their hash gives.
        for &slot in &slot_of[olds..] {
            let slot = slot as usize;
            if kept(slot) {
                let bucket = partition_of(input.keys.key_bytes(slot).as_slice(), total_buckets);
                new_rows[bucket.clamp(range.start, range.end - 1) - range.start].push(slot);
            }
        }
        let mut row = 0usize;
        for ((bucket, &rows), news) in range.clone().zip(bucket_rows).zip(new_rows) {
            let held = &previous.buckets[bucket];
            let mut records =
                Batch::with_capacity(record_type, rows + news.len(), held.records.byte_size());
            let mut changed = Vec::with_capacity(rows + news.len());
            let mut last_seen = Vec::with_capacity(rows + news.len());
            let mut removed = 0;
            let mut removed_keys = previous.track_removed.then(|| (*held.removed_keys).clone());
            for local in 0..rows {
                let slot = slot_of[row] as usize;
                row += 1;
                if slot == u32::MAX as usize {
                    push_row(&mut records, &held.records, local);
                    changed.push(held.changed[local]);
                    // An initial state's idle time starts with the first
                    // batch.
                    let seen = held.last_seen[local];
                    last_seen.push(if seen == i64::MAX { now } else { seen });
                } else if kept(slot) {
                    if let Some(keys) = &mut records.keys {
                        keys.push_from(&input.keys, slot);
                    }
                    records.values.push_from(&update.states, slot);
                    let differs = input.states.key_bytes(slot).as_slice()
                        != update.states.key_bytes(slot).as_slice();
                    let got_values = input.groups[slot + 1] > input.groups[slot];
                    // New values move the key's last-seen time, which a
                    // snapshot keeps too.
                    changed.push(differs || got_values || held.changed[local]);
                    let seen = held.last_seen[local];
                    last_seen.push(if got_values || seen == i64::MAX {
                        now
                    } else {
                        seen
                    });
                } else {
                    removed += 1;
                    if let (Some(removed_keys), Some(keys)) =
                        (&mut removed_keys, &held.records.keys)
                    {
                        removed_keys.push_from(keys, local);
                    }
                }
            }
            for &slot in &news {
                if let Some(keys) = &mut records.keys {
                    keys.push_from(&input.keys, slot);
                }
                records.values.push_from(&update.states, slot);
                changed.push(true);
                last_seen.push(now);
            }
            buckets.push((
                bucket,
                Bucket {
                    records: Arc::new(records),
                    changed: Arc::new(changed),
                    removed: held.removed + removed,
                    removed_keys: removed_keys
                        .map(Arc::new)
                        .unwrap_or_else(|| held.removed_keys.clone()),
                    last_seen: Arc::new(last_seen),
                },
            ));
        }
        NextState { buckets }
    }
}

/// An empty column of `record_type`'s keys (a state is always keyed).
fn empty_keys(record_type: RecordType) -> Column {
    Column::empty(record_type.key.unwrap_or(ValueType::Bytes))
}

/// Whether the key at `slot` of `input` keeps its state after `update`:
/// the update kept it and it does not time out.
fn kept(input: &MappingBatch, update: &StateUpdate, slot: usize) -> bool {
    update.keep[slot] && !input.timing_out[slot]
}

/// Every (key, state) `update` kept of `input`'s keys, in the input's
/// order: the output of `update_state_by_key`.
pub fn kept_states(input: MappingBatch, update: StateUpdate) -> Batch {
    let keep: Vec<bool> = (0..update.keep.len())
        .map(|slot| kept(&input, &update, slot))
        .collect();
    Batch {
        keys: Some(input.state.keys),
        values: update.states,
    }
    .select(&keep)
}

/// Appends row `row` of `from` to `to` (same record type).
fn push_row(to: &mut Batch, from: &Batch, row: usize) {
    if let (Some(keys), Some(from_keys)) = (&mut to.keys, &from.keys) {
        keys.push_from(from_keys, row);
    }
    to.values.push_from(&from.values, row);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) const TYPE: RecordType = RecordType {
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
            keep: keep.into(),
        }
    }

    pub(super) fn run(state: &mut KeyedState, records: &[(&str, i64)]) -> Vec<(String, i64)> {
        let buckets = state.buckets();
        let new = pairs(records);
        let Prepared { layout, input } = state.prepare(0..buckets, &new, Selection::All);
        let update = sums(&input.state);
        let next = layout.apply(state, &input, &update, 0, buckets);
        let output = kept_states(input, update);
        state.commit(next, 0);
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
            Selection::All,
        );
        assert_eq!(*prepared.input.state.groups, vec![0, 2, 3]);
        assert_eq!(prepared.input.state.values, Column::Int64(vec![1, 3, 2]));
        assert_eq!(*prepared.input.state.has_state, vec![false, false]);
    }

    #[test]
    fn a_touched_selection_calls_keys_with_values_and_keys_timing_out_only() {
        let mut state = KeyedState::new(1, TYPE);
        let touched = |idle_before| Selection::Touched {
            idle_before: Some(idle_before),
        };
        for (now, records) in [(1000, &[("a", 1), ("b", 1)][..]), (2000, &[("b", 1)])] {
            let Prepared { layout, input } = state.prepare(0..1, &pairs(records), touched(0));
            let update = sums(&input.state);
            let next = layout.apply(&state, &input, &update, now, 1);
            state.commit(next, now);
        }
        // At 3000 with keys idle before 1500 timing out: `a` (last seen at
        // 1000) times out, `b` (2000) is not called, `c` is new.
        let Prepared { layout, input } = state.prepare(0..1, &pairs(&[("c", 5)]), touched(1500));
        assert_eq!(input.state.keys, Batch::text(["a", "c"]).values);
        assert_eq!(*input.timing_out, vec![true, false]);
        assert_eq!(*input.state.groups, vec![0, 0, 1]);
        let update = StateUpdate {
            states: Column::Int64(vec![99, 5]),
            keep: vec![true, true].into(),
        };
        let next = layout.apply(&state, &input, &update, 3000, 1);
        let output = kept_states(input, update);
        state.commit(next, 3000);
        assert_eq!(
            output.len(),
            1,
            "the key timing out is removed whatever the update says"
        );
        let size = state.size();
        assert_eq!(
            (size.keys, size.removed),
            (2, 1),
            "b kept, c added, a removed"
        );
    }
}

//! A keyed state written to a checkpoint and read back: whole, or as the
//! changes since the last snapshot.
//!
//! A *full* snapshot holds every bucket's keys, states and last-seen
//! times. A *change* snapshot holds, per bucket, the keys removed and the
//! rows changed (new keys, new states, new values) since the previous
//! snapshot, so one with 1 % of the keys changed costs about 1 % of a full
//! one. Applying changes reproduces the buckets exactly, row order
//! included: a changed key keeps its row, a removed key leaves, new keys
//! follow in the order they came; so a restored state gives the same
//! calls and the same output as the state it was taken from.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Bucket, KeyedState};
use crate::batch::{Batch, KeyBytes, RecordType};
use crate::checkpoint::columns::{Decoder, Encoder};

impl KeyedState {
    /// Appends the whole state.
    pub fn encode_full(&self, out: &mut Encoder) {
        out.times(&self.started.into_iter().collect::<Vec<_>>());
        out.count(self.buckets.len());
        for bucket in &self.buckets {
            out.batch(&bucket.records);
            out.times(&bucket.last_seen);
        }
    }

    /// Appends what changed since the last snapshot (the state must keep
    /// its removed keys, see [`KeyedState::track_removed_keys`]).
    pub fn encode_changes(&self, out: &mut Encoder) {
        out.times(&self.started.into_iter().collect::<Vec<_>>());
        out.count(self.buckets.len());
        for bucket in &self.buckets {
            out.column(&bucket.removed_keys);
            let rows: Vec<u32> = (0..bucket.changed.len() as u32)
                .filter(|&i| bucket.changed[i as usize])
                .collect();
            let changed = Batch {
                keys: bucket.records.keys.as_ref().map(|k| k.gather(&rows)),
                values: bucket.records.values.gather(&rows),
            };
            out.batch(&changed);
            let seen: Vec<i64> = rows.iter().map(|&i| bucket.last_seen[i as usize]).collect();
            out.times(&seen);
        }
    }

    /// Forgets what changed: a snapshot holds it now.
    pub fn snapshot_taken(&mut self) {
        for bucket in &mut self.buckets {
            bucket.changed = Arc::new(vec![false; bucket.records.len()]);
            bucket.removed = 0;
            bucket.removed_keys = Arc::new(super::empty_keys(self.record_type));
        }
    }

    /// The state a full snapshot holds, of `buckets` buckets of
    /// `record_type` records.
    ///
    /// # Errors
    ///
    /// When the snapshot is damaged or holds other records or buckets.
    pub fn decode_full(
        input: &mut Decoder<'_>,
        buckets: usize,
        record_type: RecordType,
    ) -> Result<KeyedState, String> {
        let mut state = KeyedState::new(buckets, record_type);
        state.started = input.times()?.first().copied();
        let held = input.count(1)?;
        if held != state.buckets.len() {
            return Err(format!(
                "holds {held} buckets where the stream has {}",
                state.buckets.len()
            ));
        }
        for bucket in &mut state.buckets {
            let records = input.batch(record_type)?;
            let last_seen = input.times()?;
            if last_seen.len() != records.len() {
                return Err("holds last-seen times that do not match its keys".into());
            }
            *bucket = Bucket {
                changed: Arc::new(vec![false; records.len()]),
                records: Arc::new(records),
                removed: 0,
                removed_keys: bucket.removed_keys.clone(),
                last_seen: Arc::new(last_seen),
            };
        }
        Ok(state)
    }

    /// Applies a change snapshot to this state.
    ///
    /// # Errors
    ///
    /// When the snapshot is damaged or holds other records or buckets.
    pub fn apply_changes(&mut self, input: &mut Decoder<'_>) -> Result<(), String> {
        if let Some(&started) = input.times()?.first() {
            self.started = Some(started);
        }
        let held = input.count(1)?;
        if held != self.buckets.len() {
            return Err(format!(
                "holds {held} buckets where the stream has {}",
                self.buckets.len()
            ));
        }
        let key_type = RecordType {
            key: None,
            value: self
                .record_type
                .key
                .unwrap_or(crate::batch::ValueType::Bytes),
        };
        for bucket in &mut self.buckets {
            let removed = Batch {
                keys: None,
                values: input.column()?,
            };
            removed
                .validate(key_type)
                .map_err(|e| format!("holds removed keys that are not {key_type}: {e}"))?;
            let removed = removed.values;
            let changed = input.batch(self.record_type)?;
            let seen = input.times()?;
            if seen.len() != changed.len() {
                return Err("holds last-seen times that do not match its keys".into());
            }
            let (Some(keys), Some(changed_keys)) = (&bucket.records.keys, &changed.keys) else {
                return Err("holds unkeyed records".into());
            };
            let removed: FxHashSet<KeyBytes<'_>> =
                (0..removed.len()).map(|i| removed.key_bytes(i)).collect();
            let mut update: FxHashMap<KeyBytes<'_>, usize> = (0..changed.len())
                .map(|i| (changed_keys.key_bytes(i), i))
                .collect();
            let mut records = Batch::with_capacity(
                self.record_type,
                bucket.records.len() + changed.len(),
                bucket.records.byte_size() + changed.byte_size(),
            );
            let mut last_seen = Vec::with_capacity(records.len());
            let mut push = |records: &mut Batch, from: &Batch, row: usize, seen: i64| {
                if let (Some(to), Some(keys)) = (&mut records.keys, &from.keys) {
                    to.push_from(keys, row);
                }
                records.values.push_from(&from.values, row);
                last_seen.push(seen);
            };
            let mut used = vec![false; changed.len()];
            for row in 0..bucket.records.len() {
                let key = keys.key_bytes(row);
                if removed.contains(&key) {
                    continue;
                }
                match update.remove(&key) {
                    Some(i) => {
                        used[i] = true;
                        push(&mut records, &changed, i, seen[i]);
                    }
                    None => push(&mut records, &bucket.records, row, bucket.last_seen[row]),
                }
            }
            for i in (0..changed.len()).filter(|&i| !used[i]) {
                push(&mut records, &changed, i, seen[i]);
            }
            *bucket = Bucket {
                changed: Arc::new(vec![false; records.len()]),
                records: Arc::new(records),
                removed: 0,
                removed_keys: bucket.removed_keys.clone(),
                last_seen: Arc::new(last_seen),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{TYPE, run};
    use super::KeyedState;
    use crate::checkpoint::columns::{Decoder, Encoder};

    /// The state's buckets as comparable values.
    fn contents(state: &KeyedState) -> Vec<(crate::batch::Batch, Vec<i64>)> {
        state
            .buckets
            .iter()
            .map(|b| ((*b.records).clone(), (*b.last_seen).clone()))
            .collect()
    }

    #[test]
    fn a_full_snapshot_and_changes_give_the_state_back_row_for_row() {
        let mut live = KeyedState::new(4, TYPE);
        live.track_removed_keys();
        run(&mut live, &[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
        let mut full = Encoder::default();
        live.encode_full(&mut full);
        live.snapshot_taken();
        // `a` and `c` get values (kept, changed), `b` and `d` none (removed),
        // `e` is new.
        run(&mut live, &[("c", 1), ("a", 1), ("e", 9)]);
        let mut first = Encoder::default();
        live.encode_changes(&mut first);
        live.snapshot_taken();
        // `b` comes back after its removal, `a` is removed.
        run(&mut live, &[("b", 7), ("c", 1), ("e", 1)]);
        let mut second = Encoder::default();
        live.encode_changes(&mut second);
        let size = live.size();
        assert_eq!((size.keys, size.removed), (3, 1));

        let mut restored =
            KeyedState::decode_full(&mut Decoder::new(&full.bytes), 4, TYPE).unwrap();
        restored
            .apply_changes(&mut Decoder::new(&first.bytes))
            .unwrap();
        restored
            .apply_changes(&mut Decoder::new(&second.bytes))
            .unwrap();
        assert_eq!(contents(&restored), contents(&live));

        // Another bucket count, or another type, is refused.
        let error = KeyedState::decode_full(&mut Decoder::new(&full.bytes), 8, TYPE).err();
        assert_eq!(
            error.as_deref(),
            Some("holds 4 buckets where the stream has 8")
        );
        let other = crate::batch::RecordType {
            key: Some(crate::batch::ValueType::Int64),
            value: crate::batch::ValueType::Int64,
        };
        assert!(KeyedState::decode_full(&mut Decoder::new(&full.bytes), 4, other).is_err());
    }
}

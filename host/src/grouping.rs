//! Groups a batch's records by key, natively: the host's half of a reducer
//! call (the contract's `value-groups`), so the guest only folds.
//!
//! Keys compare as the exchange compares them: byte for byte, numbers by
//! their bits. Groups come in the order their keys first appear, and each
//! group keeps its values in arrival order, so the output is deterministic.

use std::hash::Hash;

use rustc_hash::FxHashMap;

use crate::batch::Column;

/// A batch's records grouped by key.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouped {
    /// Each distinct key once, in order of first appearance.
    pub keys: Column,
    /// The values, grouped by key: group `i` is
    /// `values[groups[i] .. groups[i + 1]]`.
    pub values: Column,
    /// One more entry than there are keys: starts at 0, ends at the
    /// number of values.
    pub groups: Vec<u32>,
    /// Per grouped value, its record in the input (to name the record an
    /// operator blames); `None` when the values kept their order.
    pub records: Option<Vec<u32>>,
}

/// Groups the records (`keys[i]`, `values[i]`) by key. Both columns hold
/// the same number of entries.
pub fn group_by_key(keys: &Column, values: &Column) -> Grouped {
    let (group_of, firsts) = match keys {
        Column::Varlen(k) => assign_groups(k.len(), |i| k.get(i)),
        Column::Int64(k) => assign_groups(k.len(), |i| k[i]),
        Column::Float64(k) => assign_groups(k.len(), |i| k[i].to_bits()),
    };
    let records = group_of.len();
    if firsts.len() == records {
        // Every key is distinct: the batch is its own grouping.
        return Grouped {
            keys: keys.clone(),
            values: values.clone(),
            groups: (0..=records as u32).collect(),
            records: None,
        };
    }
    // A counting sort of the records by group, stable within each.
    let mut groups = vec![0u32; firsts.len() + 1];
    for &group in &group_of {
        groups[group as usize + 1] += 1;
    }
    for g in 1..groups.len() {
        groups[g] += groups[g - 1];
    }
    let mut next = groups[..firsts.len()].to_vec();
    let mut order = vec![0u32; records];
    for (record, &group) in group_of.iter().enumerate() {
        let at = &mut next[group as usize];
        order[*at as usize] = record as u32;
        *at += 1;
    }
    Grouped {
        keys: keys.gather(&firsts),
        values: values.gather(&order),
        groups,
        records: Some(order),
    }
}

/// Each record's group, and each group's first record.
fn assign_groups<K: Hash + Eq>(records: usize, key: impl Fn(usize) -> K) -> (Vec<u32>, Vec<u32>) {
    let mut group_by_key: FxHashMap<K, u32> =
        FxHashMap::with_capacity_and_hasher(records.min(1 << 16), Default::default());
    let mut group_of = Vec::with_capacity(records);
    let mut firsts = Vec::new();
    for record in 0..records {
        let next = firsts.len() as u32;
        let group = *group_by_key.entry(key(record)).or_insert_with(|| {
            firsts.push(record as u32);
            next
        });
        group_of.push(group);
    }
    (group_of, firsts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;

    #[test]
    fn values_are_grouped_by_key_in_order_of_first_appearance() {
        let keys = Batch::text(["b", "a", "b", "c", "a", "b"]).values;
        let values = Column::Int64(vec![1, 2, 3, 4, 5, 6]);
        let grouped = group_by_key(&keys, &values);
        assert_eq!(grouped.keys, Batch::text(["b", "a", "c"]).values);
        assert_eq!(grouped.values, Column::Int64(vec![1, 3, 6, 2, 5, 4]));
        assert_eq!(grouped.groups, [0, 3, 5, 6]);
        assert_eq!(grouped.records, Some(vec![0, 2, 5, 1, 4, 3]));
    }

    #[test]
    fn distinct_and_empty_batches_are_their_own_grouping() {
        let keys = Column::Int64(vec![3, 1, 2]);
        let values = Batch::text(["x", "y", "z"]).values;
        let grouped = group_by_key(&keys, &values);
        assert_eq!((grouped.keys, grouped.values), (keys, values));
        assert_eq!(grouped.groups, [0, 1, 2, 3]);
        let empty = group_by_key(&Column::Int64(vec![]), &Column::Int64(vec![]));
        assert_eq!(empty.groups, [0]);
        assert!(empty.keys.is_empty() && empty.values.is_empty());
    }

    #[test]
    fn float_keys_compare_by_their_bits() {
        let keys = Column::Float64(vec![0.0, -0.0, 0.0, f64::NAN, f64::NAN]);
        let grouped = group_by_key(&keys, &Column::Int64(vec![1, 2, 3, 4, 5]));
        assert_eq!(grouped.groups, [0, 2, 3, 5]);
        assert_eq!(grouped.values, Column::Int64(vec![1, 3, 2, 4, 5]));
    }
}

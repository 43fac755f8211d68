//! Groups records by key, natively: the host's half of a reducer call (the
//! contract's `value-groups`, so the guest only folds), of a state call
//! (new records against the keys a state holds) and of the host's counting
//! operators.
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

/// Where each record of a batch goes among distinct keys: the rows of
/// keys placed before it, then one new row per key it brings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Per record, its key's row: an old key's row, or `old + j` for the
    /// `j`th new key.
    pub row_of: Vec<u32>,
    /// Per new key, the record it first appeared in.
    pub new_keys: Vec<u32>,
}

/// Places the records with keys `new` on rows, after the `old` keys
/// (distinct, each its own row, in order). Keys compare byte for byte,
/// numbers by their bits.
pub fn rows_by_key(old: &Column, new: &Column) -> Rows {
    match (old, new) {
        (Column::Varlen(o), Column::Varlen(n)) => {
            place((o.len(), |i| o.get(i)), (n.len(), |i| n.get(i)))
        }
        (Column::Int64(o), Column::Int64(n)) => place((o.len(), |i| o[i]), (n.len(), |i| n[i])),
        (Column::Float64(o), Column::Float64(n)) => {
            place((o.len(), |i| o[i].to_bits()), (n.len(), |i| n[i].to_bits()))
        }
        // Callers give both sides the same key type; an empty side has no
        // layout to disagree with.
        (_, n) => {
            let (count, key) = (n.len(), |i| n.key_bytes(i).as_slice().to_vec());
            place((0, |_| Vec::new()), (count, key))
        }
    }
}

/// Groups the records (`keys[i]`, `values[i]`) by key. Both columns hold
/// the same number of entries.
pub fn group_by_key(keys: &Column, values: &Column) -> Grouped {
    let Rows {
        row_of: group_of,
        new_keys: firsts,
    } = rows_by_key(&Column::empty(keys.layout_type()), keys);
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

/// [`rows_by_key`] over key getters.
fn place<K: Hash + Eq>(
    (olds, old_key): (usize, impl Fn(usize) -> K),
    (news, new_key): (usize, impl Fn(usize) -> K),
) -> Rows {
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
    Rows { row_of, new_keys }
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
    fn new_records_take_the_rows_of_old_keys_then_new_rows() {
        let old = Batch::text(["x", "y"]).values;
        let new = Batch::text(["y", "z", "x", "z", "w"]).values;
        assert_eq!(
            rows_by_key(&old, &new),
            Rows {
                row_of: vec![1, 2, 0, 2, 3],
                new_keys: vec![1, 4],
            }
        );
    }

    #[test]
    fn float_keys_compare_by_their_bits() {
        let keys = Column::Float64(vec![0.0, -0.0, 0.0, f64::NAN, f64::NAN]);
        let grouped = group_by_key(&keys, &Column::Int64(vec![1, 2, 3, 4, 5]));
        assert_eq!(grouped.groups, [0, 2, 3, 5]);
        assert_eq!(grouped.values, Column::Int64(vec![1, 3, 2, 4, 5]));
    }
}

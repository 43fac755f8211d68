//! Groups records by key, natively: the host's half of a reducer call (the
//! contract's `value-groups`, so the guest only folds), of a state call
//! (new records against the keys a state holds) and of the host's counting
//! operators.
//!
//! Keys compare as the exchange compares them: byte for byte, numbers by
//! their bits. Groups come in the order their keys first appear, and each
//! group keeps its values in arrival order, so the output is deterministic.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;

use crate::batch::{Column, Varlen};

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
    /// Where each grouped value came from.
    pub origin: Origin,
}

/// Which input record each grouped value is: kept as each record's group
/// (which the grouping computes anyway), since it is only read when an
/// operator blames a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// Per input record, its group; `None` when every key was distinct
    /// (the values kept their order).
    group_of: Option<Vec<u32>>,
}

impl Origin {
    /// The input record of grouped value `index`, given the grouping's
    /// `groups`; `None` if there is no such value. Scans the records,
    /// which is fine on an error path.
    pub fn record_of(&self, groups: &[u32], index: u32) -> Option<u32> {
        let Some(group_of) = &self.group_of else {
            return (index < groups.last().copied().unwrap_or(0)).then_some(index);
        };
        let group = groups
            .partition_point(|&start| start <= index)
            .checked_sub(1)?;
        let nth = index.checked_sub(*groups.get(group)?)? as usize;
        group_of
            .iter()
            .enumerate()
            .filter(|&(_, &g)| g as usize == group)
            .nth(nth)
            .map(|(record, _)| record as u32)
    }
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
        (Column::Varlen(o), Column::Varlen(n)) => place(o, n),
        (Column::Int64(o), Column::Int64(n)) => place(o.as_slice(), n.as_slice()),
        (Column::Float64(o), Column::Float64(n)) => place(&FloatBits(o), &FloatBits(n)),
        // Callers give both sides the same key type; an empty side has no
        // layout to disagree with.
        (_, n) => {
            debug_assert!(old.is_empty(), "rows_by_key over two key layouts");
            rows_by_key(&Column::empty(n.layout_type()), n)
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
            origin: Origin { group_of: None },
        };
    }
    // A counting sort of the records by group, stable within each.
    let groups = group_starts(&group_of, firsts.len());
    Grouped {
        keys: keys.gather(&firsts),
        values: sort_into_groups(values, &group_of, &groups),
        groups,
        origin: Origin {
            group_of: Some(group_of),
        },
    }
}

/// Where each of `groups` groups starts once the records are sorted by
/// group (`group_of[i]` is record `i`'s): one more entry than there are
/// groups, from 0 to the number of records (the counting pass of a stable
/// counting sort).
pub fn group_starts(group_of: &[u32], groups: usize) -> Vec<u32> {
    let mut starts = vec![0u32; groups + 1];
    for &group in group_of {
        starts[group as usize + 1] += 1;
    }
    for g in 1..starts.len() {
        starts[g] += starts[g - 1];
    }
    starts
}

/// The records' indices placed in their groups, in arrival order within
/// each, given the groups' `starts` ([`group_starts`]): the placing pass.
pub fn records_in_groups(group_of: &[u32], starts: &[u32]) -> Vec<u32> {
    let mut next = starts[..starts.len().saturating_sub(1)].to_vec();
    let records: Vec<u32> = (0..group_of.len() as u32).collect();
    scatter(&records, group_of, &mut next)
}

/// `values` placed in their groups, in arrival order within each: value
/// `i` goes to group `group_of[i]`, whose values start at `groups[g]` (the
/// placing pass of a stable counting sort; `groups` has one more entry
/// than there are groups and counts every value once).
pub fn sort_into_groups(values: &Column, group_of: &[u32], groups: &[u32]) -> Column {
    let mut next = groups[..groups.len().saturating_sub(1)].to_vec();
    match values {
        // Fixed-width values go straight to their place.
        Column::Int64(v) => Column::Int64(scatter(v, group_of, &mut next)),
        Column::Float64(v) => Column::Float64(scatter(v, group_of, &mut next)),
        Column::Varlen(_) => values.gather(&records_in_groups(group_of, groups)),
    }
}

/// Puts `values[i]` at `next[group_of[i]]` (advancing it).
fn scatter<T: Copy + Default>(values: &[T], group_of: &[u32], next: &mut [u32]) -> Vec<T> {
    let mut out = vec![T::default(); values.len()];
    for (&value, &group) in values.iter().zip(group_of) {
        let at = &mut next[group as usize];
        out[*at as usize] = value;
        *at += 1;
    }
    out
}

/// A key column as keys that hash and compare.
trait KeyColumn {
    /// What the hash table keeps of a key: enough to compare most keys
    /// without reading the column (a short text key's length and first
    /// bytes, a number itself), and where to read the rest. Going through
    /// the column's offsets instead costs a cache miss per probe.
    type Slot: Copy;
    /// How many keys the column holds.
    fn count(&self) -> usize;
    /// Key `i`'s slot (in range).
    fn slot(&self, i: usize) -> Self::Slot;
    /// The hash of the key in `slot`.
    fn hash(&self, slot: Self::Slot) -> u64;
    /// Whether the key in `slot` equals the key in `other`'s `theirs`.
    fn same(&self, slot: Self::Slot, other: &Self, theirs: Self::Slot) -> bool;
}

/// A text or bytes key in a hash table, in 12 bytes: a key of up to 8
/// bytes is held whole (zero-padded), so it hashes and compares without
/// reading the column; a longer one keeps its first four bytes, which
/// decide most comparisons, and where its bytes lie.
#[derive(Clone, Copy)]
struct BytesSlot {
    len: u32,
    /// Up to 8 bytes: the key, little-endian. Longer: `[head, start]`.
    word: [u32; 2],
}

/// Keys of up to this many bytes are held whole in their [`BytesSlot`].
const INLINE_KEY: usize = 8;

impl BytesSlot {
    /// Whether the key is held whole in the slot.
    #[inline]
    fn inline(self) -> bool {
        self.len as usize <= INLINE_KEY
    }
    /// Where a longer key's bytes start in its column.
    #[inline]
    fn start(self) -> u32 {
        self.word[1]
    }
}

impl KeyColumn for Varlen {
    type Slot = BytesSlot;
    fn count(&self) -> usize {
        self.len()
    }
    // Always inlined: called apart, its 12-byte result goes through the
    // stack and the table's probe waits on it (measured: twice the time).
    #[inline(always)]
    fn slot(&self, i: usize) -> BytesSlot {
        let (start, end) = (self.offsets[i], self.offsets[i + 1]);
        let len = (end - start) as usize;
        let word = if len <= INLINE_KEY {
            let whole = leading_bytes(&self.data, start as usize, len);
            [whole as u32, (whole >> 32) as u32]
        } else {
            [leading_bytes(&self.data, start as usize, 4) as u32, start]
        };
        BytesSlot {
            len: end - start,
            word,
        }
    }
    #[inline]
    fn hash(&self, slot: BytesSlot) -> u64 {
        if slot.inline() {
            let [low, high] = slot.word.map(u64::from);
            let whole = (low | high << 32).to_le_bytes();
            FxBuildHasher.hash_one(&whole[..slot.len as usize])
        } else {
            FxBuildHasher.hash_one(self.tail(slot, 0))
        }
    }
    #[inline]
    fn same(&self, slot: BytesSlot, other: &Self, theirs: BytesSlot) -> bool {
        if slot.len != theirs.len {
            return false;
        }
        if slot.inline() {
            return slot.word == theirs.word;
        }
        slot.word[0] == theirs.word[0] && same_bytes(self.tail(slot, 4), other.tail(theirs, 4))
    }
}

/// The `len` (at most 8) bytes of `data` from `start` on, zero-padded, as
/// a little-endian number: one load where 8 bytes are there to read.
#[inline(always)]
fn leading_bytes(data: &[u8], start: usize, len: usize) -> u64 {
    debug_assert!(len <= 8);
    match data.get(start..start + 8) {
        Some(window) => {
            let word = u64::from_le_bytes(window.try_into().unwrap_or_default());
            match len {
                8 => word,
                _ => word & ((1u64 << (8 * len)) - 1),
            }
        }
        None => {
            let mut padded = [0u8; 8];
            padded[..len].copy_from_slice(&data[start..start + len]);
            u64::from_le_bytes(padded)
        }
    }
}

/// Whether two byte strings of the same length are equal: short ones
/// (the tails of most keys: words, ids) in one or two word-sized loads,
/// inline, instead of a call to `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word =
        |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default());
    let half =
        |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or_default());
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

impl Varlen {
    /// The bytes of the longer key in `slot` from byte `skip` on.
    #[inline]
    fn tail(&self, slot: BytesSlot, skip: u32) -> &[u8] {
        &self.data[(slot.start() + skip) as usize..(slot.start() + slot.len) as usize]
    }
}

impl KeyColumn for [i64] {
    type Slot = i64;
    fn count(&self) -> usize {
        self.len()
    }
    fn slot(&self, i: usize) -> i64 {
        self[i]
    }
    fn hash(&self, slot: i64) -> u64 {
        FxBuildHasher.hash_one(slot)
    }
    fn same(&self, slot: i64, _: &Self, theirs: i64) -> bool {
        slot == theirs
    }
}

/// Float keys, compared by their bits (so `NaN` equals itself and `-0.0`
/// is not `0.0`), as the exchange routes them.
struct FloatBits<'a>(&'a [f64]);

impl KeyColumn for FloatBits<'_> {
    type Slot = u64;
    fn count(&self) -> usize {
        self.0.len()
    }
    fn slot(&self, i: usize) -> u64 {
        self.0[i].to_bits()
    }
    fn hash(&self, slot: u64) -> u64 {
        FxBuildHasher.hash_one(slot)
    }
    fn same(&self, slot: u64, _: &Self, theirs: u64) -> bool {
        slot == theirs
    }
}

/// A placed key in the table: its slot, and its row; rows below the
/// number of old keys are old keys, read from the old column, the others
/// from the new one. Small, so the table of a partition's distinct keys
/// stays in cache.
#[derive(Clone, Copy)]
struct Placed<S> {
    slot: S,
    row: u32,
}

/// [`rows_by_key`] over key columns of one kind.
fn place<C: KeyColumn + ?Sized>(old: &C, new: &C) -> Rows {
    let (olds, news) = (old.count(), new.count());
    let column_of = |p: &Placed<C::Slot>| if (p.row as usize) < olds { old } else { new };
    let rehash = |p: &Placed<C::Slot>| column_of(p).hash(p.slot);
    // Sized for the held keys and a few thousand new ones; it grows
    // (hashing the placed keys again) when a batch brings more.
    let mut table: HashTable<Placed<C::Slot>> = HashTable::with_capacity(olds + news.min(1 << 12));
    for i in 0..olds {
        let slot = old.slot(i);
        table.insert_unique(
            old.hash(slot),
            Placed {
                slot,
                row: i as u32,
            },
            rehash,
        );
    }
    let mut row_of = Vec::with_capacity(news);
    let mut new_keys = Vec::new();
    for i in 0..news {
        let slot = new.slot(i);
        let entry = table.entry(
            new.hash(slot),
            |p| column_of(p).same(p.slot, new, slot),
            rehash,
        );
        let row = match entry {
            Entry::Occupied(placed) => placed.get().row,
            Entry::Vacant(vacant) => {
                let row = (olds + new_keys.len()) as u32;
                new_keys.push(i as u32);
                vacant.insert(Placed { slot, row });
                row
            }
        };
        row_of.push(row);
    }
    Rows { row_of, new_keys }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::types::ValueType;

    #[test]
    fn values_are_grouped_by_key_in_order_of_first_appearance() {
        let keys = Batch::text(["b", "a", "b", "c", "a", "b"]).values;
        let values = Column::Int64(vec![1, 2, 3, 4, 5, 6]);
        let grouped = group_by_key(&keys, &values);
        assert_eq!(grouped.keys, Batch::text(["b", "a", "c"]).values);
        assert_eq!(grouped.values, Column::Int64(vec![1, 3, 6, 2, 5, 4]));
        assert_eq!(grouped.groups, [0, 3, 5, 6]);
        let records: Vec<_> = (0..7)
            .map(|i| grouped.origin.record_of(&grouped.groups, i))
            .collect();
        assert_eq!(
            records,
            [0, 2, 5, 1, 4, 3]
                .map(Some)
                .into_iter()
                .chain([None])
                .collect::<Vec<_>>()
        );
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
    fn byte_keys_of_every_length_compare_as_slices_do() {
        for n in 0..40u8 {
            let key: Vec<u8> = (0..n).map(|b| b.wrapping_mul(37)).collect();
            let mut column = Varlen::with_capacity(0, 0);
            column.push(&key);
            column.push(&[key.as_slice(), b"x"].concat());
            column.push(&[key.as_slice(), b"\0"].concat());
            for at in 0..n as usize {
                let mut other = key.clone();
                other[at] ^= 0x80;
                column.push(&other);
            }
            let rows = rows_by_key(&Column::Varlen(column.clone()), &Column::Varlen(column));
            let distinct = 3 + u32::from(n);
            assert_eq!(rows.row_of, (0..distinct).collect::<Vec<_>>(), "length {n}");
            assert!(rows.new_keys.is_empty());
        }
    }

    #[test]
    fn keys_short_and_long_keep_their_rows_as_the_table_grows() {
        // 20 000 distinct keys of 1 to 19 bytes (past the 4 096 the table
        // starts with, so it rehashes held and stored keys), each twice.
        let key = |i: u32| format!("{i:x}{}", "k".repeat(i as usize % 14)).into_bytes();
        let mut column = Varlen::with_capacity(0, 0);
        for i in (0..20_000).chain(0..20_000) {
            column.push(&key(i));
        }
        let rows = rows_by_key(&Column::empty(ValueType::Bytes), &Column::Varlen(column));
        let expected: Vec<u32> = (0..20_000).chain(0..20_000).collect();
        assert_eq!(rows.row_of, expected);
        assert_eq!(rows.new_keys, (0..20_000).collect::<Vec<_>>());
    }

    #[test]
    fn float_keys_compare_by_their_bits() {
        let keys = Column::Float64(vec![0.0, -0.0, 0.0, f64::NAN, f64::NAN]);
        let grouped = group_by_key(&keys, &Column::Int64(vec![1, 2, 3, 4, 5]));
        assert_eq!(grouped.groups, [0, 2, 3, 5]);
        assert_eq!(grouped.values, Column::Int64(vec![1, 3, 2, 4, 5]));
    }
}

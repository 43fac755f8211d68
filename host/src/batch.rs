//! Partition batches in the contract's column layout, on the host side.
//!
//! The host keeps records exactly as the guests see them: a value column and,
//! for keyed streams, a key column, each either variable-width (bytes plus
//! `n + 1` offsets, Arrow's layout) or a list of 64-bit numbers. Moving a
//! batch into or out of a guest is then a few bulk copies, and the host never
//! allocates per record.
//!
//! Invariant: every [`Batch`] built by the host or accepted from a guest
//! (after [`Batch::validate`]) has well-formed offsets, columns of equal
//! length, and the layout of its declared [`RecordType`].

use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift, Lower};

use crate::packed::{Packed, PackedRef, lower_via};
pub use crate::types::{RecordType, ValueType};

/// Variable-width values stored back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct Varlen {
    /// The bytes of every value, concatenated.
    pub data: Vec<u8>,
    /// `n + 1` offsets: value `i` is `data[offsets[i]..offsets[i + 1]]`.
    pub offsets: Vec<u32>,
}

impl Varlen {
    /// An empty column with room for `values` values of `bytes` bytes.
    pub fn with_capacity(values: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(values + 1);
        offsets.push(0);
        Varlen {
            data: Vec::with_capacity(bytes),
            offsets,
        }
    }

    /// How many values the column holds.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of value `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Appends a value. The caller keeps the total under 4 GiB (see
    /// [`Batch::validate`]).
    #[inline]
    pub fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.offsets.push(self.data.len() as u32);
    }

    /// The values as text, when the column is known to hold UTF-8.
    pub fn get_str(&self, i: usize) -> &str {
        // Validated text columns always slice at character boundaries.
        std::str::from_utf8(self.get(i)).unwrap_or("\u{FFFD}")
    }
}

/// One column of a batch.
///
/// On the wire (the contract's `column`) its offsets and numbers travel as
/// little-endian bytes ([`crate::packed`]); [`ColumnWire`] is that shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// Text, bytes or JSON values.
    Varlen(Varlen),
    /// 64-bit integers.
    Int64(Vec<i64>),
    /// 64-bit floats.
    Float64(Vec<f64>),
}

/// The contract's `varlen`, generic over how its lists are held: borrowed
/// to lower a host column, owned when lifted from a guest. Both forms have
/// one flat representation, which [`Column`]'s own impls forward to.
#[derive(ComponentType, Lift, Lower)]
#[component(record)]
pub struct VarlenWire<D, O> {
    /// The bytes of every value.
    pub data: D,
    /// The offsets, as a `u32-list`.
    pub offsets: O,
}

/// The contract's `column` (see [`VarlenWire`]).
#[derive(ComponentType, Lift, Lower)]
#[component(variant)]
pub enum ColumnWire<D, O, I, F> {
    /// Text, bytes or JSON values.
    #[component(name = "varlen")]
    Varlen(VarlenWire<D, O>),
    /// An `s64-list`.
    #[component(name = "int64")]
    Int64(I),
    /// An `f64-list`.
    #[component(name = "float64")]
    Float64(F),
}

/// A column as lifted from a guest.
type OwnedWire = ColumnWire<Vec<u8>, Packed<u32>, Packed<i64>, Packed<f64>>;
/// A host column, borrowed, to lower into a guest.
type BorrowedWire<'a> =
    ColumnWire<&'a [u8], PackedRef<'a, u32>, PackedRef<'a, i64>, PackedRef<'a, f64>>;

impl Column {
    fn wire(&self) -> BorrowedWire<'_> {
        match self {
            Column::Varlen(v) => ColumnWire::Varlen(VarlenWire {
                data: &v.data,
                offsets: PackedRef(&v.offsets),
            }),
            Column::Int64(v) => ColumnWire::Int64(PackedRef(v)),
            Column::Float64(v) => ColumnWire::Float64(PackedRef(v)),
        }
    }
}

impl From<OwnedWire> for Column {
    fn from(wire: OwnedWire) -> Self {
        match wire {
            ColumnWire::Varlen(v) => Column::Varlen(Varlen {
                data: v.data,
                offsets: v.offsets.0,
            }),
            ColumnWire::Int64(v) => Column::Int64(v.0),
            ColumnWire::Float64(v) => Column::Float64(v.0),
        }
    }
}

// SAFETY: `Column` is exactly the contract's `column`: every method forwards
// to the derived implementation of its wire form, whose owned and borrowed
// forms share one flat representation (`Self::Lower`).
unsafe impl ComponentType for Column {
    type Lower = <OwnedWire as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <OwnedWire as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <OwnedWire as ComponentType>::typecheck(ty, types)
    }
}

lower_via!(impl[] Column, |this| this.wire());

unsafe impl Lift for Column {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        OwnedWire::linear_lift_from_flat(cx, ty, src).map(Column::from)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        OwnedWire::linear_lift_from_memory(cx, ty, bytes).map(Column::from)
    }
}

impl Column {
    /// An empty column with the layout of `value_type`.
    pub fn empty(value_type: ValueType) -> Self {
        Self::with_capacity(value_type, 0, 0)
    }

    /// An empty column of `value_type` with room for `values` values.
    pub fn with_capacity(value_type: ValueType, values: usize, bytes: usize) -> Self {
        match value_type {
            ValueType::Int64 => Column::Int64(Vec::with_capacity(values)),
            ValueType::Float64 => Column::Float64(Vec::with_capacity(values)),
            _ => Column::Varlen(Varlen::with_capacity(values, bytes)),
        }
    }

    /// A value type with this column's layout (`bytes` for every
    /// variable-width column): enough to make an empty column like it.
    pub fn layout_type(&self) -> ValueType {
        match self {
            Column::Varlen(_) => ValueType::Bytes,
            Column::Int64(_) => ValueType::Int64,
            Column::Float64(_) => ValueType::Float64,
        }
    }

    /// How many values the column holds.
    pub fn len(&self) -> usize {
        match self {
            Column::Varlen(v) => v.len(),
            Column::Int64(v) => v.len(),
            Column::Float64(v) => v.len(),
        }
    }

    /// Whether the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes that identify value `i` for hashing and equality: the
    /// value itself, or the little-endian bytes of a number.
    #[inline]
    pub fn key_bytes(&self, i: usize) -> KeyBytes<'_> {
        match self {
            Column::Varlen(v) => KeyBytes::Slice(v.get(i)),
            Column::Int64(v) => KeyBytes::Fixed(v[i].to_le_bytes()),
            Column::Float64(v) => KeyBytes::Fixed(v[i].to_bits().to_le_bytes()),
        }
    }

    /// Appends value `i` of `other`, which has the same layout.
    #[inline]
    pub fn push_from(&mut self, other: &Column, i: usize) {
        match (self, other) {
            (Column::Varlen(to), Column::Varlen(from)) => to.push(from.get(i)),
            (Column::Int64(to), Column::Int64(from)) => to.push(from[i]),
            (Column::Float64(to), Column::Float64(from)) => to.push(from[i]),
            _ => debug_assert!(false, "push_from between different layouts"),
        }
    }

    /// Appends the layout's zero value: empty bytes, or 0 (a state
    /// updater's placeholder for a key without a state).
    pub fn push_placeholder(&mut self) {
        match self {
            Column::Varlen(v) => v.push(&[]),
            Column::Int64(v) => v.push(0),
            Column::Float64(v) => v.push(0.0),
        }
    }

    /// Appends every value of `other`, which has the same layout.
    pub fn extend_from(&mut self, other: &Column) {
        match (self, other) {
            (Column::Varlen(to), Column::Varlen(from)) => {
                let base = to.data.len() as u32;
                to.data.extend_from_slice(&from.data);
                to.offsets
                    .extend(from.offsets.iter().skip(1).map(|&o| base + o));
            }
            (Column::Int64(to), Column::Int64(from)) => to.extend_from_slice(from),
            (Column::Float64(to), Column::Float64(from)) => to.extend_from_slice(from),
            _ => debug_assert!(false, "extend_from between different layouts"),
        }
    }

    /// The values at `indices`, in that order (indices are in range).
    pub fn gather(&self, indices: &[u32]) -> Column {
        match self {
            Column::Varlen(v) => {
                let bytes = indices.iter().map(|&i| v.get(i as usize).len()).sum();
                let mut out = Varlen::with_capacity(indices.len(), bytes);
                for &i in indices {
                    out.push(v.get(i as usize));
                }
                Column::Varlen(out)
            }
            Column::Int64(v) => Column::Int64(indices.iter().map(|&i| v[i as usize]).collect()),
            Column::Float64(v) => Column::Float64(indices.iter().map(|&i| v[i as usize]).collect()),
        }
    }

    /// A copy of the values in `range`, in bulk.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Column {
        match self {
            Column::Varlen(v) => {
                let (start, end) = (v.offsets[range.start], v.offsets[range.end]);
                let mut offsets = Vec::with_capacity(range.len() + 1);
                offsets.extend(
                    v.offsets[range.start..=range.end]
                        .iter()
                        .map(|&o| o - start),
                );
                Column::Varlen(Varlen {
                    data: v.data[start as usize..end as usize].to_vec(),
                    offsets,
                })
            }
            Column::Int64(v) => Column::Int64(v[range].to_vec()),
            Column::Float64(v) => Column::Float64(v[range].to_vec()),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Column::Varlen(v) => v.data.len(),
            Column::Int64(v) => v.len() * 8,
            Column::Float64(v) => v.len() * 8,
        }
    }

    /// Whether the column is well formed for `value_type`; `what` names its
    /// entries in the message ("key", "value", "state").
    pub(crate) fn validate(&self, value_type: ValueType, what: &str) -> Result<(), String> {
        match (self, value_type) {
            (Column::Varlen(v), t) if t.is_varlen() => validate_varlen(v, t, what),
            (Column::Int64(_), ValueType::Int64) | (Column::Float64(_), ValueType::Float64) => {
                Ok(())
            }
            (_, t) => Err(format!(
                "the {what} column has the wrong layout for declared type {}",
                t.name()
            )),
        }
    }
}

fn validate_varlen(v: &Varlen, value_type: ValueType, what: &str) -> Result<(), String> {
    let well_formed = v.offsets.first() == Some(&0)
        && v.offsets.last().map(|&end| end as usize) == Some(v.data.len())
        && v.offsets.windows(2).all(|w| w[0] <= w[1]);
    if !well_formed {
        return Err(format!(
            "the {what} column's offsets are malformed (they must start at 0, never decrease and end at the data length {})",
            v.data.len()
        ));
    }
    match value_type {
        ValueType::Text => {
            let text = std::str::from_utf8(&v.data)
                .map_err(|e| format!("the {what} column is not valid UTF-8: {e}"))?;
            if let Some(i) = v
                .offsets
                .iter()
                .position(|&o| !text.is_char_boundary(o as usize))
            {
                return Err(format!(
                    "{what} {i} starts or ends inside a UTF-8 character"
                ));
            }
        }
        ValueType::Json | ValueType::Composite(_) => {
            for i in 0..v.len() {
                serde_json::from_slice::<serde::de::IgnoredAny>(v.get(i))
                    .map_err(|e| format!("{what} {i} is not one JSON document: {e}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Key bytes, borrowed for variable-width keys and inline for numbers.
/// Keys of one column compare and hash by their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyBytes<'a> {
    /// A variable-width key.
    Slice(&'a [u8]),
    /// A number's 8 little-endian bytes.
    Fixed([u8; 8]),
}

impl KeyBytes<'_> {
    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Slice(s) => s,
            KeyBytes::Fixed(b) => b,
        }
    }
}

/// A batch of records in column layout: the unit every operator call takes.
#[derive(Clone, Debug, PartialEq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct Batch {
    /// The keys of a keyed stream.
    pub keys: Option<Column>,
    /// The values (the records themselves, for an unkeyed stream).
    pub values: Column,
}

impl Batch {
    /// An empty batch of `record_type`.
    pub fn empty(record_type: RecordType) -> Self {
        Batch {
            keys: record_type.key.map(Column::empty),
            values: Column::empty(record_type.value),
        }
    }

    /// An empty batch of `record_type` with room for `rows` records of
    /// `bytes` bytes per variable-width column.
    pub fn with_capacity(record_type: RecordType, rows: usize, bytes: usize) -> Self {
        Batch {
            keys: record_type
                .key
                .map(|k| Column::with_capacity(k, rows, bytes)),
            values: Column::with_capacity(record_type.value, rows, bytes),
        }
    }

    /// A batch of unkeyed text values.
    pub fn text<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut column = Varlen::with_capacity(0, 0);
        for value in values {
            column.push(value.as_bytes());
        }
        Batch {
            keys: None,
            values: Column::Varlen(column),
        }
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate size in bytes of the batch's data.
    pub fn byte_size(&self) -> usize {
        self.values.bytes() + self.keys.as_ref().map_or(0, Column::bytes)
    }

    /// The records at `indices`, in that order.
    pub fn gather(&self, indices: &[u32]) -> Batch {
        Batch {
            keys: self.keys.as_ref().map(|k| k.gather(indices)),
            values: self.values.gather(indices),
        }
    }

    /// Checks that the batch has the layout of `record_type`: well-formed
    /// offsets, equal column lengths, valid UTF-8 text and valid JSON.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong, for a plugin's invalid output.
    pub fn validate(&self, record_type: RecordType) -> Result<(), String> {
        match (&self.keys, record_type.key) {
            (Some(keys), Some(key_type)) => {
                keys.validate(key_type, "key")?;
                if keys.len() != self.values.len() {
                    return Err(format!(
                        "{} keys but {} values",
                        keys.len(),
                        self.values.len()
                    ));
                }
            }
            (None, None) => {}
            (Some(_), None) => return Err("keys given for an unkeyed output".into()),
            (None, Some(_)) => return Err("no keys given for a keyed output".into()),
        }
        self.values.validate(record_type.value, "value")
    }

    /// The records whose flag is `true`; `keep` has one flag per record.
    pub fn select(&self, keep: &[bool]) -> Batch {
        let kept = keep.iter().filter(|&&k| k).count();
        let pick = |column: &Column| {
            let mut out = match column {
                Column::Varlen(v) => Column::Varlen(Varlen::with_capacity(kept, v.data.len())),
                Column::Int64(_) => Column::Int64(Vec::with_capacity(kept)),
                Column::Float64(_) => Column::Float64(Vec::with_capacity(kept)),
            };
            for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
                out.push_from(column, i);
            }
            out
        };
        Batch {
            keys: self.keys.as_ref().map(pick),
            values: pick(&self.values),
        }
    }

    /// Appends every record of `other`, which has the same record type.
    pub fn extend_from(&mut self, other: &Batch) {
        if let (Some(to), Some(from)) = (&mut self.keys, &other.keys) {
            to.extend_from(from);
        }
        self.values.extend_from(&other.values);
    }

    /// A copy of the records in `range`, in bulk.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Batch {
        Batch {
            keys: self.keys.as_ref().map(|keys| keys.slice(range.clone())),
            values: self.values.slice(range),
        }
    }

    /// Splits an unkeyed or keyed batch into `parts` contiguous batches of
    /// about the same byte size (the input partitions of a batch). Each
    /// part is copied in bulk; `self` is dropped once all are cut.
    pub fn split(self, parts: usize) -> Vec<Batch> {
        let parts = parts.max(1);
        let n = self.len();
        let record_type = self.record_type();
        if parts == 1 || n == 0 {
            let mut out = vec![self];
            out.resize_with(parts, || Batch::empty(record_type));
            return out;
        }
        let total = (0..n).map(|i| self.record_bytes(i)).sum::<usize>().max(1);
        let mut out: Vec<Batch> = Vec::with_capacity(parts);
        let mut start = 0;
        let mut done_bytes = 0usize;
        for i in 0..n {
            let target = total * (out.len() + 1) / parts;
            if done_bytes >= target && out.len() + 1 < parts {
                out.push(self.slice(start..i));
                start = i;
            }
            done_bytes += self.record_bytes(i);
        }
        out.push(self.slice(start..n));
        out.resize_with(parts, || Batch::empty(record_type));
        out
    }

    /// The records of `parts` (all of `record_type`) in one batch,
    /// allocated once; each part is freed as soon as it is copied, and a
    /// single part is returned as it is.
    pub fn concat(parts: Vec<Batch>, record_type: RecordType) -> Batch {
        if parts.len() == 1 {
            return parts
                .into_iter()
                .next()
                .unwrap_or_else(|| Batch::empty(record_type));
        }
        let rows = parts.iter().map(Batch::len).sum();
        let bytes = parts.iter().map(Batch::byte_size).sum();
        let mut out = Batch::with_capacity(record_type, rows, bytes);
        for part in parts {
            out.extend_from(&part);
        }
        out
    }

    fn record_bytes(&self, i: usize) -> usize {
        let size = |c: &Column| match c {
            Column::Varlen(v) => (v.offsets[i + 1] - v.offsets[i]) as usize + 1,
            _ => 8,
        };
        size(&self.values) + self.keys.as_ref().map_or(0, size)
    }

    /// Whether `other` holds the same records, in any order (a reducer's
    /// output order is not part of its meaning).
    pub fn same_records_any_order(&self, other: &Batch) -> bool {
        if self.len() != other.len() || self.keys.is_some() != other.keys.is_some() {
            return false;
        }
        let (a, b) = (self.sorted_records(), other.sorted_records());
        a.iter().zip(&b).all(|(x, y)| {
            x.0.as_ref().map(KeyBytes::as_slice) == y.0.as_ref().map(KeyBytes::as_slice)
                && x.1.as_slice() == y.1.as_slice()
        })
    }

    /// The records' key and value bytes, sorted.
    fn sorted_records(&self) -> Vec<(Option<KeyBytes<'_>>, KeyBytes<'_>)> {
        let mut records: Vec<(Option<KeyBytes<'_>>, KeyBytes<'_>)> = (0..self.len())
            .map(|i| {
                (
                    self.keys.as_ref().map(|k| k.key_bytes(i)),
                    self.values.key_bytes(i),
                )
            })
            .collect();
        records.sort_unstable_by(|a, b| {
            a.0.as_ref()
                .map(KeyBytes::as_slice)
                .cmp(&b.0.as_ref().map(KeyBytes::as_slice))
                .then_with(|| a.1.as_slice().cmp(b.1.as_slice()))
        });
        records
    }

    /// The record type the layout suggests (text for variable-width
    /// columns); exact types come from the plan.
    fn record_type(&self) -> RecordType {
        RecordType {
            key: self.keys.as_ref().map(Column::layout_type),
            value: self.values.layout_type(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_record_in_order() {
        let batch = Batch::text(["a", "bb", "ccc", "dddd", "e"]);
        let parts = batch.clone().split(3);
        assert_eq!(parts.len(), 3);
        let mut joined = Batch::text([]);
        for part in &parts {
            assert!(!part.is_empty());
            joined.extend_from(part);
        }
        assert_eq!(joined, batch);
    }

    fn keyed(pairs: &[(&str, i64)]) -> Batch {
        let mut keys = Varlen::with_capacity(0, 0);
        for (key, _) in pairs {
            keys.push(key.as_bytes());
        }
        Batch {
            keys: Some(Column::Varlen(keys)),
            values: Column::Int64(pairs.iter().map(|(_, v)| *v).collect()),
        }
    }

    #[test]
    fn same_records_in_any_order_ignores_order_only() {
        let a = keyed(&[("x", 1), ("y", 2), ("x", 3)]);
        assert!(a.same_records_any_order(&keyed(&[("x", 3), ("x", 1), ("y", 2)])));
        assert!(!a.same_records_any_order(&keyed(&[("x", 3), ("x", 1), ("y", 3)])));
        assert!(!a.same_records_any_order(&keyed(&[("x", 1), ("y", 2)])));
        assert!(!a.same_records_any_order(&Batch::text(["x", "y", "x"])));
        assert!(Batch::text(["b", "a"]).same_records_any_order(&Batch::text(["a", "b"])));
    }

    #[test]
    fn split_of_a_small_batch_pads_with_empty_partitions() {
        let parts = Batch::text(["only"]).split(4);
        assert_eq!(
            parts.iter().map(Batch::len).collect::<Vec<_>>(),
            [1, 0, 0, 0]
        );
    }

    #[test]
    fn validate_names_what_is_wrong() {
        let bad = Batch {
            keys: None,
            values: Column::Varlen(Varlen {
                data: b"abc".to_vec(),
                offsets: vec![0, 2, 1, 3],
            }),
        };
        let err = bad.validate(RecordType::TEXT).unwrap_err();
        assert!(err.contains("offsets are malformed"), "{err}");
        let split_char = Batch {
            keys: None,
            values: Column::Varlen(Varlen {
                data: "é".as_bytes().to_vec(),
                offsets: vec![0, 1, 2],
            }),
        };
        assert_eq!(
            split_char.validate(RecordType::TEXT).unwrap_err(),
            "value 1 starts or ends inside a UTF-8 character"
        );
        let keyed = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Int64,
        };
        let short = Batch {
            keys: Some(Column::Varlen(Varlen {
                data: b"a".to_vec(),
                offsets: vec![0, 1],
            })),
            values: Column::Int64(vec![1, 2]),
        };
        assert_eq!(short.validate(keyed).unwrap_err(), "1 keys but 2 values");
    }

    #[test]
    fn select_keeps_flagged_records() {
        let batch = Batch::text(["a", "b", "c"]);
        assert_eq!(batch.select(&[true, false, true]), Batch::text(["a", "c"]));
    }
}

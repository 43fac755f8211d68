//! The batch loops behind the attribute macros. Not a public API: the
//! macros call these functions, and their signatures may change.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rustc_hash::FxBuildHasher;

use crate::Params;
use crate::bindings::types::{Batch, Column, Error, Param, RecordType, Signature};
use crate::column::{VarlenBuilder, VarlenView, error};
use crate::value::{Input, InputRecord, MapOutput, OutputRecord};

/// A plugin's `init` function.
pub type InitFn = fn(&Params) -> Result<(), String>;

/// Runs the plugin's `init` function, then refuses parameters it never read.
pub fn init(params: Vec<Param>, f: Option<InitFn>) -> Result<(), Error> {
    let params = Params::new(params);
    if let Some(f) = f {
        f(&params).map_err(error)?;
    }
    let unread = params.unread();
    if unread.is_empty() {
        Ok(())
    } else if f.is_none() {
        Err(error(format!(
            "this plugin takes no parameters, but was given: {}",
            unread.join(", ")
        )))
    } else {
        Err(error(format!("unknown parameters: {}", unread.join(", "))))
    }
}

/// The declared types of a `#[map]` function.
pub fn map_signature<I: InputRecord<'static>, O: MapOutput>(_f: &impl Fn(I) -> O) -> Signature {
    Signature {
        input: I::TYPE,
        output: O::Record::TYPE,
    }
}

/// The declared types of a `#[flat_map]` function.
pub fn flat_map_signature<I: InputRecord<'static>, It>(_f: &impl Fn(I) -> It) -> Signature
where
    It: IntoIterator,
    It::Item: OutputRecord,
{
    Signature {
        input: I::TYPE,
        output: It::Item::TYPE,
    }
}

/// The declared types of a `#[filter]` function.
pub fn filter_signature<I: InputRecord<'static>>(_f: &impl Fn(I) -> bool) -> Signature {
    Signature {
        input: I::TYPE,
        output: I::TYPE,
    }
}

/// The declared types of a `#[reduce]` function: any key type, compared
/// byte for byte (declared as `key: none`), and values of type `V`.
pub fn reduce_signature<V: Input<'static>>(_f: &impl Fn(V, V) -> V) -> Signature {
    let record = RecordType {
        key: None,
        value: V::TYPE,
    };
    Signature {
        input: record,
        output: record,
    }
}

fn bytes_hint(batch: &Batch) -> usize {
    match &batch.values {
        Column::Varlen(v) => v.data.len(),
        Column::Int64(v) => v.len() * 8,
        Column::Float64(v) => v.len() * 8,
    }
}

/// Applies a `#[map]` function to every record.
pub fn map<'a, I: InputRecord<'a>, O: MapOutput>(
    input: &'a Batch,
    f: impl Fn(I) -> O,
) -> Result<Batch, Error> {
    let view = I::view(input)?;
    let n = I::len(&view);
    let mut out = O::Record::builder(n, bytes_hint(input));
    for i in 0..n {
        match f(I::get(&view, i)).into_record() {
            Ok(record) => record.push(&mut out),
            Err(message) => {
                return Err(Error {
                    message,
                    record_index: Some(i as u32),
                });
            }
        }
    }
    O::Record::finish(out)
}

/// Applies a `#[flat_map]` function to every record.
pub fn flat_map<'a, I: InputRecord<'a>, It>(
    input: &'a Batch,
    f: impl Fn(I) -> It,
) -> Result<Batch, Error>
where
    It: IntoIterator,
    It::Item: OutputRecord,
{
    let view = I::view(input)?;
    let n = I::len(&view);
    let mut out = It::Item::builder(n, bytes_hint(input));
    for i in 0..n {
        for record in f(I::get(&view, i)) {
            record.push(&mut out);
        }
    }
    It::Item::finish(out)
}

/// Applies a `#[filter]` predicate to every record.
pub fn filter<'a, I: InputRecord<'a>>(
    input: &'a Batch,
    f: impl Fn(I) -> bool,
) -> Result<Vec<bool>, Error> {
    let view = I::view(input)?;
    Ok((0..I::len(&view)).map(|i| f(I::get(&view, i))).collect())
}

/// The keys of a batch, each seen as bytes, whatever its column type.
enum KeyBytes<'a> {
    Varlen(VarlenView<'a>),
    Fixed(&'a [u8]),
}

impl<'a> KeyBytes<'a> {
    fn new(column: &'a Column) -> Result<Self, Error> {
        Ok(match column {
            Column::Varlen(_) => Self::Varlen(VarlenView::new(column, "key column")?),
            Column::Int64(v) => Self::Fixed(as_bytes(v)),
            Column::Float64(v) => Self::Fixed(as_bytes(v)),
        })
    }

    #[inline]
    fn get(&self, i: usize) -> &'a [u8] {
        match self {
            Self::Varlen(view) => view.get(i),
            Self::Fixed(bytes) => &bytes[i * 8..i * 8 + 8],
        }
    }

    fn rebuild(&self, column: &Column, firsts: &[u32]) -> Result<Column, Error> {
        Ok(match (self, column) {
            (Self::Varlen(view), _) => {
                let mut keys = VarlenBuilder::with_capacity(firsts.len(), view.data().len());
                for &i in firsts {
                    keys.push(view.get(i as usize));
                }
                keys.finish()?
            }
            (_, Column::Int64(v)) => Column::Int64(firsts.iter().map(|&i| v[i as usize]).collect()),
            (_, Column::Float64(v)) => {
                Column::Float64(firsts.iter().map(|&i| v[i as usize]).collect())
            }
            (Self::Fixed(_), Column::Varlen(_)) => unreachable!("fixed keys come from numbers"),
        })
    }
}

fn as_bytes<T: Copy>(values: &[T]) -> &[u8] {
    // SAFETY: i64 and f64 have no padding and every bit pattern is a valid u8.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

/// Combines the values of equal keys with a `#[reduce]` function.
pub fn combine<'a, V>(input: &'a Batch, f: impl Fn(V, V) -> V) -> Result<Batch, Error>
where
    V: Input<'a> + crate::value::Output,
{
    let key_column = input
        .keys
        .as_ref()
        .ok_or_else(|| error("reduce_by_key needs a keyed stream"))?;
    let keys = KeyBytes::new(key_column)?;
    let values = V::view(&input.values)?;
    let n = V::len(&values);
    // Each entry keeps its key's first record (to copy the key out) beside
    // the running value, so a lookup touches one bucket.
    let mut combined: HashMap<&[u8], (u32, V), FxBuildHasher> =
        HashMap::with_capacity_and_hasher(n.min(1 << 16), FxBuildHasher);
    for i in 0..n {
        let value = V::get(&values, i);
        match combined.entry(keys.get(i)) {
            Entry::Occupied(mut slot) => {
                let acc = &mut slot.get_mut().1;
                *acc = f(*acc, value);
            }
            Entry::Vacant(slot) => {
                slot.insert((i as u32, value));
            }
        }
    }
    // Keys come out in the order they first appeared: deterministic, and
    // what a reader of `pprint` expects.
    let mut entries: Vec<(u32, V)> = combined.into_values().collect();
    entries.sort_unstable_by_key(|(first, _)| *first);
    let mut firsts: Vec<u32> = Vec::with_capacity(entries.len());
    let mut out = <V as crate::value::Output>::Builder::with_capacity_for(entries.len());
    for (first, value) in entries {
        firsts.push(first);
        value.push(&mut out);
    }
    Ok(Batch {
        keys: Some(keys.rebuild(key_column, &firsts)?),
        values: crate::value::ColumnBuilder::finish(out)?,
    })
}

/// Sizing shortcut for builders whose byte size is unknown up front.
trait WithCapacityFor {
    fn with_capacity_for(values: usize) -> Self;
}

impl<B: crate::value::ColumnBuilder> WithCapacityFor for B {
    fn with_capacity_for(values: usize) -> Self {
        B::with_capacity(values, values * 8)
    }
}

//! The batch loops behind the attribute macros. Not a public API: the
//! macros call these functions, and their signatures may change.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rustc_hash::FxBuildHasher;

use crate::Params;
use crate::bindings::types::{
    Batch, Column, Error, MappingBatch, Param, RecordType, Signature, StateBatch, StateMapping,
    StateUpdate,
};
use crate::column::{VarlenBuilder, VarlenView, error};
use crate::state::{State, StateValue};
use crate::value::{ColumnBuilder, Input, InputRecord, MapOutput, Output, OutputRecord};

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

/// Applies an `#[inverse_reduce]` function to every (total, leaving) pair.
pub fn uncombine<'a, V>(
    totals: &'a Column,
    leaving: &'a Column,
    f: impl Fn(V, V) -> V,
) -> Result<Column, Error>
where
    V: Input<'a> + Output,
{
    let totals = V::view(totals)?;
    let leaving = V::view(leaving)?;
    let n = V::len(&totals);
    if V::len(&leaving) != n {
        return Err(error(format!(
            "{n} totals but {} leaving values",
            V::len(&leaving)
        )));
    }
    let mut out = <V as Output>::Builder::with_capacity(n, n * 8);
    for i in 0..n {
        Output::push(f(V::get(&totals, i), V::get(&leaving, i)), &mut out);
    }
    out.finish()
}

/// The declared types of a `#[map_with_state]` function: keys of type `K`,
/// values of type `V`, and its output records.
pub fn map_with_state_signature<K, V, S, O>(
    _f: &impl Fn(K, Option<V>, &mut State<S>) -> O,
) -> Signature
where
    K: Input<'static>,
    V: Input<'static>,
    S: StateValue,
    O: OutputRecord,
{
    Signature {
        input: RecordType {
            key: Some(K::TYPE),
            value: V::TYPE,
        },
        output: O::TYPE,
    }
}

/// The state type of a `#[map_with_state]` function.
pub fn map_with_state_state_type<K, V, S, O>(
    _f: &impl Fn(K, Option<V>, &mut State<S>) -> O,
) -> crate::bindings::types::ValueType
where
    S: StateValue,
{
    State::<S>::TYPE
}

/// Applies a `#[map_with_state]` function: for each key in order, to each
/// of its values in order (or once with `None` for a key timing out), with
/// the key's state; the states it leaves are the keys' new states.
pub fn map_with_state<'a, K, V, S, O>(
    input: &'a MappingBatch,
    f: impl Fn(K, Option<V>, &mut State<S>) -> O,
) -> Result<StateMapping, Error>
where
    K: Input<'a>,
    V: Input<'a>,
    S: StateValue,
    O: OutputRecord,
{
    let batch = &input.state;
    let keys = K::view(&batch.keys)?;
    let values = V::view(&batch.values)?;
    let states = <S::Borrowed<'a> as Input<'a>>::view(&batch.states)?;
    let n = K::len(&keys);
    let groups = &batch.groups;
    let well_formed = groups.len() == n + 1
        && batch.has_state.len() == n
        && input.timing_out.len() == n
        && <S::Borrowed<'a> as Input<'a>>::len(&states) == n
        && groups.first() == Some(&0)
        && groups.last().map(|&end| end as usize) == Some(V::len(&values))
        && groups.windows(2).all(|w| w[0] <= w[1]);
    if !well_formed {
        return Err(error(format!(
            "malformed mapping batch: {n} keys, {} groups, {} flags",
            groups.len(),
            batch.has_state.len()
        )));
    }
    let timing_out = input.timing_out.iter().filter(|&&t| t).count();
    let mut mapped = O::builder(V::len(&values) + timing_out, bytes_of(&batch.values));
    let mut new_states = S::Builder::with_capacity(n, bytes_of(&batch.states));
    let mut keep: Vec<bool> = Vec::with_capacity(n);
    for i in 0..n {
        let key = K::get(&keys, i);
        let previous = batch.has_state[i]
            .then(|| S::from_input(<S::Borrowed<'a> as Input<'a>>::get(&states, i)));
        let mut state = State::new(previous, input.timing_out[i]);
        if input.timing_out[i] {
            f(key, None, &mut state).push(&mut mapped);
        } else {
            for j in groups[i] as usize..groups[i + 1] as usize {
                f(key, Some(V::get(&values, j)), &mut state).push(&mut mapped);
            }
        }
        match state.into_value() {
            Some(value) if !input.timing_out[i] => {
                Output::push(value, &mut new_states);
                keep.push(true);
            }
            _ => {
                new_states.push_placeholder();
                keep.push(false);
            }
        }
    }
    Ok(StateMapping {
        update: StateUpdate {
            states: new_states.finish()?,
            keep,
        },
        mapped: O::finish(mapped)?,
    })
}

/// The declared types of an `#[update_state]` function: any key type
/// (`key: none`), values of type `V`, states of type `S` (taken borrowed,
/// given back owned: `Option<&str>` in, `Option<String>` out).
pub fn update_state_signature<V, S>(
    _f: &impl Fn(&[V], Option<S::Borrowed<'static>>) -> Option<S>,
) -> Signature
where
    V: Input<'static>,
    S: StateValue,
{
    Signature {
        input: RecordType {
            key: None,
            value: V::TYPE,
        },
        output: RecordType {
            key: None,
            value: S::TYPE,
        },
    }
}

/// Applies an `#[update_state]` function to every key of the partition:
/// its new values (in arrival order) and previous state in, its new state
/// (or `None`, to remove it) out.
pub fn update_state<'a, V, S>(
    input: &'a StateBatch,
    f: impl Fn(&[V], Option<S::Borrowed<'a>>) -> Option<S>,
) -> Result<StateUpdate, Error>
where
    V: Input<'a>,
    S: StateValue,
{
    let values = V::view(&input.values)?;
    let states = <S::Borrowed<'a> as Input<'a>>::view(&input.states)?;
    let keys = <S::Borrowed<'a> as Input<'a>>::len(&states);
    let groups = &input.groups;
    let well_formed = groups.len() == keys + 1
        && input.has_state.len() == keys
        && groups.first() == Some(&0)
        && groups.last().map(|&end| end as usize) == Some(V::len(&values))
        && groups.windows(2).all(|w| w[0] <= w[1]);
    if !well_formed {
        return Err(error(format!(
            "malformed state batch: {keys} states, {} groups, {} flags",
            groups.len(),
            input.has_state.len()
        )));
    }
    let mut out = S::Builder::with_capacity(keys, bytes_of(&input.states));
    let mut keep: Vec<bool> = Vec::with_capacity(keys);
    // One buffer for every key's values: no allocation per key.
    let mut new: Vec<V> = Vec::new();
    for i in 0..keys {
        let previous = input.has_state[i].then(|| <S::Borrowed<'a> as Input<'a>>::get(&states, i));
        new.clear();
        new.extend((groups[i] as usize..groups[i + 1] as usize).map(|j| V::get(&values, j)));
        match f(&new, previous) {
            Some(state) => {
                Output::push(state, &mut out);
                keep.push(true);
            }
            None => {
                out.push_placeholder();
                keep.push(false);
            }
        }
    }
    Ok(StateUpdate {
        states: out.finish()?,
        keep,
    })
}

fn bytes_of(column: &Column) -> usize {
    match column {
        Column::Varlen(v) => v.data.len(),
        Column::Int64(v) => v.len() * 8,
        Column::Float64(v) => v.len() * 8,
    }
}

fn bytes_hint(batch: &Batch) -> usize {
    bytes_of(&batch.values)
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

/// A key's bytes in the combine's hash map: hashed as one byte string, and
/// compared inline, eight bytes at a time (in WebAssembly, a call to
/// `memcmp` is a byte loop, and keys are short).
#[derive(Clone, Copy)]
struct Key<'a>(&'a [u8]);

impl PartialEq for Key<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        bytes_equal(self.0, other.0)
    }
}

impl Eq for Key<'_> {}

impl std::hash::Hash for Key<'_> {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// Whether `a` and `b` hold the same bytes, compared in words.
#[inline(always)]
fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8.. => {
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            // The last word, overlapping the one before when n is no
            // multiple of 8.
            word(a, n - 8) == word(b, n - 8)
        }
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        0 => true,
    }
}

/// The 8 bytes of `s` from `at`, as one number.
#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// The 4 bytes of `s` from `at`, as one number.
#[inline(always)]
fn half(s: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&s[at..at + 4]);
    u32::from_le_bytes(bytes)
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
    let mut combined: HashMap<Key<'_>, (u32, V), FxBuildHasher> =
        HashMap::with_capacity_and_hasher(n.min(1 << 16), FxBuildHasher);
    for i in 0..n {
        let value = V::get(&values, i);
        match combined.entry(Key(keys.get(i))) {
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

#[cfg(test)]
mod tests {
    use super::bytes_equal;

    #[test]
    fn keys_compare_equal_only_when_every_byte_is() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for n in 0..text.len() {
            let a = &text[..n];
            let copy = a.to_vec();
            assert!(bytes_equal(a, &copy), "{n}");
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!bytes_equal(a, &b), "{n} {at}");
            }
            assert!(!bytes_equal(a, &text[..n + 1]), "{n}");
        }
    }
}

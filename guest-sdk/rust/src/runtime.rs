//! The batch loops behind the attribute macros. Not a public API: the
//! macros call these functions, and their signatures may change.

use crate::Params;
use crate::bindings::flat_map_values_operator::exports::sluice::operator::value_flat_mapper::ValueExpansion;
use crate::bindings::types::{
    Batch, Column, Error, MappingBatch, Param, RecordType, Signature, StateBatch, StateMapping,
    StateUpdate, ValueGroups,
};
use crate::column::{error, flag_bytes, flags, u32s};
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
    records_to_records::<I, It::Item>()
}

/// The declared types of a `#[flat_map_batch]` function.
pub fn flat_map_batch_signature<I: InputRecord<'static>, It>(
    _f: &impl Fn(Vec<I>) -> It,
) -> Signature
where
    It: IntoIterator,
    It::Item: OutputRecord,
{
    records_to_records::<I, It::Item>()
}

/// The signature of an operator taking records `I` and giving records `O`.
fn records_to_records<I: InputRecord<'static>, O: OutputRecord>() -> Signature {
    Signature {
        input: I::TYPE,
        output: O::TYPE,
    }
}

/// The declared types of a `#[flat_map_values]` function: values of type
/// `V` in, values of the iterator's item type out (keys stay with the
/// host).
pub fn flat_map_values_signature<V: Input<'static>, It>(_f: &impl Fn(V) -> It) -> Signature
where
    It: IntoIterator,
    It::Item: Output,
{
    Signature {
        input: RecordType {
            key: None,
            value: V::TYPE,
        },
        output: RecordType {
            key: None,
            value: <It::Item as Output>::TYPE,
        },
    }
}

/// Applies a `#[flat_map_values]` function to every value, counting what
/// each gives so the host can put the outputs on their keys.
pub fn expand_values<'a, V: Input<'a>, It>(
    values: &'a Column,
    f: impl Fn(V) -> It,
) -> Result<ValueExpansion, Error>
where
    It: IntoIterator,
    It::Item: Output,
{
    let view = V::view(values)?;
    let n = V::len(&view);
    let mut out = <It::Item as Output>::Builder::with_capacity(n, bytes_of(values));
    let mut counts = Vec::with_capacity(4 * n);
    for i in 0..n {
        let mut count = 0u32;
        for value in f(V::get(&view, i)) {
            Output::push(value, &mut out);
            count = count.saturating_add(1);
        }
        counts.extend_from_slice(&count.to_le_bytes());
    }
    Ok(ValueExpansion {
        values: out.finish()?,
        counts,
    })
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
    let groups = u32s(&batch.groups, "groups")?;
    let has_state = flags(&batch.has_state);
    let timing_out_flags = flags(&input.timing_out);
    let well_formed = groups.len() == n + 1
        && has_state.len() == n
        && timing_out_flags.len() == n
        && <S::Borrowed<'a> as Input<'a>>::len(&states) == n
        && groups.first() == Some(&0)
        && groups.last().map(|&end| end as usize) == Some(V::len(&values))
        && groups.windows(2).all(|w| w[0] <= w[1]);
    if !well_formed {
        return Err(error(format!(
            "malformed mapping batch: {n} keys, {} groups, {} flags",
            groups.len(),
            has_state.len()
        )));
    }
    let timing_out = timing_out_flags.iter().filter(|&&t| t).count();
    let mut mapped = O::builder(V::len(&values) + timing_out, bytes_of(&batch.values));
    let mut new_states = S::Builder::with_capacity(n, bytes_of(&batch.states));
    let mut keep: Vec<bool> = Vec::with_capacity(n);
    for i in 0..n {
        let key = K::get(&keys, i);
        let previous =
            has_state[i].then(|| S::from_input(<S::Borrowed<'a> as Input<'a>>::get(&states, i)));
        let mut state = State::new(previous, timing_out_flags[i]);
        if timing_out_flags[i] {
            f(key, None, &mut state).push(&mut mapped);
        } else {
            for j in groups[i] as usize..groups[i + 1] as usize {
                f(key, Some(V::get(&values, j)), &mut state).push(&mut mapped);
            }
        }
        match state.into_value() {
            Some(value) if !timing_out_flags[i] => {
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
            keep: flag_bytes(keep),
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
    let groups = u32s(&input.groups, "groups")?;
    let has_state = flags(&input.has_state);
    let well_formed = groups.len() == keys + 1
        && has_state.len() == keys
        && groups.first() == Some(&0)
        && groups.last().map(|&end| end as usize) == Some(V::len(&values))
        && groups.windows(2).all(|w| w[0] <= w[1]);
    if !well_formed {
        return Err(error(format!(
            "malformed state batch: {keys} states, {} groups, {} flags",
            groups.len(),
            has_state.len()
        )));
    }
    let mut out = S::Builder::with_capacity(keys, bytes_of(&input.states));
    let mut keep: Vec<bool> = Vec::with_capacity(keys);
    // One buffer for every key's values: no allocation per key.
    let mut new: Vec<V> = Vec::new();
    for i in 0..keys {
        let previous = has_state[i].then(|| <S::Borrowed<'a> as Input<'a>>::get(&states, i));
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
        keep: flag_bytes(keep),
    })
}

fn bytes_of(column: &Column) -> usize {
    match column {
        Column::Varlen(v) => v.data.len(),
        Column::Int64(v) | Column::Float64(v) => v.len(),
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

/// Applies a `#[flat_map_batch]` function to the batch's records, all at
/// once.
pub fn flat_map_batch<'a, I: InputRecord<'a>, It>(
    input: &'a Batch,
    f: impl Fn(Vec<I>) -> It,
) -> Result<Batch, Error>
where
    It: IntoIterator,
    It::Item: OutputRecord,
{
    let view = I::view(input)?;
    let records: Vec<I> = (0..I::len(&view)).map(|i| I::get(&view, i)).collect();
    let output = f(records).into_iter();
    let mut out = It::Item::builder(output.size_hint().0, bytes_hint(input));
    for record in output {
        record.push(&mut out);
    }
    It::Item::finish(out)
}

/// Applies a `#[filter]` predicate to every record.
pub fn filter<'a, I: InputRecord<'a>>(
    input: &'a Batch,
    f: impl Fn(I) -> bool,
) -> Result<Vec<u8>, Error> {
    let view = I::view(input)?;
    Ok(flag_bytes((0..I::len(&view)).map(|i| f(I::get(&view, i)))))
}

/// Folds each group of values with a `#[reduce]` function, in order: the
/// host grouped them by key and puts each result back on its key.
pub fn combine<'a, V>(input: &'a ValueGroups, f: impl Fn(V, V) -> V) -> Result<Column, Error>
where
    V: Input<'a> + Output,
{
    let values = V::view(&input.values)?;
    let groups = u32s(&input.groups, "groups")?;
    let n = groups.len().saturating_sub(1);
    let well_formed = groups.first() == Some(&0)
        && groups.last().map(|&end| end as usize) == Some(V::len(&values))
        && groups.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return Err(error(format!(
            "malformed value groups: {} offsets for {} values",
            groups.len(),
            V::len(&values)
        )));
    }
    let mut out = <V as Output>::Builder::with_capacity(n, n * 8);
    for g in groups.windows(2) {
        let (start, end) = (g[0] as usize, g[1] as usize);
        let mut acc = V::get(&values, start);
        for i in start + 1..end {
            acc = f(acc, V::get(&values, i));
        }
        Output::push(acc, &mut out);
    }
    out.finish()
}

/// The declared record type of a `#[sink]` function.
pub fn sink_record_type<R, E>(
    _f: &impl Fn(&crate::SinkBatch, Vec<R>) -> Result<(), E>,
) -> RecordType
where
    R: InputRecord<'static>,
{
    R::TYPE
}

/// Applies a `#[sink]` function to the records of one partition batch.
pub fn sink<'a, R, E>(
    info: &crate::SinkBatch,
    input: &'a Batch,
    f: impl Fn(&crate::SinkBatch, Vec<R>) -> Result<(), E>,
) -> Result<(), Error>
where
    R: InputRecord<'a>,
    E: std::fmt::Display,
{
    let view = R::view(input)?;
    let records = (0..R::len(&view)).map(|i| R::get(&view, i)).collect();
    f(info, records).map_err(|e| error(e.to_string()))
}

//! The per-batch transforms the host runs itself, as Spark programs write
//! them with `transform(lambda rdd: ...)`: `sort_by_key`, `sort_by`, `top`,
//! `take_ordered`, `distinct` and `sample`.
//!
//! They take the whole batch: each runs as a *global* operator (see
//! [`crate::config::Shape::Global`]): a call per partition (a partial top
//! N, the partition's distinct records, its sample), then one call on the
//! partials gathered, whose result is the batch's single output partition.
//! A batch is bounded by the source's batch limits (`max_batch_mib`,
//! `buffer_mib`), so sorting it in memory is bounded too.
//!
//! Ordering follows Python's: numbers by value (floats in IEEE total order,
//! so NaN sorts last), text by code point (its UTF-8 bytes), bytes and JSON
//! text byte by byte, composite values (a join's pairs, a group's lists) as
//! Python orders tuples and lists; a keyed record orders by key, then
//! value, as a tuple does. Sorts are stable.

use std::cmp::Ordering;

use crate::batch::{Batch, Column, ValueType, Varlen};
use crate::error::{CallSite, Error, Phase};
use crate::grouping::rows_by_key;
use crate::operator::Operator;

/// What a record is ordered by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderBy {
    /// The whole record: key, then value (PySpark's natural order).
    #[default]
    Record,
    /// The key.
    Key,
    /// The value.
    Value,
}

/// One of the per-batch transforms, with its settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transform {
    /// Every record, ordered (`sort_by_key`, `sort_by`).
    Sort {
        /// What it sorts by.
        by: OrderBy,
        /// Smallest first.
        ascending: bool,
        /// Whether the values are composite (ordered as Python orders
        /// tuples and lists).
        composite: bool,
    },
    /// The `num` first records in order: `top` (largest first) or
    /// `take_ordered` (smallest first).
    First {
        /// How many.
        num: usize,
        /// What it orders by.
        by: OrderBy,
        /// Smallest first (`take_ordered`).
        ascending: bool,
        /// Whether the values are composite.
        composite: bool,
    },
    /// Each record once, in order of first appearance.
    Distinct,
    /// Each record kept with probability `fraction`, decided by a hash of
    /// `seed`, the partition and the record's place in it: the same input
    /// and seed give the same sample.
    Sample {
        /// The share kept, 0 to 1.
        fraction: f64,
        /// The seed.
        seed: u64,
    },
}

impl Operator for Transform {
    fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        let whole = site.phase != Phase::BeforeExchange;
        Ok(match *self {
            Transform::Sort {
                by,
                ascending,
                composite,
            } if whole => input.gather(&ordered(input, (by, composite), ascending, input.len())),
            // The sort is done once, on the whole batch.
            Transform::Sort { .. } => input.clone(),
            Transform::First {
                num,
                by,
                ascending,
                composite,
            } => input.gather(&ordered(input, (by, composite), ascending, num)),
            Transform::Distinct => {
                let distinct = rows_by_key(&Column::empty(ValueType::Bytes), &record_bytes(input));
                input.gather(&distinct.new_keys)
            }
            Transform::Sample { .. } if whole => input.clone(),
            Transform::Sample { fraction, seed } => {
                let threshold = (fraction * u64::MAX as f64) as u64;
                let keep: Vec<bool> = (0..input.len())
                    .map(|i| {
                        let place = ((site.partition as u64) << 40) ^ i as u64;
                        fraction >= 1.0
                            || xxhash_rust::xxh3::xxh3_64_with_seed(&place.to_le_bytes(), seed)
                                < threshold
                    })
                    .collect();
                input.select(&keep)
            }
        })
    }
}

/// The indices of the first `num` records of `batch` in order, by `by`;
/// `composite`: the values are composite JSON (see [`crate::types`]).
fn ordered(
    batch: &Batch,
    (by, composite): (OrderBy, bool),
    ascending: bool,
    num: usize,
) -> Vec<u32> {
    let mut indices: Vec<u32> = (0..batch.len() as u32).collect();
    // Composite values are read once, not at every comparison.
    let parsed: Option<Vec<serde_json::Value>> = match (&batch.values, composite) {
        (Column::Varlen(values), true) if by != OrderBy::Key => Some(
            (0..values.len())
                .map(|i| serde_json::from_slice(values.get(i)).unwrap_or_default())
                .collect(),
        ),
        _ => None,
    };
    let compare_value = |a: usize, b: usize| match &parsed {
        Some(values) => python_order(&values[a], &values[b]),
        None => compare_values(&batch.values, a, b),
    };
    let compare = |a: &u32, b: &u32| {
        let (a, b) = (*a as usize, *b as usize);
        let order = match (by, &batch.keys) {
            (OrderBy::Key, Some(keys)) => compare_values(keys, a, b),
            (OrderBy::Record, Some(keys)) => {
                compare_values(keys, a, b).then_with(|| compare_value(a, b))
            }
            _ => compare_value(a, b),
        };
        if ascending { order } else { order.reverse() }
    };
    if num < indices.len() {
        // Only the first `num` need sorting.
        indices.select_nth_unstable_by(num, compare);
        indices.truncate(num);
        // Ties keep arrival order.
        indices.sort_by(|a, b| compare(a, b).then(a.cmp(b)));
    } else {
        indices.sort_by(compare);
    }
    indices
}

fn compare_values(column: &Column, a: usize, b: usize) -> Ordering {
    match column {
        Column::Int64(v) => v[a].cmp(&v[b]),
        Column::Float64(v) => v[a].total_cmp(&v[b]),
        Column::Varlen(v) => v.get(a).cmp(v.get(b)),
    }
}

/// Python's order of two composite values' parts: numbers by value, text
/// by code point, tuples and lists item by item, then by length. Where
/// Python refuses to compare (`None` with a number), `None` comes first,
/// then numbers, text, lists, and JSON objects by their text.
fn python_order(a: &serde_json::Value, b: &serde_json::Value) -> Ordering {
    use serde_json::Value;
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) | Value::Number(_) => 1,
            Value::String(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
        }
    }
    let number = |v: &Value| match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => 0.0,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => number(a).total_cmp(&number(b)),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| python_order(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ if rank(a) == 1 && rank(b) == 1 => number(a).total_cmp(&number(b)),
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Each record's bytes (key, then value), made unambiguous by the key's
/// length, for telling equal records.
fn record_bytes(batch: &Batch) -> Column {
    let mut out = Varlen::with_capacity(batch.len(), batch.byte_size() + 4 * batch.len());
    let mut record = Vec::new();
    for i in 0..batch.len() {
        record.clear();
        if let Some(keys) = &batch.keys {
            let key = keys.key_bytes(i);
            record.extend_from_slice(&(key.as_slice().len() as u32).to_le_bytes());
            record.extend_from_slice(key.as_slice());
        }
        record.extend_from_slice(batch.values.key_bytes(i).as_slice());
        out.push(&record);
    }
    Column::Varlen(out)
}

#[cfg(test)]
mod tests {
    use super::{OrderBy, Transform};
    use crate::batch::{Batch, Column};
    use crate::error::{CallSite, Phase};
    use crate::operator::Operator;

    fn site(phase: Phase, partition: usize) -> CallSite {
        CallSite {
            pipeline: "p".into(),
            stream: "s".into(),
            plugin: "t".into(),
            hash: "builtin".into(),
            batch_time: crate::time::BatchTime(0),
            partition,
            phase,
            shadow: false,
            attempt: 1,
        }
    }

    fn counts(pairs: &[(&str, i64)]) -> Batch {
        Batch {
            keys: Some(Batch::text(pairs.iter().map(|p| p.0)).values),
            values: Column::Int64(pairs.iter().map(|p| p.1).collect()),
        }
    }

    fn run(transform: Transform, parts: &[Batch]) -> Batch {
        let partials: Vec<Batch> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| transform.apply(p, &site(Phase::BeforeExchange, i)).unwrap())
            .collect();
        let all = Batch::concat(
            partials,
            crate::batch::RecordType {
                key: Some(crate::batch::ValueType::Text),
                value: crate::batch::ValueType::Int64,
            },
        );
        transform
            .apply(&all, &site(Phase::AfterExchange, 0))
            .unwrap()
    }

    #[test]
    fn sorts_tops_and_distinct_follow_python() {
        let parts = [
            counts(&[("b", 2), ("a", 5), ("c", 2)]),
            counts(&[("a", 5), ("d", 9), ("b", 1)]),
        ];
        let sorted = run(
            Transform::Sort {
                by: OrderBy::Key,
                ascending: true,
                composite: false,
            },
            &parts,
        );
        // Stable: equal keys keep arrival order.
        assert_eq!(
            sorted,
            counts(&[("a", 5), ("a", 5), ("b", 2), ("b", 1), ("c", 2), ("d", 9)])
        );
        let top = run(
            Transform::First {
                num: 2,
                by: OrderBy::Value,
                ascending: false,
                composite: false,
            },
            &parts,
        );
        assert_eq!(top, counts(&[("d", 9), ("a", 5)]));
        let first = run(
            Transform::First {
                num: 3,
                by: OrderBy::Record,
                ascending: true,
                composite: false,
            },
            &parts,
        );
        assert_eq!(first, counts(&[("a", 5), ("a", 5), ("b", 1)]));
        let distinct = run(Transform::Distinct, &parts);
        assert_eq!(
            distinct,
            counts(&[("b", 2), ("a", 5), ("c", 2), ("d", 9), ("b", 1)])
        );
    }

    #[test]
    fn composite_values_sort_as_python_sorts_tuples() {
        let pairs = Batch::text([
            "[10,\"a\"]",
            "[9,\"b\"]",
            "[null,\"c\"]",
            "[9,\"a\"]",
            "[9.5,\"z\"]",
        ]);
        let sorted = run(
            Transform::Sort {
                by: OrderBy::Record,
                ascending: true,
                composite: true,
            },
            std::slice::from_ref(&pairs),
        );
        assert_eq!(
            sorted,
            Batch::text([
                "[null,\"c\"]",
                "[9,\"a\"]",
                "[9,\"b\"]",
                "[9.5,\"z\"]",
                "[10,\"a\"]"
            ])
        );
    }

    #[test]
    fn a_sample_depends_on_the_seed_only() {
        let words: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        let part = counts(&words.iter().map(|w| (w.as_str(), 1)).collect::<Vec<_>>());
        let sample = |seed| {
            run(
                Transform::Sample {
                    fraction: 0.1,
                    seed,
                },
                std::slice::from_ref(&part),
            )
        };
        assert_eq!(sample(7), sample(7));
        assert_ne!(sample(7), sample(8));
        let n = sample(7).len();
        assert!((60..140).contains(&n), "{n} of 1000 at 0.1");
    }
}

//! The operators the host runs itself, with no plugin: `count`,
//! `count_by_value` and `group_by_key` (and their windows) and `window`.
//!
//! They implement [`Operator`] like a plugin does, so the executor runs
//! them in the same chains, exchanges and windows, under the same reports;
//! the call's phase says which half of the work is asked:
//!
//! - `count` (and `count_by_window`): per partition, the number of records
//!   (one `int64`); after the partitions are gathered (and over a window),
//!   their sum. An empty batch counts 0, as in Spark.
//! - `count_by_value`: per partition, (value, count) for each distinct
//!   value; after the exchange (and over a window), the counts of equal
//!   values summed. Values are equal when their bytes are (numbers by their
//!   bits), as keys are everywhere in Sluice: the exchange routes by those
//!   bytes.
//! - `window`, `repartition`: the records as they are (the executor keeps
//!   them for the window, or cuts them into the stream's partitions).
//! - `group_by_key` (and its window): per partition, (key, [values]) for
//!   each distinct key, the values in arrival order as one JSON list (see
//!   [`crate::types`]); after the exchange (and over a window), the lists
//!   of equal keys appended in partition (and batch) order, so a key's list
//!   follows the batch's record order whatever the partitions.

use std::sync::Arc;

use crate::batch::{Batch, Column};
use crate::config::StreamOp;
use crate::error::{CallSite, Error, Phase};
use crate::grouping::rows_by_key;
use crate::operator::Operator;

/// The host's operator for stream `spec`, or `None` when a plugin
/// implements it.
pub fn host_operator(spec: &crate::plan::StreamSpec) -> Option<Arc<dyn Operator>> {
    if let Some(transform) = spec.transform {
        return Some(Arc::new(transform));
    }
    match spec.op {
        StreamOp::Count | StreamOp::CountByWindow => Some(Arc::new(Count)),
        StreamOp::CountByValue | StreamOp::CountByValueAndWindow => Some(Arc::new(CountByValue)),
        StreamOp::Window | StreamOp::Repartition | StreamOp::StateSnapshots => {
            Some(Arc::new(PassThrough))
        }
        StreamOp::GroupByKey | StreamOp::GroupByKeyAndWindow => Some(Arc::new(GroupValues {
            value_type: spec.input_type.value,
        })),
        _ => None,
    }
}

/// The label host operators carry where a plugin's sha256 would be.
pub const BUILTIN_HASH: &str = "builtin";

/// `count`.
struct Count;

impl Operator for Count {
    fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        let total = match (site.phase, &input.values) {
            (Phase::BeforeExchange, _) => input.len() as i64,
            (_, Column::Int64(counts)) => counts.iter().sum(),
            _ => {
                return Err(Error::Internal(format!(
                    "stream `{}`: count's partial counts are not int64",
                    site.stream
                )));
            }
        };
        Ok(Batch {
            keys: None,
            values: Column::Int64(vec![total]),
        })
    }
}

/// `count_by_value`.
struct CountByValue;

impl Operator for CountByValue {
    fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        match (&input.keys, &input.values) {
            // The values themselves: count each.
            (None, values) => Ok(sum_by_key(values, |_| 1)),
            // Partial counts: sum them per value.
            (Some(keys), Column::Int64(counts)) => Ok(sum_by_key(keys, |i| counts[i])),
            _ => Err(Error::Internal(format!(
                "stream `{}`: count_by_value's partial counts are not int64",
                site.stream
            ))),
        }
    }
}

/// `group_by_key`.
struct GroupValues {
    /// The type of the values grouped.
    value_type: crate::batch::ValueType,
}

impl Operator for GroupValues {
    fn apply(&self, input: &Batch, site: &CallSite) -> Result<Batch, Error> {
        let Some(keys) = &input.keys else {
            return Err(Error::Internal(format!(
                "stream `{}`: group_by_key's input has no keys",
                site.stream
            )));
        };
        let grouped = crate::grouping::group_by_key(keys, &input.values);
        let mut lists = crate::batch::Varlen::with_capacity(
            grouped.keys.len(),
            input.byte_size() + 2 * input.len() + 2 * grouped.keys.len(),
        );
        let mut text = String::new();
        for g in 0..grouped.keys.len() {
            let members = grouped.groups[g] as usize..grouped.groups[g + 1] as usize;
            text.push('[');
            for i in members {
                // A comma before every item but the first.
                let comma = |text: &mut String| {
                    if text.len() > 1 {
                        text.push(',');
                    }
                };
                match (site.phase, &grouped.values) {
                    // The records' values.
                    (Phase::BeforeExchange, values) => {
                        comma(&mut text);
                        crate::render::json_value(&mut text, values, i, self.value_type);
                    }
                    // Partial lists, `[…]` each: their items appended (an
                    // empty one adds nothing).
                    (_, Column::Varlen(partials)) => {
                        let list = partials.get(i);
                        let items = list.get(1..list.len().saturating_sub(1)).unwrap_or(&[]);
                        if !items.is_empty() {
                            comma(&mut text);
                            text.push_str(&String::from_utf8_lossy(items));
                        }
                    }
                    _ => {
                        return Err(Error::Internal(format!(
                            "stream `{}`: group_by_key's partial lists are not JSON",
                            site.stream
                        )));
                    }
                }
            }
            text.push(']');
            lists.push(text.as_bytes());
            text.clear();
        }
        Ok(Batch {
            keys: Some(grouped.keys),
            values: Column::Varlen(lists),
        })
    }
}

/// `window`, `repartition`: the records, unchanged (the executor never
/// calls it: it moves the records itself).
struct PassThrough;

impl Operator for PassThrough {
    fn apply(&self, input: &Batch, _site: &CallSite) -> Result<Batch, Error> {
        Ok(input.clone())
    }
}

/// (key, sum of `weight`) for each distinct key of `keys`, in order of
/// first appearance.
fn sum_by_key(keys: &Column, weight: impl Fn(usize) -> i64) -> Batch {
    let rows = rows_by_key(&Column::empty(keys.layout_type()), keys);
    let mut sums = vec![0i64; rows.new_keys.len()];
    for (i, &row) in rows.row_of.iter().enumerate() {
        let sum = &mut sums[row as usize];
        *sum = sum.wrapping_add(weight(i));
    }
    Batch {
        keys: Some(keys.gather(&rows.new_keys)),
        values: Column::Int64(sums),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::BatchTime;

    fn site(phase: Phase) -> CallSite {
        CallSite {
            pipeline: "p".into(),
            stream: "s".into(),
            plugin: "count".into(),
            hash: BUILTIN_HASH.into(),
            batch_time: BatchTime(0),
            partition: 0,
            phase,
            shadow: false,
            attempt: 1,
        }
    }

    #[test]
    fn count_counts_records_then_sums_the_partial_counts() {
        let words = Batch::text(["a", "b", "a"]);
        let partial = Count.apply(&words, &site(Phase::BeforeExchange)).unwrap();
        assert_eq!(partial.values, Column::Int64(vec![3]));
        let partials = Batch {
            keys: None,
            values: Column::Int64(vec![3, 4]),
        };
        let total = Count.apply(&partials, &site(Phase::AfterExchange)).unwrap();
        assert_eq!(total.values, Column::Int64(vec![7]));
    }

    #[test]
    fn group_by_key_lists_values_then_appends_the_lists_of_equal_keys() {
        let group = GroupValues {
            value_type: crate::batch::ValueType::Int64,
        };
        let pairs = Batch {
            keys: Some(Batch::text(["a", "b", "a"]).values),
            values: Column::Int64(vec![1, 2, 3]),
        };
        let lists = group.apply(&pairs, &site(Phase::BeforeExchange)).unwrap();
        assert_eq!(lists.keys, Some(Batch::text(["a", "b"]).values));
        assert_eq!(lists.values, Batch::text(["[1,3]", "[2]"]).values);
        let partials = Batch {
            keys: Some(Batch::text(["b", "a", "b", "a", "c", "c"]).values),
            values: Batch::text(["[2]", "[1,3]", "[]", "[4]", "[]", "[5]"]).values,
        };
        let appended = group.apply(&partials, &site(Phase::Window)).unwrap();
        assert_eq!(appended.keys, Some(Batch::text(["b", "a", "c"]).values));
        assert_eq!(
            appended.values,
            Batch::text(["[2]", "[1,3,4]", "[5]"]).values
        );
    }

    #[test]
    fn count_by_value_counts_values_then_sums_counts_per_value() {
        let words = Batch::text(["a", "b", "a"]);
        let counted = CountByValue
            .apply(&words, &site(Phase::BeforeExchange))
            .unwrap();
        assert_eq!(counted.keys, Some(Batch::text(["a", "b"]).values));
        assert_eq!(counted.values, Column::Int64(vec![2, 1]));
        let mut again = counted.clone();
        again.extend_from(&counted);
        let summed = CountByValue
            .apply(&again, &site(Phase::AfterExchange))
            .unwrap();
        assert_eq!(summed.values, Column::Int64(vec![4, 2]));
        let numbers = Batch {
            keys: None,
            values: Column::Float64(vec![1.5, 0.0, 1.5]),
        };
        let counted = CountByValue
            .apply(&numbers, &site(Phase::BeforeExchange))
            .unwrap();
        assert_eq!(counted.keys, Some(Column::Float64(vec![1.5, 0.0])));
        assert_eq!(counted.values, Column::Int64(vec![2, 1]));
    }
}

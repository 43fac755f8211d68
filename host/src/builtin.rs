//! The operators the host runs itself, with no plugin: `count`,
//! `count_by_value` (and its window) and `window`.
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

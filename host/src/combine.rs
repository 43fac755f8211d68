//! The host's operators over several streams: `union`, the joins and
//! `cogroup`, with PySpark's semantics.
//!
//! - `union` appends its inputs' partitions, in `from`'s order (Spark's
//!   `UnionRDD`), with no exchange (each partition is copied once: the
//!   inputs' outputs are shared whole, not partition by partition).
//! - A join or `cogroup` routes both inputs by the same key hash into the
//!   stream's buckets and gathers both into the same partitions (see
//!   [`crate::exchange`]), so each partition holds every record of its
//!   keys from both sides. Each partition is then joined on its own, in
//!   parallel: keys in the order they first appear (the left input's
//!   records first, then the right's, as PySpark unions the two sides
//!   before grouping), and for each key its left values in arrival order,
//!   each with the right values in arrival order.
//!
//! Outputs are composite values (see [`crate::types`]): `(v, w)` pairs,
//! `None` for the missing side of an outer join, lists for `cogroup`. A
//! key with many values on both sides multiplies them; a partition's
//! output is bounded by the stream's `limits.output_mib`.

use std::sync::Arc;

use rayon::prelude::*;

use crate::batch::{Batch, Column, RecordType, ValueType, Varlen};
use crate::config::StreamOp;
use crate::exchange::{gather, route};
use crate::grouping::{group_starts, records_in_groups, rows_by_key};
use crate::plan::StreamSpec;
use crate::render::json_value;

/// Where a join partition's failure happened, for its error.
pub struct JoinSite<'a> {
    /// The pipeline.
    pub pipeline: &'a str,
    /// The batch.
    pub batch_time: crate::time::BatchTime,
}

/// `union`: every partition of every input, in order.
pub fn union(inputs: &[Arc<Vec<Batch>>]) -> Vec<Batch> {
    inputs
        .iter()
        .flat_map(|partitions| partitions.iter())
        .filter(|batch| !batch.is_empty())
        .cloned()
        .collect()
}

/// A join or `cogroup` of `left` and `right` (each an input's partitions)
/// for `spec`, whose input types are `types`.
///
/// # Errors
///
/// When a partition's output goes past the stream's `output_mib`.
pub fn join(
    spec: &StreamSpec,
    (left, right): (&[Batch], &[Batch]),
    types: (RecordType, RecordType),
    site: &JoinSite<'_>,
) -> Result<Vec<Batch>, crate::Error> {
    let buckets = spec.exchange.buckets();
    let bytes: usize = left.iter().chain(right).map(Batch::byte_size).sum();
    let groups = spec.exchange.gathered(bytes);
    let routed = |side: &[Batch], record_type: RecordType| -> Vec<Batch> {
        let pieces: Vec<Vec<Batch>> = side
            .par_iter()
            .map(|batch| route(batch, buckets, record_type))
            .collect();
        gather(pieces, &groups, record_type)
    };
    let (lefts, rights) = rayon::join(|| routed(left, types.0), || routed(right, types.1));
    let limit = spec.limits.output_mib as usize * (1 << 20);
    lefts
        .par_iter()
        .zip(rights.par_iter())
        .enumerate()
        .map(|(partition, (l, r))| {
            join_partition(spec.op, (l, r), types, spec.output_type, limit).map_err(|message| {
                crate::Error::HostOperator {
                    pipeline: site.pipeline.to_owned(),
                    stream: spec.name.clone(),
                    op: spec.op,
                    batch_time: site.batch_time,
                    partition,
                    message,
                }
            })
        })
        .filter(|output| output.as_ref().map_or(true, |batch| !batch.is_empty()))
        .collect()
}

/// The rows of each key of one side, grouped: key `g`'s rows are
/// `rows[starts[g]..starts[g + 1]]`, in arrival order (a counting sort of
/// the rows by key, with no allocation per key).
struct Grouped {
    starts: Vec<u32>,
    rows: Vec<u32>,
}

impl Grouped {
    fn new(group_of_row: &[u32], groups: usize) -> Self {
        let starts = group_starts(group_of_row, groups);
        let rows = records_in_groups(group_of_row, &starts);
        Grouped { starts, rows }
    }

    fn of(&self, group: usize) -> &[u32] {
        &self.rows[self.starts[group] as usize..self.starts[group + 1] as usize]
    }
}

/// One partition of a join: `left` and `right` hold every record of their
/// keys. Fails when the output would pass `limit` bytes.
fn join_partition(
    op: StreamOp,
    (left, right): (&Batch, &Batch),
    (left_type, right_type): (RecordType, RecordType),
    output_type: RecordType,
    limit: usize,
) -> Result<Batch, String> {
    let (Some(left_keys), Some(right_keys)) = (&left.keys, &right.keys) else {
        return Ok(Batch::empty(output_type));
    };
    // Each key's group, numbered as keys first appear: the left side's,
    // then the right side's keys the left side does not have.
    let left_rows = rows_by_key(&Column::empty(left_keys.layout_type()), left_keys);
    let right_rows = rows_by_key(&left_keys.gather(&left_rows.new_keys), right_keys);
    let first_row: Vec<(bool, u32)> = (left_rows.new_keys.iter().map(|&row| (true, row)))
        .chain(right_rows.new_keys.iter().map(|&row| (false, row)))
        .collect();
    let (left_groups, right_groups) = (left_rows.row_of, right_rows.row_of);
    let groups = first_row.len();
    let (lefts, rights) = (
        Grouped::new(&left_groups, groups),
        Grouped::new(&right_groups, groups),
    );
    let (keep_left_only, keep_right_only) = match op {
        StreamOp::LeftOuterJoin => (true, false),
        StreamOp::RightOuterJoin => (false, true),
        StreamOp::FullOuterJoin => (true, true),
        _ => (false, false),
    };
    let mut out = Output {
        keys: Column::empty(output_type.key.unwrap_or(ValueType::Bytes)),
        values: Varlen::with_capacity(left.len().max(right.len()), 0),
        text: String::new(),
        limit,
    };
    let left_value = |text: &mut String, row: u32| {
        json_value(text, &left.values, row as usize, left_type.value);
    };
    let right_value = |text: &mut String, row: u32| {
        json_value(text, &right.values, row as usize, right_type.value);
    };
    for (group, &(is_left, row)) in first_row.iter().enumerate() {
        let (vs, ws) = (lefts.of(group), rights.of(group));
        let key = (if is_left { left_keys } else { right_keys }, row as usize);
        let too_large = |message: String| {
            format!(
                "{message} at key {} ({} values on the left, {} on the right); raise limits.output_mib for this stream or filter the key out before the join",
                show_key(key.0, key.1, output_type.key.unwrap_or(ValueType::Bytes)),
                vs.len(),
                ws.len()
            )
        };
        if op == StreamOp::Cogroup {
            out.text.push_str("[[");
            for (i, &v) in vs.iter().enumerate() {
                if i > 0 {
                    out.text.push(',');
                }
                left_value(&mut out.text, v);
            }
            out.text.push_str("],[");
            for (i, &w) in ws.iter().enumerate() {
                if i > 0 {
                    out.text.push(',');
                }
                right_value(&mut out.text, w);
            }
            out.text.push_str("]]");
            out.emit(key).map_err(too_large)?;
            continue;
        }
        let mut pair = |v: Option<u32>, w: Option<u32>| {
            out.text.push('[');
            match v {
                Some(v) => left_value(&mut out.text, v),
                None => out.text.push_str("null"),
            }
            out.text.push(',');
            match w {
                Some(w) => right_value(&mut out.text, w),
                None => out.text.push_str("null"),
            }
            out.text.push(']');
            out.emit(key).map_err(too_large)
        };
        match (vs.is_empty(), ws.is_empty()) {
            (false, false) => {
                for &v in vs {
                    for &w in ws {
                        pair(Some(v), Some(w))?;
                    }
                }
            }
            (false, true) if keep_left_only => {
                for &v in vs {
                    pair(Some(v), None)?;
                }
            }
            (true, false) if keep_right_only => {
                for &w in ws {
                    pair(None, Some(w))?;
                }
            }
            _ => {}
        }
    }
    Ok(Batch {
        keys: Some(out.keys),
        values: Column::Varlen(out.values),
    })
}

/// A join partition's output, built record by record.
struct Output {
    keys: Column,
    values: Varlen,
    /// The next value's JSON, written before [`Output::emit`].
    text: String,
    /// The most bytes of values.
    limit: usize,
}

impl Output {
    /// Appends a record: the key in row `row` of `keys`, and `text`.
    fn emit(&mut self, (keys, row): (&Column, usize)) -> Result<(), String> {
        self.values.push(self.text.as_bytes());
        self.text.clear();
        self.keys.push_from(keys, row);
        if self.values.data.len() > self.limit {
            return Err(format!(
                "its output passed {} MiB (limit `output_mib`)",
                self.limit >> 20
            ));
        }
        Ok(())
    }
}

/// A key for a message, as PySpark shows it.
fn show_key(column: &Column, row: usize, key_type: ValueType) -> String {
    let mut out = String::new();
    let one = Batch {
        keys: None,
        values: column.slice(row..row + 1),
    };
    crate::render::python_record(&mut out, &one, 0, None, key_type);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(pairs: &[(&str, i64)]) -> Batch {
        let mut keys = Varlen::with_capacity(0, 0);
        for (k, _) in pairs {
            keys.push(k.as_bytes());
        }
        Batch {
            keys: Some(Column::Varlen(keys)),
            values: Column::Int64(pairs.iter().map(|(_, v)| *v).collect()),
        }
    }

    fn texts(pairs: &[(&str, &str)]) -> Batch {
        let (mut keys, mut values) = (Varlen::with_capacity(0, 0), Varlen::with_capacity(0, 0));
        for (k, v) in pairs {
            keys.push(k.as_bytes());
            values.push(v.as_bytes());
        }
        Batch {
            keys: Some(Column::Varlen(keys)),
            values: Column::Varlen(values),
        }
    }

    const INTS: RecordType = RecordType {
        key: Some(ValueType::Text),
        value: ValueType::Int64,
    };
    const TEXTS: RecordType = RecordType {
        key: Some(ValueType::Text),
        value: ValueType::Text,
    };

    fn joined(op: StreamOp, value: ValueType) -> Vec<String> {
        let left = keyed(&[("a", 1), ("b", 2), ("a", 3), ("c", 4)]);
        let right = texts(&[("a", "x"), ("d", "z"), ("a", "y"), ("c", "w")]);
        let output_type = RecordType {
            key: Some(ValueType::Text),
            value,
        };
        let out = join_partition(op, (&left, &right), (INTS, TEXTS), output_type, 1 << 20)
            .expect("joined");
        (0..out.len())
            .map(|i| {
                let mut s = String::new();
                crate::render::python_record(&mut s, &out, i, output_type.key, value);
                s
            })
            .collect()
    }

    #[test]
    fn joins_follow_pyspark() {
        let (i, t) = (ValueType::Int64, ValueType::Text);
        assert_eq!(
            joined(StreamOp::Join, ValueType::pair(i, t)),
            [
                "('a', (1, 'x'))",
                "('a', (1, 'y'))",
                "('a', (3, 'x'))",
                "('a', (3, 'y'))",
                "('c', (4, 'w'))"
            ]
        );
        assert_eq!(
            joined(
                StreamOp::FullOuterJoin,
                ValueType::pair(ValueType::option(i), ValueType::option(t))
            ),
            [
                "('a', (1, 'x'))",
                "('a', (1, 'y'))",
                "('a', (3, 'x'))",
                "('a', (3, 'y'))",
                "('b', (2, None))",
                "('c', (4, 'w'))",
                "('d', (None, 'z'))"
            ]
        );
        assert_eq!(
            joined(
                StreamOp::Cogroup,
                ValueType::pair(ValueType::list(i), ValueType::list(t))
            ),
            [
                "('a', ([1, 3], ['x', 'y']))",
                "('b', ([2], []))",
                "('c', ([4], ['w']))",
                "('d', ([], ['z']))"
            ]
        );
    }

    #[test]
    fn a_join_past_its_output_limit_names_the_key() {
        let left = keyed(&[("hot", 1); 100]);
        let right = keyed(&[("hot", 2); 100]);
        let output_type = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::pair(ValueType::Int64, ValueType::Int64),
        };
        let err = join_partition(
            StreamOp::Join,
            (&left, &right),
            (INTS, INTS),
            output_type,
            1000,
        )
        .expect_err("over the limit");
        assert!(
            err.contains("at key 'hot' (100 values on the left, 100 on the right)"),
            "{err}"
        );
    }
}

//! The checks a call's output must pass beyond its record types (which
//! [`crate::batch::Batch::validate`] checks): how many records an operator
//! may give, and that a reducer gives each distinct key of its input once.
//!
//! A reducer's values cannot be checked — the host does not know the
//! combining function — so a reducer that adds wrongly is not caught here.

use std::hash::Hash;

use rustc_hash::FxHashMap;

use super::OperatorKind;
use super::error::CallFailure;
use super::limits::Limits;
use crate::batch::{Batch, Column};

/// How many records an operator may give for `inputs` records.
pub(super) fn check_record_count(
    kind: OperatorKind,
    limits: &Limits,
    inputs: usize,
    outputs: usize,
) -> Result<(), CallFailure> {
    match kind {
        OperatorKind::Map if outputs != inputs => Err(CallFailure::InvalidOutput(format!(
            "{outputs} records for {inputs} inputs; a map gives exactly one record per input"
        ))),
        OperatorKind::ReduceByKey if outputs > inputs => Err(CallFailure::InvalidOutput(format!(
            "{outputs} records for {inputs} inputs; combining cannot give more records than it takes"
        ))),
        OperatorKind::FlatMap
            if outputs as u64 > inputs as u64 * u64::from(limits.output_records_per_input) =>
        {
            Err(CallFailure::OutputTooLarge(format!(
                "gave {outputs} records for {inputs} inputs, over {} per input (limit `output_records_per_input`)",
                limits.output_records_per_input
            )))
        }
        _ => Ok(()),
    }
}

/// A reducer's output holds each distinct key of its input exactly once
/// (keys compared byte for byte, as the exchange compares them; numbers by
/// their bits). Both batches have passed `validate` against the same keyed
/// type.
pub(super) fn check_reduced_keys(input: &Batch, output: &Batch) -> Result<(), CallFailure> {
    let bits = |v: &f64| v.to_bits();
    let checked = match (&input.keys, &output.keys) {
        (Some(Column::Varlen(i)), Some(Column::Varlen(o))) => same_key_sets(
            (i.len(), |n| i.get(n)),
            (o.len(), |n| o.get(n)),
            |k: &&[u8]| format!("{:?}", String::from_utf8_lossy(k)),
        ),
        (Some(Column::Int64(i)), Some(Column::Int64(o))) => {
            same_key_sets((i.len(), |n| i[n]), (o.len(), |n| o[n]), i64::to_string)
        }
        (Some(Column::Float64(i)), Some(Column::Float64(o))) => same_key_sets(
            (i.len(), |n| bits(&i[n])),
            (o.len(), |n| bits(&o[n])),
            |k: &u64| f64::from_bits(*k).to_string(),
        ),
        // Unkeyed or mixed: `validate` refuses these before this check.
        _ => Ok(()),
    };
    checked.map_err(CallFailure::InvalidOutput)
}

/// Whether `output`'s keys are `input`'s distinct keys, each once; each
/// side is a length and a key getter.
fn same_key_sets<K: Hash + Eq + Copy>(
    (inputs, input_key): (usize, impl Fn(usize) -> K),
    (outputs, output_key): (usize, impl Fn(usize) -> K),
    show: impl Fn(&K) -> String,
) -> Result<(), String> {
    // Output record of each key; whether the input has it, by record.
    let mut records: FxHashMap<K, u32> =
        FxHashMap::with_capacity_and_hasher(outputs, Default::default());
    let mut in_input = vec![false; outputs];
    for record in 0..outputs {
        let key = output_key(record);
        if let Some(first) = records.insert(key, record as u32) {
            return Err(format!(
                "key {} is in output records {first} and {record}; a reducer gives each key once",
                show(&key)
            ));
        }
    }
    let mut found = 0;
    for record in 0..inputs {
        let key = input_key(record);
        let Some(&output) = records.get(&key) else {
            return Err(format!(
                "key {} of input record {record} is missing from the output; a reducer gives each key of its input once",
                show(&key)
            ));
        };
        let seen = &mut in_input[output as usize];
        found += usize::from(!*seen);
        *seen = true;
    }
    if found < outputs {
        let record = in_input.iter().position(|seen| !seen).unwrap_or(0);
        return Err(format!(
            "key {} of output record {record} is in no input record; a reducer gives only the keys of its input",
            show(&output_key(record))
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(keys: &[&str]) -> Batch {
        Batch {
            keys: Some(Batch::text(keys.iter().copied()).values),
            values: Column::Int64(vec![1; keys.len()]),
        }
    }

    fn failure(input: &[&str], output: &[&str]) -> String {
        match check_reduced_keys(&pairs(input), &pairs(output)) {
            Err(CallFailure::InvalidOutput(message)) => message,
            other => panic!("expected invalid output, got {other:?}"),
        }
    }

    #[test]
    fn a_reducer_gives_each_input_key_once() {
        assert!(check_reduced_keys(&pairs(&["a", "b", "a"]), &pairs(&["b", "a"])).is_ok());
        assert!(check_reduced_keys(&pairs(&[]), &pairs(&[])).is_ok());
        assert_eq!(
            failure(&["a", "b", "a"], &["a", "b", "a"]),
            "key \"a\" is in output records 0 and 2; a reducer gives each key once"
        );
        assert_eq!(
            failure(&["a", "b", "a"], &["a"]),
            "key \"b\" of input record 1 is missing from the output; a reducer gives each key of its input once"
        );
        assert_eq!(
            failure(&["a", "a", "a"], &["a", "z"]),
            "key \"z\" of output record 1 is in no input record; a reducer gives only the keys of its input"
        );
    }

    #[test]
    fn float_keys_compare_by_their_bits() {
        let floats = |keys: &[f64]| Batch {
            keys: Some(Column::Float64(keys.to_vec())),
            values: Column::Int64(vec![1; keys.len()]),
        };
        assert!(check_reduced_keys(&floats(&[0.0, 0.0]), &floats(&[0.0])).is_ok());
        assert!(check_reduced_keys(&floats(&[0.0, -0.0]), &floats(&[0.0])).is_err());
    }
}

//! Test guest: a `reduce_by_key` over text keys and integer values that
//! sums each group like `sum`, then breaks the reducer contract as the
//! `mode` parameter says:
//!
//! | mode | what it gives |
//! | --- | --- |
//! | `sum` | the right output (one sum per group) |
//! | `short` | every group's sum but the last |
//! | `long` | one sum per group, plus one more value |
//! | `floats` | one sum per group, as floats (the stream's values are int64) |
//! | `blame` | an error blaming the last value of the first group |
//!
//! It uses the contract's bindings directly, not the SDK's macros, so that
//! it can return output the SDK would never build.

use std::cell::RefCell;

use sluice_guest::bindings::reduce_operator::exports::sluice::operator::reducer::Guest;
use sluice_guest::bindings::types::{
    Column, Error, Param, RecordType, Signature, ValueGroups, ValueType,
};
use sluice_guest::column::{number_bytes, numbers, u32s};

thread_local! {
    static MODE: RefCell<String> = RefCell::new("sum".into());
}

struct BadReducer;

fn error(message: String) -> Error {
    Error {
        message,
        record_index: None,
    }
}

impl Guest for BadReducer {
    fn describe() -> Signature {
        let pairs = RecordType {
            key: Some(ValueType::Text),
            value: ValueType::Int64,
        };
        Signature {
            input: pairs,
            output: pairs,
        }
    }

    fn init(params: Vec<Param>) -> Result<(), Error> {
        for Param { name, value } in params {
            match name.as_str() {
                "mode" => MODE.with_borrow_mut(|mode| *mode = value),
                _ => return Err(error(format!("unknown parameter `{name}`"))),
            }
        }
        Ok(())
    }

    fn combine(input: ValueGroups) -> Result<Column, Error> {
        let Column::Int64(values) = &input.values else {
            return Err(error("int64 values expected".into()));
        };
        let values: Vec<i64> = numbers(values, "values")?;
        let groups = u32s(&input.groups, "groups")?;
        let mut sums: Vec<i64> = groups
            .windows(2)
            .map(|g| values[g[0] as usize..g[1] as usize].iter().sum())
            .collect();
        match MODE.with_borrow(Clone::clone).as_str() {
            "sum" => {}
            "short" => {
                sums.pop();
            }
            "long" => sums.push(1),
            "floats" => {
                return Ok(Column::Float64(number_bytes(
                    sums.iter().map(|&s| s as f64),
                )));
            }
            "blame" => {
                return Err(Error {
                    message: "blamed".into(),
                    record_index: groups.get(1).map(|end| end - 1),
                });
            }
            other => return Err(error(format!("unknown mode `{other}`"))),
        }
        Ok(Column::Int64(number_bytes(sums)))
    }
}

sluice_guest::bindings::reduce_operator::export_reduce_operator!(BadReducer);

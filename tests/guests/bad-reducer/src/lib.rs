//! Test guest: a `reduce_by_key` over text keys and integer values that
//! sums like `sum`, then breaks the reducer contract as the `mode`
//! parameter says:
//!
//! | mode | what it gives |
//! | --- | --- |
//! | `sum` | the right output (each distinct key once, with its sum) |
//! | `duplicate` | the first key twice (its sum split in two records) |
//! | `drop` | every key but the last |
//! | `invent` | the right output plus a key `invented` no input has |
//!
//! It uses the contract's bindings directly, not the SDK's macros, so that
//! it can return output the SDK would never build.

use std::cell::RefCell;

use sluice_guest::bindings::reduce_operator::exports::sluice::operator::reducer::Guest;
use sluice_guest::bindings::types::{
    Batch, Column, Error, Param, RecordType, Signature, ValueType, Varlen,
};
use sluice_guest::column::VarlenView;

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

    fn combine(input: Batch) -> Result<Batch, Error> {
        let Some(keys) = &input.keys else {
            return Err(error("keyed input expected".into()));
        };
        let keys = VarlenView::new(keys, "keys")?;
        let Column::Int64(values) = &input.values else {
            return Err(error("int64 values expected".into()));
        };
        // Distinct keys in order of first appearance, with their sums.
        let mut order: Vec<Vec<u8>> = Vec::new();
        let mut sums: Vec<i64> = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let key = keys.get(i);
            match order.iter().position(|k| k.as_slice() == key) {
                Some(at) => sums[at] = sums[at].wrapping_add(*value),
                None => {
                    order.push(key.to_vec());
                    sums.push(*value);
                }
            }
        }
        match MODE.with_borrow(Clone::clone).as_str() {
            "sum" => {}
            "duplicate" if sums[0] > 1 => {
                order.insert(1, order[0].clone());
                sums.insert(1, 1);
                sums[0] -= 1;
            }
            "duplicate" => {}
            "drop" => {
                order.pop();
                sums.pop();
            }
            "invent" => {
                order.push(b"invented".to_vec());
                sums.push(1);
            }
            other => return Err(error(format!("unknown mode `{other}`"))),
        }
        let mut out = Varlen {
            data: Vec::new(),
            offsets: vec![0],
        };
        for key in &order {
            out.data.extend_from_slice(key);
            out.offsets.push(out.data.len() as u32);
        }
        Ok(Batch {
            keys: Some(Column::Varlen(out)),
            values: Column::Int64(sums),
        })
    }
}

sluice_guest::bindings::reduce_operator::export_reduce_operator!(BadReducer);

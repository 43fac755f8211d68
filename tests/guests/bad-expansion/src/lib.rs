//! Test guest: a `flat_map_values` over text values that splits each value
//! into its words, then breaks the value flat-mapper contract as the `mode`
//! parameter says:
//!
//! | mode | what it gives |
//! | --- | --- |
//! | `words` | the right output (each value's words, counted) |
//! | `short` | one count fewer than values |
//! | `miscount` | counts adding up to one more than the values given |
//! | `floats` | the words' lengths as floats (the declared output is text) |
//! | `blame` | an error blaming the second value |
//!
//! It uses the contract's bindings directly, not the SDK's macros, so that
//! it can return output the SDK would never build.

use std::cell::RefCell;

use sluice_guest::bindings::flat_map_values_operator::exports::sluice::operator::value_flat_mapper::{
    Guest, ValueExpansion,
};
use sluice_guest::bindings::types::{
    Column, Error, Param, RecordType, Signature, ValueType, Varlen,
};
use sluice_guest::column::{number_bytes, u32s};

thread_local! {
    static MODE: RefCell<String> = RefCell::new("words".into());
}

struct BadExpansion;

fn error(message: String) -> Error {
    Error {
        message,
        record_index: None,
    }
}

impl Guest for BadExpansion {
    fn describe() -> Signature {
        let text = RecordType {
            key: None,
            value: ValueType::Text,
        };
        Signature {
            input: text,
            output: text,
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

    fn expand_values(values: Column) -> Result<ValueExpansion, Error> {
        let Column::Varlen(text) = &values else {
            return Err(error("text values expected".into()));
        };
        let offsets = u32s(&text.offsets, "offsets")?;
        let mut data = Vec::new();
        let mut out_offsets = vec![0u32];
        let mut counts: Vec<u32> = Vec::new();
        for pair in offsets.windows(2) {
            let value = &text.data[pair[0] as usize..pair[1] as usize];
            let words = value
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty());
            let mut count = 0;
            for word in words {
                data.extend_from_slice(word);
                out_offsets.push(data.len() as u32);
                count += 1;
            }
            counts.push(count);
        }
        match MODE.with_borrow(Clone::clone).as_str() {
            "words" => {}
            "short" => {
                counts.pop();
            }
            "miscount" => {
                if let Some(last) = counts.last_mut() {
                    *last += 1;
                }
            }
            "floats" => {
                let lengths = out_offsets.windows(2).map(|w| f64::from(w[1] - w[0]));
                return Ok(ValueExpansion {
                    values: Column::Float64(number_bytes(lengths)),
                    counts: number_bytes(counts),
                });
            }
            "blame" => {
                return Err(Error {
                    message: "blamed".into(),
                    record_index: Some(1),
                });
            }
            other => return Err(error(format!("unknown mode `{other}`"))),
        }
        Ok(ValueExpansion {
            values: Column::Varlen(Varlen {
                data,
                offsets: number_bytes(out_offsets),
            }),
            counts: number_bytes(counts),
        })
    }
}

sluice_guest::bindings::flat_map_values_operator::export_flat_map_values_operator!(BadExpansion);

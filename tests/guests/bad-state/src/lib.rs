//! Test guest: an `update_state_by_key` over integer values that keeps
//! running sums like `running-sum`, then breaks the state contract as the
//! `mode` parameter says:
//!
//! | mode | what it gives |
//! | --- | --- |
//! | `sum` | the right update |
//! | `short` | one state fewer than keys |
//! | `flags` | one keep flag more than keys |
//! | `float` | float64 states for a declared int64 state |
//!
//! It uses the contract's bindings directly, not the SDK's macros, so that
//! it can return output the SDK would never build.

use std::cell::RefCell;

use sluice_guest::bindings::types::{
    Column, Error, Param, RecordType, Signature, StateBatch, StateUpdate, ValueType,
};
use sluice_guest::bindings::update_state_operator::exports::sluice::operator::state_updater::Guest;
use sluice_guest::column::{flag_bytes, number_bytes, numbers, u32s};

thread_local! {
    static MODE: RefCell<String> = RefCell::new("sum".into());
}

struct BadState;

fn error(message: String) -> Error {
    Error {
        message,
        record_index: None,
    }
}

impl Guest for BadState {
    fn describe() -> Signature {
        let counts = RecordType {
            key: None,
            value: ValueType::Int64,
        };
        Signature {
            input: counts,
            output: counts,
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

    fn update(input: StateBatch) -> Result<StateUpdate, Error> {
        let (Column::Int64(values), Column::Int64(states)) = (&input.values, &input.states) else {
            return Err(error("int64 values and states expected".into()));
        };
        let values: Vec<i64> = numbers(values, "values")?;
        let states: Vec<i64> = numbers(states, "states")?;
        let groups = u32s(&input.groups, "groups")?;
        let mut sums: Vec<i64> = (0..input.has_state.len())
            .map(|i| {
                let group = &values[groups[i] as usize..groups[i + 1] as usize];
                group.iter().fold(states[i], |s, v| s.wrapping_add(*v))
            })
            .collect();
        let mut keep = vec![true; sums.len()];
        let states = match MODE.with_borrow(Clone::clone).as_str() {
            "short" => {
                sums.pop();
                Column::Int64(number_bytes(sums))
            }
            "flags" => {
                keep.push(true);
                Column::Int64(number_bytes(sums))
            }
            "float" => Column::Float64(number_bytes(sums.iter().map(|&s| s as f64))),
            _ => Column::Int64(number_bytes(sums)),
        };
        Ok(StateUpdate {
            states,
            keep: flag_bytes(keep),
        })
    }
}

sluice_guest::bindings::update_state_operator::export_update_state_operator!(BadState);

//! `running-sum`: an `update_state_by_key` operator that keeps, per key,
//! the sum of every value it has had since the start — Spark's
//! `stateful_network_wordcount.py` update function,
//! `sum(new_values) + (last_sum or 0)`.
//!
//! Parameter `forget_idle` (default `false`): when `true`, a key that gets
//! no value in a batch is removed (its running sum starts again at its next
//! value).

use std::sync::atomic::{AtomicBool, Ordering};

use sluice_guest::{Params, update_state};

static FORGET_IDLE: AtomicBool = AtomicBool::new(false);

/// Reads the `forget_idle` parameter.
fn configure(params: &Params) -> Result<(), String> {
    FORGET_IDLE.store(params.parse_or("forget_idle", false)?, Ordering::Relaxed);
    Ok(())
}

/// The key's new running sum; wraps around instead of trapping on
/// overflow.
#[update_state(init = configure)]
fn running_sum(values: &[i64], state: Option<i64>) -> Option<i64> {
    if values.is_empty() && FORGET_IDLE.load(Ordering::Relaxed) {
        return None;
    }
    Some(
        values
            .iter()
            .fold(state.unwrap_or(0), |sum, v| sum.wrapping_add(*v)),
    )
}

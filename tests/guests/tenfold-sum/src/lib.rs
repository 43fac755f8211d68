//! Test guest: an `update_state_by_key` that adds ten times each new value
//! to the key's running sum: a second version of `running-sum` with the
//! same state type, so a deploy shows the state carried over.

use sluice_guest::update_state;

/// The key's running sum, each new value counted ten times.
#[update_state]
fn tenfold_sum(values: &[i64], state: Option<i64>) -> Option<i64> {
    Some(values.iter().fold(state.unwrap_or(0), |sum, v| {
        sum.wrapping_add(v.wrapping_mul(10))
    }))
}

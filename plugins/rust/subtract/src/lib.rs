//! `subtract`: the inverse of `sum` for windows (`inverse_plugin`): a
//! total without the counts of the batch leaving the window.

use sluice_guest::inverse_reduce;

/// `total − leaving`; wraps around as `sum` does.
#[inverse_reduce]
fn subtract(total: i64, leaving: i64) -> i64 {
    total.wrapping_sub(leaving)
}

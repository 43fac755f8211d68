//! `sum`: a `reduce_by_key` operator that adds the values of equal keys.

use sluice_guest::reduce;

/// Adds two counts; wraps around instead of trapping on overflow.
#[reduce]
fn sum(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

//! Test guest: a `map` from `int64` to `int64`, ten times each value: a
//! plugin for `map_values`, which sees the values only.

use sluice_guest::map;

/// `n` becomes `10 n`.
#[map]
fn times_ten(n: i64) -> i64 {
    n.wrapping_mul(10)
}

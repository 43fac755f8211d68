//! A `map` after a join: each `(key, (a, b))` record, whose value the
//! host hands over as the JSON pair `[a, b]` of two numbers, becomes
//! `(a × b, key)`: in Spark's `network_wordjoinsentiments.py`, a word's
//! sentiment score times its count, keyed by that happiness so the
//! happiest words sort first.

use sluice_guest::{Json, map};

/// `(word, [score, count])` becomes `(score × count, word)`.
#[map]
fn pair_product((key, pair): (&str, Json<&str>)) -> Result<(f64, String), String> {
    let (a, b) = numbers(pair.0).ok_or_else(|| {
        format!(
            "the value of `{key}` is `{}`, not a pair of two numbers [a, b]",
            pair.0
        )
    })?;
    Ok((a * b, key.to_owned()))
}

/// The two numbers of the JSON array `[a, b]`.
fn numbers(pair: &str) -> Option<(f64, f64)> {
    let inner = pair.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (a, b) = inner.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

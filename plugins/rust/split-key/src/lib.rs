//! `split-key`: a `map` operator that splits each line at its first `:`
//! into a `(key, rest)` record, both trimmed (a line without `:` has the
//! empty key): `"alice: hello world"` becomes `("alice", "hello world")`.
//! It makes keyed text for `map_values` and `flat_map_values`.

use sluice_guest::map;

/// `"key: rest"` becomes `("key", "rest")`.
#[map]
fn split_key(line: &str) -> (&str, &str) {
    match line.split_once(':') {
        Some((key, rest)) => (key.trim(), rest.trim()),
        None => ("", line.trim()),
    }
}

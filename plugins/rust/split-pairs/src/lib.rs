//! `split-pairs`: `split-words` and `word-pair` fused into one `flat_map`,
//! giving `(word, 1)` for every word of a line in a single call.

use sluice_guest::flat_map;

/// Every word of `line`, paired with the count 1.
#[flat_map]
fn split_pairs(line: &str) -> impl Iterator<Item = (&str, i64)> {
    line.split_whitespace().map(|word| (word, 1))
}

//! `split-words`: a `flat_map` operator that splits a line of text into its
//! words, at runs of whitespace (so empty words never appear).

use sluice_guest::flat_map;

/// Splits `line` into its whitespace-separated words.
#[flat_map]
fn split_words(line: &str) -> impl Iterator<Item = &str> {
    line.split_whitespace()
}

//! `word-pair`: a `map` operator that pairs each word with the count 1,
//! ready for `reduce_by_key`.

use sluice_guest::map;

/// `word` becomes `(word, 1)`.
#[map]
fn word_pair(word: &str) -> (&str, i64) {
    (word, 1)
}

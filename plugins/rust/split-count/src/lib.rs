//! `split-count`: the word count's map side in one call per partition
//! (Spark's `mapPartitions` with a counter): every word of the partition's
//! lines, as `split_whitespace` cuts them, counted in the guest, given once
//! each as `(word, count)`. Followed by `reduce_by_key` with `sum`, it gives
//! the same counts as `split-pairs` (or `split-words` and `word-pair`),
//! while only one record per distinct word of a partition leaves the guest.

use rustc_hash::FxHashMap;
use sluice_guest::flat_map_batch;

/// Each distinct word of `lines` with the number of times it occurs (in
/// the hash map's order, which depends only on the words: the same lines
/// give the same output).
#[flat_map_batch]
fn split_count(lines: Vec<&str>) -> impl Iterator<Item = (&str, i64)> {
    let mut counts: FxHashMap<Word<'_>, i64> = FxHashMap::default();
    for word in lines.iter().flat_map(|line| line.split_whitespace()) {
        *counts.entry(Word(word)).or_insert(0) += 1;
    }
    counts.into_iter().map(|(Word(word), count)| (word, count))
}

/// A word as a hash map key, compared with one or two word-sized loads:
/// WebAssembly has no vectorised `memcmp`, and the byte loop it gets
/// instead was a sixth of this plugin's time.
#[derive(Clone, Copy, Eq, Hash)]
struct Word<'a>(&'a str);

impl PartialEq for Word<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        let n = a.len();
        if n != b.len() {
            return false;
        }
        let word = |s: &[u8], at: usize| s[at..at + 8].try_into().map(u64::from_le_bytes).ok();
        let half = |s: &[u8], at: usize| s[at..at + 4].try_into().map(u32::from_le_bytes).ok();
        match n {
            0 => true,
            1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
            4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
            8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
            _ => a == b,
        }
    }
}

//! `min-length`: a `filter` operator that keeps words of at least
//! `min_length` characters (parameter; default 1).

use std::sync::atomic::{AtomicUsize, Ordering};

use sluice_guest::{Params, filter};

static MIN_LENGTH: AtomicUsize = AtomicUsize::new(1);

/// Reads the `min_length` parameter.
fn configure(params: &Params) -> Result<(), String> {
    MIN_LENGTH.store(params.parse_or("min_length", 1)?, Ordering::Relaxed);
    Ok(())
}

/// Keeps `word` when it has at least `min_length` characters.
#[filter(init = configure)]
fn long_enough(word: &str) -> bool {
    word.chars().count() >= MIN_LENGTH.load(Ordering::Relaxed)
}

//! Test guest: a `map` that gives each word back, and fails the batch on the
//! word named by the `word` parameter (default `poison`), blaming its record.

use std::sync::OnceLock;

use sluice_guest::{Params, map};

static REJECTED: OnceLock<String> = OnceLock::new();

fn configure(params: &Params) -> Result<(), String> {
    let word = params.parse_or("word", "poison".to_owned())?;
    REJECTED.set(word).map_err(|_| "init ran twice".to_owned())
}

/// `word`, unless it is the rejected one.
#[map(init = configure)]
fn check(word: &str) -> Result<&str, String> {
    if REJECTED.get().is_some_and(|rejected| rejected == word) {
        Err(format!("refusing {word:?}"))
    } else {
        Ok(word)
    }
}

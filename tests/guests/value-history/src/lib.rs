//! Test guest: an `update_state_by_key` whose `text` state lists every
//! value its key got, in the order they arrived (`"1,1,2"`): shows the
//! values' order within a key and a borrowed state in, an owned one out.
//! A key whose history would pass `max_values` values (parameter; default
//! unlimited) is removed.

use std::sync::atomic::{AtomicUsize, Ordering};

use sluice_guest::{Params, update_state};

static MAX_VALUES: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Reads the `max_values` parameter.
fn configure(params: &Params) -> Result<(), String> {
    MAX_VALUES.store(
        params.parse_or("max_values", usize::MAX)?,
        Ordering::Relaxed,
    );
    Ok(())
}

/// The key's history with its new values appended.
#[update_state(init = configure)]
fn history(values: &[i64], state: Option<&str>) -> Option<String> {
    let mut all: Vec<String> = state
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    all.extend(values.iter().map(i64::to_string));
    (all.len() <= MAX_VALUES.load(Ordering::Relaxed)).then(|| all.join(","))
}

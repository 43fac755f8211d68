//! Fault points for crash tests: `SLUICE_FAULT=<point>:<n>` aborts the
//! process (as `kill -9` would stop it) the `n`th time it reaches `point`.
//!
//! Points: `batch_started` (after a batch's `.pending` checkpoint),
//! `sinks_committed` (after every sink committed a batch, before its
//! `.done` checkpoint) and `checkpoint_rename` (a checkpoint file written
//! under its temporary name, not renamed yet). Unset, a point costs one
//! load of a parsed-once setting.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the fault point.
pub const FAULT_VAR: &str = "SLUICE_FAULT";

/// The point and the occurrence that aborts, parsed once.
fn armed() -> Option<&'static (String, u64)> {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var(FAULT_VAR).ok()?;
            let (point, n) = value.split_once(':')?;
            Some((point.to_owned(), n.parse().ok()?))
        })
        .as_ref()
}

/// Aborts the process if it is armed for `name` and this is the occurrence.
pub fn point(name: &str) {
    static REACHED: AtomicU64 = AtomicU64::new(0);
    if let Some((point, n)) = armed()
        && point == name
        && REACHED.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        eprintln!("{FAULT_VAR}: fault point `{name}` reached ({n}); aborting");
        std::process::abort();
    }
}

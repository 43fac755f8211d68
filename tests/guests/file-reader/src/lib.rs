//! Test guest: a `map` that reads the file named by each record, so its
//! component imports `wasi:filesystem`. The host must refuse it at load.

use sluice_guest::map;

/// The file's contents, or the error.
#[map]
fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("{path}: {e}"))
}

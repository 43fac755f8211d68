// Shared by the `tag-*` test guests: a `map` from text to text that prefixes
// each line with the crate's `TAG` and a colon, so that every output record
// says which plugin version made it. With `PANIC`, it panics on every record
// instead (a version that fails every batch).

use sluice_guest::map;

/// `TAG:line`.
#[map]
fn tag(line: &str) -> String {
    if PANIC {
        panic!("tag-{TAG} cannot tag {line:?}");
    }
    format!("{TAG}:{line}")
}

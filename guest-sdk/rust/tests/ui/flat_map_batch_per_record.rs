// A per-record signature under #[flat_map_batch]: the records come as one
// `Vec`, so a second parameter is refused.
#[sluice_guest::flat_map_batch]
fn count(line: &str, extra: &str) -> Vec<(&'static str, i64)> {
    let _ = (line, extra);
    Vec::new()
}

fn main() {}

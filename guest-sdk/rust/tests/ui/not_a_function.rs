#[sluice_guest::flat_map]
struct Splitter;

fn main() {}

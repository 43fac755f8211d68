#[sluice_guest::flat_map]
fn split(line: &str) {
    let _ = line;
}

fn main() {}

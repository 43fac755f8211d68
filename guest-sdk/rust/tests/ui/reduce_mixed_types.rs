#[sluice_guest::reduce]
fn add(a: i64, b: f64) -> i64 {
    a + b as i64
}

fn main() {}

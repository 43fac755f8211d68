#[sluice_guest::map]
fn half(n: u32) -> i64 {
    i64::from(n / 2)
}

fn main() {}

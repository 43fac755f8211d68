#[sluice_guest::map]
fn pair(key: &str, value: &str) -> i64 {
    (key.len() + value.len()) as i64
}

fn main() {}

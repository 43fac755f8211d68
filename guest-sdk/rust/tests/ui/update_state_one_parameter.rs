#[sluice_guest::update_state]
fn total(values: &[i64]) -> Option<i64> {
    Some(values.iter().sum())
}

fn main() {}

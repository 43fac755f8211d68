// The state returned must have the type of the state taken.
#[sluice_guest::update_state]
fn total(values: &[i64], state: Option<i64>) -> Option<f64> {
    Some(values.iter().sum::<i64>() as f64 + state.unwrap_or(0) as f64)
}

fn main() {}

use sluice_guest::State;

// A state must be owned: `&str` cannot outlive the batch it came from.
#[sluice_guest::map_with_state]
fn count(key: &str, _value: Option<i64>, state: &mut State<&str>) -> (String, i64) {
    state.remove();
    (key.to_owned(), 0)
}

fn main() {}

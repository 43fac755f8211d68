#[sluice_guest::filter]
fn length(word: &str) -> i64 {
    word.len() as i64
}

fn main() {}

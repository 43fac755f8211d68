#[sluice_guest::map(name = "shout")]
fn shout(word: &str) -> String {
    word.to_uppercase()
}

fn main() {}

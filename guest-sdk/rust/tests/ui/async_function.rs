#[sluice_guest::map]
async fn shout(word: &str) -> String {
    word.to_uppercase()
}

fn main() {}

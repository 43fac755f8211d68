//! Test guest: a `map` that gives `bad:LINE` for each line, or rather
//! panics on every line (a version that fails every batch).

const TAG: &str = "bad";
const PANIC: bool = true;

include!("../../tagger.rs");

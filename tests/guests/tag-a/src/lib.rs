//! Test guest: a `map` that gives `a:LINE` for each line.

const TAG: &str = "a";
const PANIC: bool = false;

include!("../../tagger.rs");

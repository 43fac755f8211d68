//! Test guest: a `map` that gives `b:LINE` for each line.

const TAG: &str = "b";
const PANIC: bool = false;

include!("../../tagger.rs");

//! Compile-fail tests: misuse of the SDK's macros is a spanned error.

#[test]
fn macro_misuse_is_reported_on_the_offending_tokens() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

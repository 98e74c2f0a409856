//! The compile-time contract of `#[pyobject]`: every misuse in `tests/ui/` is
//! a compile error whose message (`.stderr`, pinned to this machine's stable
//! toolchain) says what to write instead, and every shape in `tests/ui/pass/`
//! compiles and runs. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test ui`, then read them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}

use objimpl::prelude::*;

#[pyobject(basic)]
pub struct Name<'a> {
    text: &'a str,
}

fn main() {}

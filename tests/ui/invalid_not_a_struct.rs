use objimpl::prelude::*;

#[pyobject(basic)]
fn point() {}

fn main() {}

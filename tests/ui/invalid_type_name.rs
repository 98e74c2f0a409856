use objimpl::prelude::*;

#[pyobject(basic, name = "")]
pub struct Nameless;

#[pyobject(basic, name = "nul\0inside")]
pub struct Broken;

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic, item = &str)]
pub struct Names;

fn main() {}

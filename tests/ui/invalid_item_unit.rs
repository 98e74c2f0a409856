use objimpl::prelude::*;

#[pyobject(basic, item = ())]
pub struct Empty;

fn main() {}

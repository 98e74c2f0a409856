use objimpl::prelude::*;

#[pyobject(basic, item = u32, name = "int", item = u64, name = "long", basic)]
pub struct Long;

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic, items = u32)]
pub struct Long;

#[pyobject(cyclic)]
pub struct List;

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic, items = u32)]
pub struct Long;

#[pyobject(gc)]
pub struct List;

fn main() {}

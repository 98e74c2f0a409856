use objimpl::prelude::*;

#[pyobject(basic, new = true)]
pub struct Point;

#[pyobject(basic, new = "create")]
pub struct Vector;

#[pyobject(basic, constructor = create)]
pub struct Size;

fn main() {}

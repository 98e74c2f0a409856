use objimpl::prelude::*;

#[pyobject(basic, name = Point)]
pub struct Point;

#[pyobject(crate = "objimpl")]
pub struct Vector;

#[pyobject(item = 4, basic = true)]
pub struct Bytes;

fn main() {}

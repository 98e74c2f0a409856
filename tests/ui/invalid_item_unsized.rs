use objimpl::prelude::*;

#[pyobject(basic, item = [u8])]
pub struct Bytes;

#[pyobject(basic, item = str)]
pub struct Text;

#[pyobject(basic, item = dyn std::fmt::Debug)]
pub struct Anything;

fn main() {}

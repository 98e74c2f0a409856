use objimpl::prelude::*;

#[repr(align(32))]
pub struct Vector256([f32; 8]);

#[pyobject(basic, item = Vector256)]
pub struct Vectors;

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic)]
#[repr(C, packed)]
pub struct Pixel {
    r: u8,
    value: u32,
}

fn main() {}

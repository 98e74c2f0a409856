use objimpl::prelude::*;

#[pyobject(basic)]
#[repr(align(32))]
pub struct CacheLine {
    data: [u8; 32],
}

fn main() {}

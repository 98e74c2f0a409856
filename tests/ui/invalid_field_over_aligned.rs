use objimpl::prelude::*;

#[repr(align(64))]
pub struct CacheLine([u8; 64]);

#[pyobject(basic)]
pub struct Counter {
    line: CacheLine,
}

fn main() {}

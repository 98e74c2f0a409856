use objimpl::prelude::*;

#[pyobject(basic, freelist = 0)]
pub struct Nothing {
    x: f64,
}

#[pyobject(basic, item = u8, freelist = 16)]
pub struct Bytes;

#[pyobject(basic, freelist = "16")]
pub struct Quoted {
    x: f64,
}

#[pyobject(basic, freelist = -1)]
pub struct Negative {
    x: f64,
}

fn main() {}

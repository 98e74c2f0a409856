use objimpl::prelude::*;

#[pyobject(basic, gc)]
pub struct Both {
    x: u32,
}

#[pyobject(basic)]
pub struct SkipOnBasic {
    #[pyobject(skip)]
    x: u32,
}

#[pyobject(gc, skip)]
pub struct SkipOnStruct {
    x: u32,
}

#[pyobject(gc = true)]
pub struct GcValue {
    x: u32,
}

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic)]
pub struct List<T> {
    first: T,
}

#[pyobject(basic, item = u8)]
pub struct Buffer<const N: usize> {
    header: [u8; N],
}

fn main() {}

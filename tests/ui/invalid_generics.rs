use objimpl::prelude::*;

#[pyobject(basic)]
pub struct List<T> {
    first: T,
}

#[pyobject(basic, item = u8)]
pub struct Buffer<const N: usize> {
    header: [u8; N],
}

#[pyobject(basic)]
pub struct Scalar
where
    u8: Copy,
{
    value: u8,
}

fn main() {}

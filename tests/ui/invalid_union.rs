use objimpl::prelude::*;

#[pyobject(basic)]
pub union Value {
    int: i64,
    float: f64,
}

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic)]
pub enum Shape {
    Circle(f64),
    Square(f64),
}

fn main() {}

//! A type's own `new` collides with the generated one: the attribute's
//! `new = ...` option renames (or drops) the generated constructors.

use objimpl::prelude::*;

#[pyobject(basic)]
pub struct Point {
    x: f64,
    y: f64,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Result<Py<Point>, MemoryError> {
        Py::new(Point { x, y })
    }
}

fn main() {}

use objimpl::prelude::*;

#[pyobject(basic)]
pub struct Point {
    x: f64,
    y: f64,
}

fn main() {
    let _ = Point::new_var(Point { x: 0.0, y: 0.0 }, [1.0, 2.0]);
    let _ = Py::new_var(Point { x: 0.0, y: 0.0 }, [(), ()]);
}

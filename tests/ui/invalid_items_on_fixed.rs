use objimpl::prelude::*;

#[pyobject(basic)]
pub struct Point {
    x: f64,
    y: f64,
}

fn main() -> Result<(), MemoryError> {
    let p = Point::new(Point { x: 0.0, y: 0.0 })?;
    let _ = p.items();
    let _ = p.len();
    Ok(())
}

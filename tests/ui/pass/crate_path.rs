//! `crate = path` points the generated code at the runtime crate under
//! another name.

use objimpl_core::Py;

#[objimpl::pyobject(basic, crate = ::objimpl_core)]
pub struct Point {
    x: f64,
}

mod runtime {
    pub use objimpl::*;
}

#[objimpl::pyobject(basic, item = u8, crate = crate::runtime)]
pub struct Bytes;

fn main() {
    let p: Py<Point> = Point::new(Point { x: 1.0 }).unwrap();
    assert_eq!(p.x, 1.0);
    assert_eq!(Bytes::new_var(Bytes, *b"ab").unwrap().items(), b"ab");
}

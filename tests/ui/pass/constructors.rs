//! `new = name` renames the generated constructors and `new = false` drops
//! them, so that a type can have its own `new`.

use objimpl::prelude::*;

/// Private fields, so its own constructor; the generated one is `alloc`.
#[pyobject(basic, new = alloc)]
pub struct Point {
    x: f64,
    y: f64,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Result<Py<Point>, MemoryError> {
        Point::alloc(Point { x, y })
    }

    pub fn norm(&self) -> f64 {
        self.x.hypot(self.y)
    }
}

/// A var type: `make`, `make_var`, `make_var_with`, `make_var_from_slice`.
#[pyobject(basic, item = u8, new = make)]
pub struct Bytes {
    hash: i64,
}

impl Bytes {
    pub fn new(text: &str) -> Result<Py<Bytes>, MemoryError> {
        Bytes::make_var(Bytes { hash: -1 }, text.bytes())
    }
}

/// No generated constructors at all: `Py::new` remains.
#[pyobject(basic, new = false)]
pub struct Counter {
    count: std::cell::Cell<u64>,
}

impl Counter {
    pub fn new() -> Result<Py<Counter>, MemoryError> {
        Py::new(Counter { count: std::cell::Cell::new(0) })
    }
}

fn main() -> Result<(), MemoryError> {
    assert_eq!(Point::new(3.0, 4.0)?.norm(), 5.0);
    let b = Bytes::new("hi")?;
    assert_eq!((b.items(), b.hash), (&b"hi"[..], -1));
    assert!(Bytes::make(Bytes { hash: 0 })?.items().is_empty());
    let with = Bytes::make_var_with(Bytes { hash: 0 }, 2, |i| b"hi"[i])?;
    let from_slice = Bytes::make_var_from_slice(Bytes { hash: 0 }, b"hi")?;
    assert_eq!((with.items(), from_slice.items()), (&b"hi"[..], &b"hi"[..]));
    let c = Counter::new()?;
    c.count.set(c.count.get() + 1);
    assert_eq!(c.count.get(), 1);
    Ok(())
}

//! Object types the tests share.

use std::cell::Cell;
use std::rc::Rc;

use objimpl::prelude::*;

/// Fixed size: `PyObject_HEAD` and two doubles, as in DESIGN.md.
#[pyobject(basic)]
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// CPython's `int`: no fields, 30-bit digits as items.
#[pyobject(basic, item = u32, name = "int")]
#[derive(Debug)]
pub struct Long;

/// CPython's `bytes`: a cached hash, then the bytes.
#[pyobject(basic, item = u8, name = "bytes")]
pub struct Bytes {
    pub hash: isize,
}

/// CPython's `tuple`: references to objects of any type.
#[pyobject(basic, item = PyAny, name = "tuple")]
#[derive(Debug)]
pub struct Tuple;

/// Counts how often values holding it are dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

impl DropCounter {
    pub fn count(&self) -> usize {
        self.0.get()
    }
}

/// A value that bumps its counter when dropped.
pub struct Tracked(pub DropCounter);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.0.set(self.0.0.get() + 1);
    }
}

/// A payload that owns heap memory and counts its drops, with items that
/// count theirs.
#[pyobject(basic, item = Tracked)]
pub struct Owner {
    pub name: String,
    pub tracked: Tracked,
}

//! CPython's `float`: a fixed-size object holding one `double`.
//!
//! `Objects/floatobject.c` builds on
//! `typedef struct { PyObject_HEAD double ob_fval; } PyFloatObject;`, and so
//! does this: `#[pyobject]` puts the header in front of the struct, so the
//! object is 24 bytes, as `float.__basicsize__` is in CPython 3.11.
//!
//! Run with `cargo run --release --example float`.

use objimpl::prelude::*;

/// `PyFloatObject`: `PyObject_HEAD`, then the value.
#[pyobject(basic, name = "float")]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Float {
    /// `ob_fval`.
    pub ob_fval: f64,
}

#[pymethods]
impl Float {
    /// `PyFloat_FromDouble`.
    fn from_f64(value: f64) -> Result<Py<Float>, MemoryError> {
        Float::new(Float { ob_fval: value })
    }

    /// `float_add`: floats are immutable, so the sum is a new object.
    fn add(self: &Py<Self>, other: &Py<Self>) -> Result<Py<Self>, MemoryError> {
        Float::from_f64(self.ob_fval + other.ob_fval)
    }
}

fn main() -> Result<(), MemoryError> {
    let a = Float::from_f64(1.5)?;
    let b = Float::from_f64(2.25)?;
    let sum = a.add(&b)?;
    println!("{} + {} = {}", a.ob_fval, b.ob_fval, sum.ob_fval);

    // Another name for the same object: one more reference, no copy.
    let alias = sum.clone();
    println!(
        "sum and alias are one object at {:p}, refcnt {}",
        alias.as_ptr(),
        sum.refcnt()
    );
    drop(alias);
    println!("after dropping alias, refcnt {}", sum.refcnt());

    // A running total makes and drops one object per step, as CPython's
    // `total += x` does (without its free list).
    let mut total = Float::from_f64(0.0)?;
    for i in 1..=1000 {
        total = total.add(&Float::from_f64(f64::from(i))?)?;
    }
    println!("sum of 1..=1000 = {}", total.ob_fval);

    let tp = Float::TYPE;
    println!(
        "type {:?}: basicsize {} (CPython 3.11: float.__basicsize__ == 24), itemsize {}",
        tp.name(),
        tp.basicsize(),
        tp.itemsize()
    );
    Ok(())
}

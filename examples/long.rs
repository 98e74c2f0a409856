//! CPython's `int`: a var-size object whose items are 30-bit digits, least
//! significant first, with the number's sign in `ob_size`.
//!
//! In CPython 3.11, `Py_SIZE(v)` of an int is its number of digits, negated
//! for a negative number, and 0 for zero. `Py<T>` reads the magnitude of
//! `ob_size` as the item count, so the sign is the type's to use, as here.
//!
//! Run with `cargo run --release --example long`.

use objimpl::prelude::*;
use objimpl::var_size;

/// One digit: 30 bits in a `u32`, as CPython's `PYLONG_BITS_IN_DIGIT == 30`.
type Digit = u32;
const SHIFT: u32 = 30;
const MASK: u64 = (1 << SHIFT) - 1;

/// `PyLongObject`: `PyObject_VAR_HEAD`, then `ob_digit[]`; no other field.
#[pyobject(basic, item = Digit, name = "int")]
pub struct Long;

#[pymethods]
impl Long {
    /// `PyLong_FromLongLong`.
    fn from_i64(value: i64) -> Result<Py<Long>, MemoryError> {
        let magnitude = value.unsigned_abs();
        let ndigits = (u64::BITS - magnitude.leading_zeros()).div_ceil(SHIFT) as usize;
        let digits = (0..ndigits).map(|i| ((magnitude >> (SHIFT * i as u32)) & MASK) as Digit);
        let mut long = Long::new_var(Long, digits)?;
        if value < 0 {
            long.set_signed_size(-long.signed_size()); // Py_SET_SIZE(v, -ndigits)
        }
        Ok(long)
    }

    /// `PyLong_AsLongLong`, for values that fit.
    fn to_i64(self: &Py<Self>) -> i64 {
        let magnitude = self
            .items()
            .iter()
            .rev()
            .fold(0_i128, |acc, &digit| (acc << SHIFT) | i128::from(digit));
        let signed = if self.signed_size() < 0 {
            -magnitude
        } else {
            magnitude
        };
        signed as i64
    }
}

fn main() -> Result<(), MemoryError> {
    // `sys.getsizeof(v)` in CPython 3.11 for each value (no GC header: ints
    // are not tracked); CPython gives zero one digit.
    let values: [(i64, usize); 6] = [
        (0, 28),
        (1, 28),
        (-1, 28),
        (1 << 30, 32),
        (1 << 60, 36),
        (-(1 << 60), 36),
    ];
    println!(
        "{:>22} {:>8} {:>16} {:>9} {:>8}",
        "value", "ob_size", "digits", "var_size", "CPython"
    );
    for (value, cpython_size) in values {
        let long = Long::from_i64(value)?;
        assert_eq!(long.to_i64(), value);
        let size = var_size(Long::TYPE, long.len()).ok_or(MemoryError)?;
        println!(
            "{value:>22} {:>8} {:>16} {size:>9} {cpython_size:>8}",
            long.signed_size(),
            format!("{:?}", long.items()),
        );
    }
    println!(
        "type {:?}: basicsize {}, itemsize {} (CPython 3.11: 24 and 4)",
        Long::TYPE.name(),
        Long::TYPE.basicsize(),
        Long::TYPE.itemsize()
    );
    println!(
        "Where the columns differ: CPython 3.11 gives zero one digit, and does not \
         round an int's size to 8 bytes (24 + 4 = 28) as var_size does; both pools \
         serve sizes in 16-byte classes, so the blocks are the same (28 and 32 take \
         32, 36 and 40 take 48)."
    );
    Ok(())
}

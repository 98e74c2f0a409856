//! The interface of CPython's `Include/objimpl.h`: object sizes, header
//! initialisation, and allocation of objects whose body is left to the caller.
//!
//! `Py::new` and `Py::new_var` are built on these; use them directly only to
//! build objects by hand (as C code does).

use core::ptr::NonNull;

use crate::{MemoryError, PyObject, PyVarObject, TypeObject, alloc};

/// `_PyObject_SIZE(tp)`: the size of an object of type `tp` with no items,
/// `tp_basicsize`.
///
/// ```
/// # use objimpl::{PyObject, object_size};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Point { pub x: f64, pub y: f64 }
///
/// const SIZE: usize = object_size(Point::TYPE);
/// assert_eq!(SIZE, 32);
/// ```
#[inline]
pub const fn object_size(tp: &TypeObject) -> usize {
    tp.basicsize()
}

/// `_PyObject_VAR_SIZE(tp, n)`: the size of an object of type `tp` with `n`
/// items, `basicsize + n * itemsize` rounded up to a multiple of the pointer
/// size.
///
/// `None` if the computation overflows or the size exceeds `isize::MAX`
/// (CPython leaves both to the caller).
///
/// ```
/// # use objimpl::{PyVarObject, var_size};
/// use objimpl::prelude::*;
///
/// /// CPython's `bytes`: the bytes are the items.
/// #[pyobject(basic, item = u8, name = "bytes")]
/// #[derive(Debug)]
/// pub struct Bytes { pub hash: isize }
///
/// assert_eq!(var_size(Bytes::TYPE, 0), Some(32));
/// assert_eq!(var_size(Bytes::TYPE, 1), Some(40)); // 33 rounded up to 8
/// assert_eq!(var_size(Bytes::TYPE, usize::MAX), None);
/// ```
#[inline(always)]
pub const fn var_size(tp: &TypeObject, n: usize) -> Option<usize> {
    const ROUND: usize = size_of::<*const ()>() - 1;
    let Some(items) = n.checked_mul(tp.itemsize()) else {
        return None;
    };
    let Some(size) = tp.basicsize().checked_add(items) else {
        return None;
    };
    let Some(size) = size.checked_add(ROUND) else {
        return None;
    };
    let size = size & !ROUND;
    if size > isize::MAX as usize {
        None
    } else {
        Some(size)
    }
}

/// `PyObject_INIT(op, tp)`: sets the object's type and gives it a fresh
/// reference (`ob_refcnt == 1`, `_Py_NewReference`). Returns `op`.
///
/// # Safety
///
/// - `op` is valid for writes of a [`PyObject`] header and aligned for it.
///
/// ```
/// use objimpl::{PyObject, PyObjectType, TypeObject, alloc, init, object_size};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// let op = alloc::object_malloc(object_size(Unit::TYPE)).cast::<PyObject>();
/// assert!(!op.is_null());
/// // SAFETY: `op` is a fresh block big enough for the header, 16-byte aligned.
/// unsafe { init(op, Unit::TYPE) };
/// // SAFETY: the header was just written.
/// assert_eq!(unsafe { (*op).ob_refcnt }, 1);
/// // SAFETY: `op` came from `object_malloc`; nothing else refers to it.
/// unsafe { alloc::object_free(op.cast()) };
/// ```
#[inline]
pub const unsafe fn init(op: *mut PyObject, tp: &'static TypeObject) -> *mut PyObject {
    // SAFETY: the caller promises `op` is valid for writing a header.
    unsafe {
        op.write(PyObject {
            ob_refcnt: 1,
            ob_type: tp,
        })
    };
    op
}

/// `PyObject_INIT_VAR(op, tp, n)`: sets `ob_size` to `n`, then as [`init`].
/// Returns `op`.
///
/// # Safety
///
/// - `op` is valid for writes of a [`PyVarObject`] header and aligned for it;
/// - `n <= isize::MAX`.
///
/// ```
/// use objimpl::{PyVarObject, PyObjectType, TypeObject, alloc, init_var, var_size};
/// use objimpl::prelude::*;
///
/// /// CPython's `bytes`: the bytes are the items.
/// #[pyobject(basic, item = u8, name = "bytes")]
/// #[derive(Debug)]
/// pub struct Bytes { pub hash: isize }
///
/// let size = var_size(Bytes::TYPE, 5).unwrap();
/// let op = alloc::object_malloc(size).cast::<PyVarObject>();
/// assert!(!op.is_null());
/// // SAFETY: `op` is a fresh block big enough for the header, 16-byte aligned.
/// unsafe { init_var(op, Bytes::TYPE, 5) };
/// // SAFETY: the header was just written.
/// assert_eq!(unsafe { (*op).ob_size }, 5);
/// // SAFETY: `op` came from `object_malloc`; nothing else refers to it.
/// unsafe { alloc::object_free(op.cast()) };
/// ```
#[inline]
pub const unsafe fn init_var(
    op: *mut PyVarObject,
    tp: &'static TypeObject,
    n: usize,
) -> *mut PyVarObject {
    // SAFETY: the caller promises `op` is valid for writing a var header.
    unsafe {
        op.write(PyVarObject {
            ob_base: PyObject {
                ob_refcnt: 1,
                ob_type: tp,
            },
            ob_size: n as isize,
        })
    };
    op
}

/// `_PyObject_New(tp)`: allocates `object_size(tp)` bytes from the object
/// allocator and initialises the header. The body is uninitialised.
///
/// The object must be completed (its body written) before a `Py<T>` or
/// `PyAny` takes it over, or freed with [`alloc::object_free`].
///
/// # Errors
///
/// [`MemoryError`] if the memory could not be had.
///
/// ```
/// use objimpl::{Py, PyObject, PyObjectType, TypeObject, new_object};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// let op = new_object(Unit::TYPE)?;
/// // SAFETY: a Unit object has an empty body: it is complete, with one reference.
/// let unit: Py<Unit> = unsafe { Py::from_raw(op.as_ptr()) };
/// assert_eq!(unit.refcnt(), 1);
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
#[inline(always)]
pub fn new_object(tp: &'static TypeObject) -> Result<NonNull<PyObject>, MemoryError> {
    let op = NonNull::new(alloc::object_malloc_inlined(object_size(tp)).cast::<PyObject>())
        .ok_or(MemoryError)?;
    // SAFETY: `op` is a fresh block of `tp_basicsize` bytes, which holds at
    // least a header, aligned to 16 bytes.
    unsafe { init(op.as_ptr(), tp) };
    Ok(op)
}

/// `_PyObject_NewVar(tp, n)`: allocates `var_size(tp, n)` bytes from the
/// object allocator and initialises the header with `ob_size = n`. The body
/// and the items are uninitialised.
///
/// # Errors
///
/// [`MemoryError`] if the size overflows, or the memory could not be had.
///
/// ```
/// use objimpl::{PyVarObject, PyObjectType, TypeObject, alloc, new_var_object};
/// use objimpl::prelude::*;
///
/// /// CPython's `bytes`: the bytes are the items.
/// #[pyobject(basic, item = u8, name = "bytes")]
/// #[derive(Debug)]
/// pub struct Bytes { pub hash: isize }
///
/// assert!(new_var_object(Bytes::TYPE, usize::MAX).is_err());
/// let op = new_var_object(Bytes::TYPE, 3)?;
/// // SAFETY: the header is initialised.
/// assert_eq!(unsafe { op.as_ref().ob_size }, 3);
/// // SAFETY: `op` came from `object_malloc`; nothing else refers to it.
/// unsafe { alloc::object_free(op.as_ptr().cast()) };
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
#[inline(always)]
pub fn new_var_object(
    tp: &'static TypeObject,
    n: usize,
) -> Result<NonNull<PyVarObject>, MemoryError> {
    if n > isize::MAX as usize {
        return Err(MemoryError);
    }
    let size = var_size(tp, n).ok_or(MemoryError)?;
    // A fixed-size type's basicsize may be smaller than a var header.
    let size = size.max(size_of::<PyVarObject>());
    let op = NonNull::new(alloc::object_malloc_inlined(size).cast::<PyVarObject>())
        .ok_or(MemoryError)?;
    // SAFETY: `op` is a fresh block of at least a var header's size, aligned
    // to 16 bytes, and `n <= isize::MAX`.
    unsafe { init_var(op.as_ptr(), tp, n) };
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `_PyObject_VAR_SIZE` computed without overflow, in 128-bit arithmetic.
    fn model(basicsize: usize, itemsize: usize, n: usize) -> Option<usize> {
        let word = size_of::<*const ()>() as u128;
        let exact = basicsize as u128 + n as u128 * itemsize as u128;
        let rounded = exact.div_ceil(word) * word;
        (rounded <= isize::MAX as u128).then_some(rounded as usize)
    }

    fn check(basicsize: usize, itemsize: usize, n: usize) {
        let tp = TypeObject::with_sizes(basicsize as isize, itemsize as isize);
        assert_eq!(object_size(&tp), basicsize);
        assert_eq!(
            var_size(&tp, n),
            model(basicsize, itemsize, n),
            "var_size(basicsize {basicsize}, itemsize {itemsize}, n {n})"
        );
    }

    #[test]
    fn var_size_matches_the_formula_on_small_sizes() {
        for basicsize in [16, 24, 25, 32, 33, 40, 100, 4096] {
            for itemsize in [0, 1, 2, 3, 4, 8, 16, 24, 30, 1000] {
                for n in 0..40 {
                    check(basicsize, itemsize, n);
                }
            }
        }
    }

    #[test]
    fn var_size_matches_the_formula_at_the_overflow_edges() {
        let max = isize::MAX as usize;
        let word = size_of::<*const ()>();
        for basicsize in [16, 24, 33, max - word, max - 1, max] {
            for itemsize in [0, 1, 2, 7, 8, 16, max / 2, max] {
                let edge = (max - basicsize.min(max)) / itemsize.max(1);
                for n in [
                    edge.saturating_sub(1),
                    edge,
                    edge + 1,
                    edge * 2,
                    max,
                    max + 1,
                    usize::MAX / itemsize.max(1),
                    usize::MAX,
                ] {
                    check(basicsize, itemsize, n);
                }
            }
        }
    }

    #[test]
    fn var_size_matches_the_formula_on_random_sizes() {
        // xorshift64: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..if cfg!(miri) { 200 } else { 20_000 } {
            let shift = next() % 64;
            let basicsize = (next() >> 1) as usize >> (next() % 64);
            let itemsize = (next() >> shift) as usize;
            let n = (next() >> (next() % 64)) as usize;
            check(basicsize.max(16), itemsize, n);
        }
    }
}

//! The object headers: `PyObject` (`PyObject_HEAD`) and `PyVarObject`
//! (`PyObject_VAR_HEAD`), laid out as CPython lays them out.

use super::TypeObject;

/// `PyObject`: the header every object starts with (`PyObject_HEAD`).
///
/// `#[repr(C)]` with CPython's field order: 16 bytes on 64-bit targets.
///
/// ```
/// assert_eq!(size_of::<objimpl::PyObject>(), 2 * size_of::<usize>());
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct PyObject {
    /// `ob_refcnt`: the number of strong references (`Py_REFCNT`).
    pub ob_refcnt: isize,
    /// `ob_type`: the object's type (`Py_TYPE`).
    pub ob_type: *const TypeObject,
}

/// `PyVarObject`: the header of objects with a variable number of items
/// (`PyObject_VAR_HEAD`).
///
/// `#[repr(C)]` with CPython's field order: 24 bytes on 64-bit targets.
///
/// ```
/// assert_eq!(size_of::<objimpl::PyVarObject>(), 3 * size_of::<usize>());
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct PyVarObject {
    /// `ob_base`: the fixed header.
    pub ob_base: PyObject,
    /// `ob_size`: the number of items (`Py_SIZE`). `Py<T>` reads its
    /// magnitude, leaving the sign to the type: CPython's `int` keeps the
    /// number's sign there.
    pub ob_size: isize,
}

static_assertions::assert_eq_size!(PyObject, [usize; 2]);
static_assertions::assert_eq_size!(PyVarObject, [usize; 3]);
static_assertions::assert_eq_align!(PyVarObject, usize);
static_assertions::const_assert_eq!(core::mem::offset_of!(PyObject, ob_refcnt), 0);
static_assertions::const_assert_eq!(core::mem::offset_of!(PyObject, ob_type), size_of::<usize>());
static_assertions::const_assert_eq!(core::mem::offset_of!(PyVarObject, ob_base), 0);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(PyVarObject, ob_size),
    2 * size_of::<usize>()
);

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::PyObject {}
    impl Sealed for super::PyVarObject {}
}

/// The two object headers: [`PyObject`] (`PyObject_HEAD`, fixed-size objects)
/// and [`PyVarObject`] (`PyObject_VAR_HEAD`, objects with items). Sealed.
///
/// ```
/// use objimpl::{ObjectHeader, PyObject, PyVarObject};
/// assert!(!PyObject::IS_VAR);
/// assert!(PyVarObject::IS_VAR);
/// ```
pub trait ObjectHeader: sealed::Sealed + 'static {
    /// Whether the header carries `ob_size`, the number of items.
    const IS_VAR: bool;
}

impl ObjectHeader for PyObject {
    const IS_VAR: bool = false;
}

impl ObjectHeader for PyVarObject {
    const IS_VAR: bool = true;
}

//! The error indicator, as far as a C caller needs it to see a
//! `MemoryError`: `PyErr_NoMemory`, `PyErr_Occurred`, `PyErr_Clear`.

use core::cell::Cell;
use core::ptr;

use crate::{PyObject, TypeObject};

/// The type object of `MemoryError`: compared by address, never instantiated.
pub static MEMORY_ERROR: TypeObject = TypeObject::exception(c"MemoryError");

/// A pointer to an exception's type object, as C sees `PyExc_MemoryError`:
/// a `PyObject *`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionType(pub *mut PyObject);

// SAFETY: it points at an immutable static type object.
unsafe impl Sync for ExceptionType {}

/// `PyExc_MemoryError`: what [`PyErr_Occurred`] returns after a failed
/// allocation.
pub static PyExc_MemoryError: ExceptionType =
    ExceptionType((&raw const MEMORY_ERROR).cast_mut().cast());

thread_local! {
    /// The exception type set on this thread, or null.
    static INDICATOR: Cell<*mut PyObject> = const { Cell::new(ptr::null_mut()) };
}

/// `PyErr_NoMemory()`: sets `MemoryError` on this thread; returns NULL, for
/// `return PyErr_NoMemory();`.
///
/// ```
/// use objimpl_core::capi::{PyErr_Clear, PyErr_NoMemory, PyErr_Occurred, PyExc_MemoryError};
/// assert!(PyErr_NoMemory().is_null());
/// assert_eq!(PyErr_Occurred(), PyExc_MemoryError.0);
/// PyErr_Clear();
/// assert!(PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_NoMemory() -> *mut PyObject {
    INDICATOR.set(PyExc_MemoryError.0);
    ptr::null_mut()
}

/// `PyErr_Occurred()`: the type of the exception set on this thread (a
/// borrowed reference), or NULL.
///
/// ```
/// objimpl_core::capi::PyErr_Clear();
/// assert!(objimpl_core::capi::PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_Occurred() -> *mut PyObject {
    INDICATOR.get()
}

/// `PyErr_Clear()`: clears this thread's error indicator.
///
/// ```
/// objimpl_core::capi::PyErr_NoMemory();
/// objimpl_core::capi::PyErr_Clear();
/// assert!(objimpl_core::capi::PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_Clear() {
    INDICATOR.set(ptr::null_mut());
}

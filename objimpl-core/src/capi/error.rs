//! The error indicator, as far as a C caller needs it to see a
//! `MemoryError`: `PyErr_NoMemory`, `PyErr_Occurred`, `PyErr_Clear`.

use core::cell::{Cell, RefCell};
use core::ffi::{CStr, c_char};
use core::ptr;
use std::io::Write as _;

use crate::{PyObject, TypeObject};

/// The type object of `MemoryError`: compared by address, never instantiated.
pub static MEMORY_ERROR: TypeObject = TypeObject::exception(c"MemoryError");
/// The type object of `SystemError` (a C type that `PyType_Ready` refuses).
pub static SYSTEM_ERROR: TypeObject = TypeObject::exception(c"SystemError");
/// The type object of `TypeError`.
pub static TYPE_ERROR: TypeObject = TypeObject::exception(c"TypeError");

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

/// `PyExc_SystemError`: what `PyType_Ready` sets when it refuses a type.
pub static PyExc_SystemError: ExceptionType =
    ExceptionType((&raw const SYSTEM_ERROR).cast_mut().cast());

/// `PyExc_TypeError`.
pub static PyExc_TypeError: ExceptionType =
    ExceptionType((&raw const TYPE_ERROR).cast_mut().cast());

thread_local! {
    /// The exception type set on this thread, or null.
    static INDICATOR: Cell<*mut PyObject> = const { Cell::new(ptr::null_mut()) };
    /// Its message, if it was set with one.
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Sets `exception` on this thread, with `message`.
pub(crate) fn set(exception: ExceptionType, message: &str) {
    INDICATOR.set(exception.0);
    let _ = MESSAGE.try_with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.push_str(message);
    });
}

/// The message of the exception set on this thread ("" if none).
pub(crate) fn message() -> String {
    MESSAGE.try_with(|m| m.borrow().clone()).unwrap_or_default()
}

/// `PyErr_SetString(type, message)`: sets the exception `exception` on this
/// thread, with `message` (copied; a NULL one is an empty message).
///
/// # Safety
///
/// - `exception` is one of the `PyExc_*` objects, and `message` is null or
///   a NUL-terminated string.
///
/// ```
/// use objimpl::capi::{PyErr_Clear, PyErr_Occurred, PyErr_SetString, PyExc_TypeError};
/// // SAFETY: a `PyExc_*` object and a C string.
/// unsafe { PyErr_SetString(PyExc_TypeError.0, c"no".as_ptr()) };
/// assert_eq!(PyErr_Occurred(), PyExc_TypeError.0);
/// PyErr_Clear();
/// ```
pub unsafe extern "C" fn PyErr_SetString(exception: *mut PyObject, message: *const c_char) {
    let text = if message.is_null() {
        std::borrow::Cow::Borrowed("")
    } else {
        // SAFETY: as the caller promises, a NUL-terminated string.
        unsafe { CStr::from_ptr(message) }.to_string_lossy()
    };
    set(ExceptionType(exception), &text);
}

/// `PyErr_Print()`: prints the exception set on this thread to stderr, as
/// `TypeName: message`, and clears it. With none set, prints nothing.
///
/// ```
/// objimpl::capi::PyErr_NoMemory();
/// objimpl::capi::PyErr_Print(); // MemoryError
/// assert!(objimpl::capi::PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_Print() {
    let exception = INDICATOR.get();
    if exception.is_null() {
        return;
    }
    // Each `PyExc_*` points at an exception's type object.
    // SAFETY: so it is a live type object, immortal.
    let name = unsafe { (*exception.cast::<TypeObject>()).name() };
    let message = message();
    let mut err = std::io::stderr();
    let _ = if message.is_empty() {
        writeln!(err, "{name}")
    } else {
        writeln!(err, "{name}: {message}")
    };
    PyErr_Clear();
}

/// `PyErr_NoMemory()`: sets `MemoryError` on this thread; returns NULL, for
/// `return PyErr_NoMemory();`.
///
/// ```
/// use objimpl::capi::{PyErr_Clear, PyErr_NoMemory, PyErr_Occurred, PyExc_MemoryError};
/// assert!(PyErr_NoMemory().is_null());
/// assert_eq!(PyErr_Occurred(), PyExc_MemoryError.0);
/// PyErr_Clear();
/// assert!(PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_NoMemory() -> *mut PyObject {
    set(PyExc_MemoryError, "");
    ptr::null_mut()
}

/// `PyErr_Occurred()`: the type of the exception set on this thread (a
/// borrowed reference), or NULL.
///
/// ```
/// objimpl::capi::PyErr_Clear();
/// assert!(objimpl::capi::PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_Occurred() -> *mut PyObject {
    INDICATOR.get()
}

/// `PyErr_Clear()`: clears this thread's error indicator.
///
/// ```
/// objimpl::capi::PyErr_NoMemory();
/// objimpl::capi::PyErr_Clear();
/// assert!(objimpl::capi::PyErr_Occurred().is_null());
/// ```
pub extern "C" fn PyErr_Clear() {
    INDICATOR.set(ptr::null_mut());
    let _ = MESSAGE.try_with(|m| m.borrow_mut().clear());
}

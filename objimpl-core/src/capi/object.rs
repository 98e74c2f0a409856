//! The object half of `objimpl.h`: initialising and allocating objects,
//! and the reference-count helpers.

use core::ptr::NonNull;

use super::abort_on_panic;
use super::error::PyErr_NoMemory;
use super::typeobject::ready_for;
use crate::{PyObject, PyVarObject, TypeObject};

/// `PyObject_Init(op, tp)`: [`init`](crate::init), with CPython's NULL
/// handling: a NULL `op` (a failed allocation) sets `MemoryError` and gives
/// NULL back.
///
/// # Safety
///
/// - `op` is null, or valid for writes of a [`PyObject`] header and aligned for it;
/// - `tp` points at a type object that outlives the object.
///
/// ```
/// use objimpl::capi::PyObject_Init;
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// // SAFETY: NULL in is allowed: NULL out.
/// let op = unsafe { PyObject_Init(std::ptr::null_mut(), Unit::TYPE) };
/// assert!(op.is_null());
/// ```
pub unsafe extern "C" fn PyObject_Init(op: *mut PyObject, tp: *const TypeObject) -> *mut PyObject {
    if op.is_null() {
        return PyErr_NoMemory();
    }
    // SAFETY: the caller promises a live type object.
    if !unsafe { ready_for(tp, "PyObject_Init", false) } {
        return core::ptr::null_mut();
    }
    // SAFETY: the caller promises `op` is writable and `tp` outlives the object.
    unsafe { crate::init(op, &*tp) }
}

/// `PyObject_InitVar(op, tp, n)`: [`init_var`](crate::init_var), with
/// CPython's NULL handling (NULL in: `MemoryError` set, NULL out).
///
/// # Safety
///
/// - `op` is null, or valid for writes of a [`PyVarObject`] header and aligned for it;
/// - `tp` points at a type object that outlives the object;
/// - `n >= 0`.
///
/// ```
/// use objimpl::capi::PyObject_InitVar;
/// use objimpl::prelude::*;
///
/// /// CPython's `bytes`: the bytes are the items.
/// #[pyobject(basic, item = u8, name = "bytes")]
/// #[derive(Debug)]
/// pub struct Bytes { pub hash: isize }
///
/// // SAFETY: NULL in is allowed: NULL out.
/// let op = unsafe { PyObject_InitVar(std::ptr::null_mut(), Bytes::TYPE, 3) };
/// assert!(op.is_null());
/// ```
pub unsafe extern "C" fn PyObject_InitVar(
    op: *mut PyVarObject,
    tp: *const TypeObject,
    n: isize,
) -> *mut PyVarObject {
    if op.is_null() {
        return PyErr_NoMemory().cast();
    }
    // SAFETY: the caller promises a live type object.
    if !unsafe { ready_for(tp, "PyObject_InitVar", false) } {
        return core::ptr::null_mut();
    }
    // SAFETY: the caller promises `op` is writable, `tp` outlives the object
    // and `n` is not negative.
    unsafe { crate::init_var(op, &*tp, n as usize) }
}

/// `_PyObject_New(tp)`: [`new_object`](crate::new_object); NULL with
/// `MemoryError` set on failure.
///
/// # Safety
///
/// - `tp` points at a type object that outlives every object made with it.
///
/// ```
/// use objimpl::capi::{PyObject_Free, _PyObject_New};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// // SAFETY: Unit::TYPE is a static.
/// let op = unsafe { _PyObject_New(Unit::TYPE) };
/// // SAFETY: the header was initialised.
/// assert_eq!(unsafe { (*op).ob_refcnt }, 1);
/// // SAFETY: `op` came from the object allocator and is freed once.
/// unsafe { PyObject_Free(op.cast()) };
/// ```
pub unsafe extern "C" fn _PyObject_New(tp: *const TypeObject) -> *mut PyObject {
    // SAFETY: the caller promises a live type object.
    if !unsafe { ready_for(tp, "PyObject_New", false) } {
        return core::ptr::null_mut();
    }
    // SAFETY: the caller promises `tp` outlives the objects made with it.
    let tp = unsafe { &*tp };
    crate::new_object(tp).map_or_else(|_| PyErr_NoMemory(), |op| op.as_ptr())
}

/// `_PyObject_NewVar(tp, n)`: [`new_var_object`](crate::new_var_object);
/// NULL with `MemoryError` set on failure, a negative `n`, or an `n` whose
/// size overflows (where CPython's macro would wrap around).
///
/// # Safety
///
/// - `tp` points at a type object that outlives every object made with it.
///
/// ```
/// use objimpl::capi::{PyObject_Free, _PyObject_NewVar};
/// use objimpl::prelude::*;
///
/// /// CPython's `bytes`: the bytes are the items.
/// #[pyobject(basic, item = u8, name = "bytes")]
/// #[derive(Debug)]
/// pub struct Bytes { pub hash: isize }
///
/// // SAFETY: Bytes::TYPE is a static.
/// assert!(unsafe { _PyObject_NewVar(Bytes::TYPE, -1) }.is_null());
/// // SAFETY: Bytes::TYPE is a static.
/// let op = unsafe { _PyObject_NewVar(Bytes::TYPE, 4) };
/// // SAFETY: the header was initialised.
/// assert_eq!(unsafe { (*op).ob_size }, 4);
/// // SAFETY: `op` came from the object allocator and is freed once.
/// unsafe { PyObject_Free(op.cast()) };
/// ```
pub unsafe extern "C" fn _PyObject_NewVar(tp: *const TypeObject, n: isize) -> *mut PyVarObject {
    let Ok(n) = usize::try_from(n) else {
        return PyErr_NoMemory().cast();
    };
    // SAFETY: the caller promises a live type object.
    if !unsafe { ready_for(tp, "PyObject_NewVar", false) } {
        return core::ptr::null_mut();
    }
    // SAFETY: the caller promises `tp` outlives the objects made with it.
    let tp = unsafe { &*tp };
    crate::new_var_object(tp, n).map_or_else(|_| PyErr_NoMemory().cast(), |op| op.as_ptr())
}

/// `Py_IncRef(op)`: one more reference; NULL does nothing (`Py_XINCREF`).
///
/// # Safety
///
/// - `op` is NULL or a live object the caller holds a reference to, used
///   by this thread alone.
///
/// ```
/// use objimpl::capi::{Py_DecRef, Py_IncRef, _PyObject_New};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// // SAFETY: Unit::TYPE is a static.
/// let op = unsafe { _PyObject_New(Unit::TYPE) };
/// // SAFETY: `op` is live and ours.
/// unsafe { Py_IncRef(op) };
/// // SAFETY: as above.
/// assert_eq!(unsafe { (*op).ob_refcnt }, 2);
/// // SAFETY: both references are given up; the second calls `tp_dealloc`.
/// unsafe { Py_DecRef(op); Py_DecRef(op) };
/// ```
pub unsafe extern "C" fn Py_IncRef(op: *mut PyObject) {
    if let Some(op) = NonNull::new(op) {
        // SAFETY: as the caller guarantees.
        unsafe { crate::object::incref(op) };
    }
}

/// `Py_DecRef(op)`: one reference less, and at zero the type's
/// `tp_dealloc`; NULL does nothing (`Py_XDECREF`). A panic of a Rust
/// destructor ends the process (see [the module](super)).
///
/// # Safety
///
/// - `op` is NULL or a live object the caller gives one reference to up,
///   used by this thread alone; its type's `tp_dealloc` destroys it.
///
/// ```
/// // SAFETY: NULL does nothing.
/// unsafe { objimpl::capi::Py_DecRef(std::ptr::null_mut()) };
/// ```
pub unsafe extern "C" fn Py_DecRef(op: *mut PyObject) {
    if let Some(op) = NonNull::new(op) {
        // SAFETY: as the caller guarantees.
        if unsafe { crate::object::release(op) } {
            // SAFETY: that was the last reference.
            unsafe { dealloc_from_c(op, "Py_DecRef") }
        }
    }
}

/// `_Py_Dealloc(op)`: destroys an object whose reference count has
/// reached zero, by its type's `tp_dealloc`. The header's `Py_DECREF` calls
/// it at zero, as CPython 3.11's does, rather than the slot itself: a panic
/// of a Rust destructor ends the process here (see [the module](super))
/// instead of unwinding into the C caller.
///
/// # Safety
///
/// - `op` is a live object that nobody holds a reference to any more,
///   used by this thread alone; its type's `tp_dealloc` destroys it.
///
/// ```
/// use objimpl::capi::{_Py_Dealloc, _PyObject_New};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// // SAFETY: Unit::TYPE is a static.
/// let op = unsafe { _PyObject_New(Unit::TYPE) };
/// // SAFETY: `op` is live and ours; `Py_DECREF` as the header has it.
/// unsafe {
///     (*op).ob_refcnt -= 1;
///     if (*op).ob_refcnt == 0 {
///         _Py_Dealloc(op);
///     }
/// }
/// ```
pub unsafe extern "C" fn _Py_Dealloc(op: *mut PyObject) {
    if let Some(op) = NonNull::new(op) {
        // SAFETY: as the caller guarantees.
        unsafe { dealloc_from_c(op, "_Py_Dealloc") }
    }
}

/// Destroys `op` by its type's `tp_dealloc` for `function`, a C entry: a
/// type without one ends the process saying what to do (CPython's would
/// crash), and so does a Rust destructor's panic.
///
/// # Safety
///
/// - as [`_Py_Dealloc`].
unsafe fn dealloc_from_c(op: NonNull<PyObject>, function: &'static str) {
    // SAFETY: as the caller guarantees, a live object; its type outlives it.
    let tp = unsafe { &*(*op.as_ptr()).ob_type };
    if tp.dealloc().is_none() {
        super::gc::fatal(
            op.as_ptr(),
            &format!(
                "{function}: type '{}' has no tp_dealloc, so its object cannot be destroyed: \
                 set it, or call PyType_Ready on the type before making its objects",
                tp.name()
            ),
        );
    }
    abort_on_panic(function, || {
        // SAFETY: as the caller guarantees.
        unsafe { crate::object::dealloc_by_type(op) }
    });
}

//! Reference counting: `Py_INCREF`, `Py_DECREF` and `_Py_Dealloc`, on raw
//! objects of any type.

use core::ptr::NonNull;

use super::PyObject;

/// `Py_REFCNT`.
///
/// # Safety
///
/// - `op` is a live object.
#[inline]
pub(crate) unsafe fn refcnt(op: NonNull<PyObject>) -> isize {
    // SAFETY: the caller promises `op` is live.
    unsafe { (*op.as_ptr()).ob_refcnt }
}

/// `Py_INCREF`. Aborts, as `Rc` does, rather than let the count overflow.
///
/// # Safety
///
/// - `op` is a live object, and this thread holds a reference to it.
#[inline]
pub(crate) unsafe fn incref(op: NonNull<PyObject>) {
    // SAFETY: the caller promises `op` is live; the count is only touched by
    // the thread that holds the references (`Py` and `PyAny` are `!Send`).
    let count = unsafe { &mut (*op.as_ptr()).ob_refcnt };
    // Overflow, not a compare with `isize::MAX`: the increment's own flag.
    let (incremented, overflowed) = count.overflowing_add(1);
    if overflowed {
        std::process::abort();
    }
    *count = incremented;
}

/// Gives up one reference; true if it was the last, and the object must go.
///
/// # Safety
///
/// - `op` is a live object and the caller gives up one strong reference to it.
#[inline]
pub(crate) unsafe fn release(op: NonNull<PyObject>) -> bool {
    // SAFETY: the caller promises `op` is live; see `incref` for why the
    // count may be written here.
    let count = unsafe { &mut (*op.as_ptr()).ob_refcnt };
    *count -= 1;
    *count == 0
}

/// `Py_DECREF`: at zero, `tp_dealloc`.
///
/// # Safety
///
/// - `op` is a live object and the caller gives up one strong reference to it.
#[inline]
pub(crate) unsafe fn decref(op: NonNull<PyObject>) {
    // SAFETY: the caller gives up one reference to the live `op`.
    if unsafe { release(op) } {
        // SAFETY: that was the last reference.
        unsafe { dealloc_by_type(op) }
    }
}

/// `_Py_Dealloc`: destroys `op` by its type's `tp_dealloc` (a type without
/// one has nothing to do).
///
/// # Safety
///
/// - `op` is a live object that nobody holds a reference to any more.
#[inline]
pub(crate) unsafe fn dealloc_by_type(op: NonNull<PyObject>) {
    // SAFETY: the caller promises a live object; `ob_type` outlives it.
    let tp = unsafe { &*(*op.as_ptr()).ob_type };
    if let Some(dealloc) = tp.dealloc() {
        // SAFETY: nobody holds a reference any more, so the type's
        // destructor may drop and free the object.
        unsafe { dealloc(op.as_ptr()) }
    }
}

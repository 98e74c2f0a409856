//! Where things sit in an object: header, payload, items.
//!
//! ```text
//!  offset 0            payload_offset::<T>()       basicsize::<T>()
//!  | header (16 or 24) | pad | T (the payload) | pad | Item 0 | Item 1 | ... |
//!  '----------- ObjectLayout<T>, #[repr(C)] ---------'
//! ```
//!
//! `basicsize` is the size of the `#[repr(C)]` header-plus-payload struct,
//! rounded up to the item's alignment, so the first item is aligned with no
//! arithmetic at run time. Everything here is a `const fn` of the type alone.

use core::ptr::NonNull;

use super::PyObjectType;
use crate::alloc::ALIGNMENT;
use crate::object::{ObjectHeader, PyObject, PyVarObject};

/// The `#[repr(C)]` header-plus-payload struct of `T`'s objects.
#[repr(C)]
pub(crate) struct ObjectLayout<T: PyObjectType> {
    header: T::Header,
    payload: T,
}

/// Offset of the payload `T` from the start of the object.
pub(crate) const fn payload_offset<T: PyObjectType>() -> usize {
    core::mem::offset_of!(ObjectLayout<T>, payload)
}

/// `tp_basicsize`: the header-plus-payload struct rounded up to the item's alignment.
pub(crate) const fn basicsize<T: PyObjectType>() -> usize {
    size_of::<ObjectLayout<T>>().next_multiple_of(align_of::<T::Item>())
}

/// Fails const evaluation, with a message saying what to change, if `T`
/// cannot be laid out as an object.
pub(crate) const fn check<T: PyObjectType>() {
    assert!(
        align_of::<ObjectLayout<T>>() <= ALIGNMENT,
        "an object's alignment must be at most 16 bytes, the allocator's: \
         lower the payload's #[repr(align)]"
    );
    assert!(
        align_of::<T::Item>() <= ALIGNMENT,
        "an item's alignment must be at most 16 bytes, the allocator's"
    );
    if T::Header::IS_VAR {
        assert!(
            size_of::<T::Item>() > 0,
            "a var-size object needs items of non-zero size: use a fixed-size object \
             (Header = PyObject, Item = ()) instead"
        );
    } else {
        assert!(
            size_of::<T::Item>() == 0,
            "a fixed-size object (Header = PyObject) has no items: set Item = (), \
             or use Header = PyVarObject"
        );
    }
}

/// Fails const evaluation if `T::TYPE` does not describe `T`'s layout: the
/// check behind `Py<T>`'s trust in `T::TYPE`.
pub(crate) const fn check_type_object<T: PyObjectType>() {
    check::<T>();
    assert!(
        T::TYPE.basicsize() == basicsize::<T>(),
        "T::TYPE.basicsize() is not the size of T's object layout: build TYPE with TypeObject::new::<T>"
    );
    let itemsize = if T::Header::IS_VAR {
        size_of::<T::Item>()
    } else {
        0
    };
    assert!(
        T::TYPE.itemsize() == itemsize,
        "T::TYPE.itemsize() is not size_of::<T::Item>(): build TYPE with TypeObject::new::<T>"
    );
}

/// Address of the payload of object `op`.
#[inline]
pub(crate) fn payload_ptr<T: PyObjectType>(op: NonNull<PyObject>) -> *mut T {
    op.as_ptr()
        .cast::<u8>()
        .wrapping_add(payload_offset::<T>())
        .cast()
}

/// Address of the first item of object `op`.
#[inline]
pub(crate) fn items_ptr<T: PyObjectType>(op: NonNull<PyObject>) -> *mut T::Item {
    op.as_ptr()
        .cast::<u8>()
        .wrapping_add(basicsize::<T>())
        .cast()
}

/// How many items object `op` holds: the magnitude of `ob_size` for a var
/// type (which may keep a sign there, as `int` does), 0 for a fixed one.
///
/// # Safety
///
/// - `op` is a live object of type `T::TYPE`.
#[inline]
pub(crate) unsafe fn var_len<T: PyObjectType>(op: NonNull<PyObject>) -> usize {
    if !T::Header::IS_VAR {
        return 0;
    }
    // SAFETY: the object is live, and a var object's header is a PyVarObject.
    unsafe { (*op.as_ptr().cast::<PyVarObject>()).ob_size }.unsigned_abs()
}

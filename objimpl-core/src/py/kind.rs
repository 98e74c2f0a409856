//! The one place where a handle asks what kind of object it holds.
//!
//! A `basic` object's memory comes from the object family and goes back to
//! it. A `gc` object carries a GC header in front, is counted and tracked
//! by this thread's collector, and is torn down under the trashcan. CPython
//! makes the same choice through the type's slots (`tp_alloc`, `tp_free`,
//! `tp_dealloc`); here a Rust type's kind is a constant of its type object,
//! so every branch below folds away and a `basic` object pays nothing for
//! the collector.

use core::ptr::NonNull;

use super::PyObjectType;
use crate::gc::{self, trash::TrashGuard};
use crate::object::{ObjectHeader, PyObject};
use crate::{MemoryError, alloc, new_object, new_var_object};

/// Whether `T` is a `gc` type (`Py_TPFLAGS_HAVE_GC`).
#[inline(always)]
pub(crate) const fn is_gc<T: PyObjectType>() -> bool {
    T::TYPE.is_gc()
}

/// `tp_alloc`: a new object of `T::TYPE` with room for `len` items (0 for a
/// fixed-size type), its header initialised and its reference count 1. A
/// `gc` object is not counted by the collector yet: [`track_new`] does that
/// once the object is complete, so that a collection it starts never sees
/// a half-built object.
#[inline(always)]
pub(crate) fn alloc<T: PyObjectType>(len: usize) -> Result<NonNull<PyObject>, MemoryError> {
    if T::Header::IS_VAR {
        let op = if is_gc::<T>() {
            gc::alloc::new_var_object_uncounted(T::TYPE, len)?
        } else {
            new_var_object(T::TYPE, len)?
        };
        Ok(op.cast())
    } else if is_gc::<T>() {
        gc::alloc::new_object_uncounted(T::TYPE)
    } else {
        new_object(T::TYPE)
    }
}

/// Counts and tracks a complete new `gc` object (nothing for a `basic`
/// one). Counting may start a collection first.
///
/// # Safety
///
/// - `op` is a complete, untracked object of `T::TYPE` of this thread, made
///   by [`alloc`] (or taken from the type's freelist), owned by a handle.
#[inline(always)]
pub(crate) unsafe fn track_new<T: PyObjectType>(op: NonNull<PyObject>) {
    if is_gc::<T>() {
        // SAFETY: as the caller promises.
        unsafe { gc::alloc::track_new(op.as_ptr()) };
    }
}

/// Takes a `gc` object off its collector's lists; whether it was on them.
/// A `basic` object is never tracked.
///
/// # Safety
///
/// - `op` is a live object of `T::TYPE` of this thread.
#[inline(always)]
pub(crate) unsafe fn untrack<T: PyObjectType>(op: NonNull<PyObject>) -> bool {
    // SAFETY: as the caller promises; only a `gc` object has a GC header.
    is_gc::<T>() && unsafe { gc::alloc::untrack(op.as_ptr()) }
}

/// [`is_unreadable`] for an object of any type.
///
/// # Safety
///
/// - `op` is a live object.
#[inline]
pub(crate) unsafe fn is_unreadable_any(op: *mut PyObject) -> bool {
    // SAFETY: as the caller promises; only a `gc` object has a GC header.
    unsafe { (*(*op).ob_type).is_gc() && gc::alloc::is_unreadable(op) }
}

/// Takes a `gc` object away from this thread's collector, to be sent to
/// another thread: untracked, and no longer counted in `gc::get_count`.
///
/// # Safety
///
/// - `op` is a live, complete object of `T::TYPE` of this thread, whose
///   only reference is the caller's.
#[inline]
pub(crate) unsafe fn leave_thread<T: PyObjectType>(op: NonNull<PyObject>) {
    if is_gc::<T>() {
        // SAFETY: as the caller promises.
        unsafe { gc::alloc::untrack(op.as_ptr()) };
        gc::alloc::forget();
    }
}

/// Gives a `gc` object that [`leave_thread`] took away to this thread's
/// collector: counted (which may start a collection) and tracked.
///
/// # Safety
///
/// - `op` is a live, complete object of `T::TYPE`, untracked by
///   [`leave_thread`], that now belongs to this thread.
#[inline]
pub(crate) unsafe fn join_thread<T: PyObjectType>(op: NonNull<PyObject>) {
    if is_gc::<T>() {
        // SAFETY: as the caller promises: an untracked, uncounted object of
        // this thread, whose header nothing else uses.
        unsafe { gc::alloc::track_new(op.as_ptr()) };
    }
}

/// Puts an untracked `gc` object back on this thread's collector's lists.
///
/// # Safety
///
/// - `op` is a live, complete, untracked object of `T::TYPE` of this thread.
#[inline(always)]
pub(crate) unsafe fn track<T: PyObjectType>(op: NonNull<PyObject>) {
    if is_gc::<T>() {
        // SAFETY: as the caller promises.
        unsafe { gc::alloc::track(op.as_ptr()) };
    }
}

/// Whether the collector has dropped, or is dropping, the payload: always
/// false for a `basic` object.
///
/// # Safety
///
/// - `op` is a live object of `T::TYPE`.
#[inline(always)]
pub(crate) unsafe fn is_unreadable<T: PyObjectType>(op: NonNull<PyObject>) -> bool {
    // SAFETY: as the caller promises; only a `gc` object has a GC header.
    is_gc::<T>() && unsafe { gc::alloc::is_unreadable(op.as_ptr()) }
}

/// Resizes the memory of a var object (`PyObject_Realloc`, or
/// `_PyObject_GC_Resize` for an untracked `gc` object): the moved object,
/// or null if the memory could not be had (then `op` is unchanged).
///
/// # Safety
///
/// - `op` is a live, unique, untracked object of `T::TYPE`, and its first
///   `size` bytes hold everything in it that is initialised.
#[inline]
pub(crate) unsafe fn realloc<T: PyObjectType>(op: NonNull<PyObject>, size: usize) -> *mut PyObject {
    // SAFETY: as the caller promises; the memory came from the object
    // family, with a GC header in front for a `gc` type.
    unsafe {
        if is_gc::<T>() {
            gc::alloc::resize(op.as_ptr(), size)
        } else {
            alloc::object_realloc(op.as_ptr().cast(), size).cast()
        }
    }
}

/// `tp_free` of an object the collector never counted (one [`alloc`] made
/// and construction abandoned).
///
/// # Safety
///
/// - `op` came from [`alloc`] for `T`, was never tracked, owns nothing, and
///   is freed once.
#[inline]
pub(crate) unsafe fn free_unfinished<T: PyObjectType>(op: NonNull<PyObject>) {
    // SAFETY: as the caller promises.
    unsafe {
        if is_gc::<T>() {
            gc::alloc::free_uncounted(op.as_ptr());
        } else {
            alloc::object_free_sized(op.as_ptr().cast(), fixed_size::<T>());
        }
    }
}

/// The size of a fixed-size object of `T` (a constant), to free it by;
/// `usize::MAX` for a var type, whose objects are freed without one (a
/// block resized in place keeps the class it was made in).
#[inline(always)]
const fn fixed_size<T: PyObjectType>() -> usize {
    if T::Header::IS_VAR {
        usize::MAX
    } else {
        crate::object_size(T::TYPE)
    }
}

/// `tp_free`: the `tp_free` that `TypeObject::new` or `new_gc` gave
/// `T::TYPE`, called directly.
///
/// # Safety
///
/// - `op` is an untracked object of `T::TYPE` that owns nothing any more
///   and that nobody refers to; its memory goes back once.
#[inline]
pub(crate) unsafe fn free<T: PyObjectType>(op: *mut PyObject) {
    // SAFETY: as the caller promises.
    unsafe {
        if is_gc::<T>() {
            gc::alloc::free_sized(op, fixed_size::<T>());
        } else {
            alloc::object_free_sized(op.cast(), fixed_size::<T>());
        }
    }
}

/// An object of `T::TYPE` went to its type's freelist instead of `tp_free`:
/// the collector counts it as freed.
#[inline]
pub(crate) fn parked_on_freelist<T: PyObjectType>() {
    if is_gc::<T>() {
        gc::alloc::forget();
    }
}

/// How `tp_dealloc` is to tear an object down.
pub(crate) enum Teardown {
    /// Put aside by the trashcan: the stack is deep already, and the object
    /// is destroyed when the outermost deallocation is done.
    Deferred,
    /// Drop the payload, then the rest; the guard (for a `gc` object) keeps
    /// the trashcan's depth until then.
    Whole(Option<TrashGuard>),
    /// The collector dropped the payload already: only the rest is left.
    Rest(TrashGuard),
}

/// The start of `tp_dealloc`: a `gc` object leaves its collector's lists
/// (it must not be seen while torn down) and enters the trashcan.
///
/// # Safety
///
/// - `op` is a live object of `T::TYPE` that nobody refers to any more.
#[inline(always)]
pub(crate) unsafe fn begin_teardown<T: PyObjectType>(op: *mut PyObject) -> Teardown {
    if !is_gc::<T>() {
        return Teardown::Whole(None);
    }
    // SAFETY: as the caller promises, of the `gc` type `T::TYPE`.
    let was_tracked = unsafe { gc::alloc::untrack(op) };
    // SAFETY: an untracked `gc` object with no references, which
    // `tp_dealloc` can destroy later.
    let Some(trash) = (unsafe { gc::trash::trash_begin(op) }) else {
        return Teardown::Deferred;
    };
    // A tracked object was never finalized: only untracked ones can be.
    // SAFETY: as above.
    if !was_tracked && unsafe { gc::alloc::is_finalized(op) } {
        Teardown::Rest(trash)
    } else {
        Teardown::Whole(Some(trash))
    }
}

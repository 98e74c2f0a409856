//! The end of an object's life: the `tp_dealloc` of Rust types, which drops
//! the payload and the items and returns the memory, even if a `Drop` panics.

use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use super::PyObjectType;
use super::kind::{self, Teardown};
use super::layout::{items_ptr, payload_ptr, var_len};
use crate::object::{ObjectHeader, PyObject};

/// `tp_dealloc` of every type built by [`TypeObject::new::<T>`]: drops the
/// payload and the items, then returns the memory through `tp_free`. The
/// memory is freed and every item dropped even if a `Drop` panics.
///
/// # Safety
///
/// - `op` is an object of type `T::TYPE` whose payload and items are
///   initialised, and nobody holds a reference to it any more.
pub(crate) unsafe extern "C-unwind" fn dealloc<T: PyObjectType>(op: *mut PyObject) {
    // SAFETY: the caller promises a live object of `T::TYPE` nobody refers to.
    match unsafe { kind::begin_teardown::<T>(op) } {
        Teardown::Deferred => {}
        Teardown::Whole(_trash) => {
            // SAFETY: as the caller promises, and untracked if `gc`.
            unsafe { drop_payload_and_rest::<T>(op) }
        }
        Teardown::Rest(_trash) => {
            // The collector dropped the payload (and the items) already.
            // SAFETY: as the caller promises, minus the payload.
            unsafe { destroy_rest::<T>(op) }
        }
    }
}

/// Drops the payload, then (also on unwind) the items and the memory.
///
/// # Safety
///
/// - as [`dealloc`], and `op` is untracked if `gc`.
#[inline(always)]
unsafe fn drop_payload_and_rest<T: PyObjectType>(op: *mut PyObject) {
    struct RestOnDrop<T: PyObjectType>(*mut PyObject, PhantomData<T>);
    impl<T: PyObjectType> Drop for RestOnDrop<T> {
        fn drop(&mut self) {
            // SAFETY: the payload is gone (dropped, or its drop unwinding);
            // the rest of the object is as `dealloc`'s caller promised.
            unsafe { destroy_rest::<T>(self.0) }
        }
    }
    let _rest = RestOnDrop::<T>(op, PhantomData);
    // SAFETY: the caller promises `op` is a (non-null) object.
    let op = unsafe { NonNull::new_unchecked(op) };
    // SAFETY: the payload is initialised and readable.
    unsafe { clear_weak_refs::<T>(op) };
    // SAFETY: the payload is initialised and dropped once, here.
    unsafe { ptr::drop_in_place(payload_ptr::<T>(op)) };
}

/// `PyObject_ClearWeakRefs`: the object's weak references see it gone, and
/// their callbacks run, before its payload moves or drops (so a `Drop`
/// never sees a list that weak references share).
///
/// # Safety
///
/// - `op` is a live object of `T::TYPE` whose payload is initialised.
#[inline(always)]
pub(super) unsafe fn clear_weak_refs<T: PyObjectType>(op: NonNull<PyObject>) {
    // SAFETY: as the caller promises; only a shared reference is made.
    if let Some(list) = PyObjectType::weak_list(unsafe { &*payload_ptr::<T>(op) }) {
        list.clear(T::TYPE.name());
    }
}

/// Destroys what an object holds besides its payload: drops a var object's
/// items, then returns the memory through `tp_free`, which happens even if
/// an item's `Drop` panics.
///
/// # Safety
///
/// - `op` is an object of type `T::TYPE` whose items are initialised and
///   whose payload was dropped or moved out, and nobody holds a reference
///   to it any more.
pub(super) unsafe fn destroy_rest<T: PyObjectType>(op: *mut PyObject) {
    // A fixed-size object holds nothing more: its memory may go to the
    // type's freelist rather than back to the pool.
    if !T::Header::IS_VAR
        && let Some(freelist) = T::freelist()
        // SAFETY: the caller promises an object of `T::TYPE`, with nothing
        // left in it and nobody referring to it (and untracked, if `gc`).
        && freelist.try_with(|list| unsafe { list.push(op) }) == Ok(true)
    {
        kind::parked_on_freelist::<T>();
        return;
    }
    struct FreeOnDrop<T: PyObjectType>(*mut PyObject, PhantomData<T>);
    impl<T: PyObjectType> Drop for FreeOnDrop<T> {
        #[inline]
        fn drop(&mut self) {
            // SAFETY: everything the object owned has been dropped; its
            // memory goes back once.
            unsafe { kind::free::<T>(self.0) }
        }
    }
    let _free = FreeOnDrop::<T>(op, PhantomData);
    // SAFETY: the caller promises `op` is a (non-null) object.
    let op = unsafe { NonNull::new_unchecked(op) };
    // SAFETY: the object is live until `_free` drops.
    let len = unsafe { var_len::<T>(op) };
    let items = ptr::slice_from_raw_parts_mut(items_ptr::<T>(op), len);
    // SAFETY: the items are initialised and dropped once, here.
    unsafe { ptr::drop_in_place(items) };
}

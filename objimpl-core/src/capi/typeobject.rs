//! The part of CPython's `Objects/typeobject.c` that object memory needs:
//! `PyType_Ready` fills the slots a C type leaves NULL as CPython's does
//! (the tutorial's types set neither `tp_alloc` nor `tp_free`), and refuses
//! a type it can see is wrong, with an error set; `PyType_GenericAlloc` and
//! `PyType_GenericNew` make zeroed objects, tracked if `gc`. And `None`, the
//! one object every C extension returns.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_ulong, c_void};
use core::ptr;

use super::error::{PyErr_NoMemory, PyExc_SystemError, set};
use super::gc::{_PyObject_GC_New, _PyObject_GC_NewVar, PyObject_GC_Del, PyObject_GC_Track};
use super::mem::PyObject_Free;
use super::object::{_PyObject_New, _PyObject_NewVar};
use crate::object::type_object::{TPFLAGS_READY, TPFLAGS_WEAK_LIST_FINDER};
use crate::{AllocFunc, FreeFunc, PyObject, PyVarObject, TypeObject};

/// `PyType_Ready(tp)`: readies a C type object before its first object,
/// as CPython requires: 0 on success (also for a type ready already), -1
/// with `SystemError` set if the type cannot work.
///
/// It fills what the type leaves NULL, as CPython's inheritance from
/// `object` would: `tp_alloc` with [`PyType_GenericAlloc`], `tp_free` with
/// `PyObject_Free`, or `PyObject_GC_Del` for a type with
/// `Py_TPFLAGS_HAVE_GC`, and `tp_dealloc` with one that calls `tp_free`. It
/// refuses a type with no name, a `tp_basicsize` smaller than `PyObject`
/// (or `PyVarObject`, with a `tp_itemsize`), a negative `tp_itemsize`, a
/// `gc` type with no `tp_traverse`, and a `tp_free` of the other kind of
/// object than the flag says. `tp_new` is left as the type sets it.
///
/// # Safety
///
/// - `tp` is null, or points at a type object that outlives its objects and
///   that no other thread reads or writes during the call.
///
/// ```
/// use objimpl::PyObjectType;
/// use objimpl::capi::{PyErr_Clear, PyErr_Occurred, PyExc_SystemError, PyType_Ready};
/// use objimpl::prelude::*;
///
/// #[pyobject(basic)]
/// #[derive(Debug)]
/// pub struct Unit {}
///
/// // SAFETY: null is refused.
/// assert_eq!(unsafe { PyType_Ready(std::ptr::null_mut()) }, -1);
/// assert_eq!(PyErr_Occurred(), PyExc_SystemError.0);
/// PyErr_Clear();
/// // A type built in Rust is ready as built: its `static` is not written.
/// // SAFETY: a live type object, which the call only reads.
/// assert_eq!(unsafe { PyType_Ready(std::ptr::from_ref(Unit::TYPE).cast_mut()) }, 0);
/// ```
pub unsafe extern "C" fn PyType_Ready(tp: *mut TypeObject) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { ready_with(tp, &OWN_SLOTS) }
}

/// The functions `PyType_Ready` fills a C type's empty slots with, under
/// the addresses its C caller knows them by: a library that exports the C
/// names (`objimpl-capi`) passes its own, so that `tp_alloc ==
/// PyType_GenericAlloc` holds in C, and a `tp_free` set to the other kind's
/// is recognised.
#[doc(hidden)]
#[derive(Debug)]
pub struct ReadySlots {
    /// `PyType_GenericAlloc`.
    pub alloc: AllocFunc,
    /// `PyObject_Free` (`PyObject_Del`).
    pub object_free: FreeFunc,
    /// `PyObject_GC_Del`.
    pub gc_del: FreeFunc,
}

/// This crate's own.
static OWN_SLOTS: ReadySlots = ReadySlots {
    alloc: PyType_GenericAlloc,
    object_free,
    gc_del,
};

/// [`PyType_Ready`], filling empty slots from `slots`.
///
/// # Safety
///
/// - as [`PyType_Ready`].
#[doc(hidden)]
pub unsafe fn ready_with(tp: *mut TypeObject, slots: &ReadySlots) -> c_int {
    if tp.is_null() {
        set(PyExc_SystemError, "PyType_Ready: the type object is NULL");
        return -1;
    }
    // Read through a shared reference first: a type built in Rust (ready
    // as built, with nothing to fill) may be a read-only `static`, never to
    // be borrowed mutably.
    {
        // SAFETY: the caller promises a live type object.
        let ty = unsafe { &*tp };
        if ty.flags() & TPFLAGS_READY != 0 {
            return 0;
        }
        if let Err(why) = check(ty, slots) {
            set(PyExc_SystemError, &why);
            return -1;
        }
        let finder_flag = ty.flags() & TPFLAGS_WEAK_LIST_FINDER != 0;
        if ty.tp_alloc.is_some() && ty.tp_free.is_some() && ty.tp_dealloc.is_some() && !finder_flag
        {
            return 0; // nothing to fill
        }
    }
    // SAFETY: a C type object (a Rust one is ready), which the caller
    // promises no one else reads or writes during the call.
    let tp = unsafe { &mut *tp };
    let gc = tp.is_gc();
    // objimpl's own flag means nothing in a C type: its `tp_weaklistoffset`
    // is an offset, never a finder.
    tp.tp_flags &= !(TPFLAGS_WEAK_LIST_FINDER as c_ulong);
    if tp.tp_alloc.is_none() {
        tp.tp_alloc = Some(slots.alloc);
    }
    if tp.tp_free.is_none() {
        tp.tp_free = Some(if gc { slots.gc_del } else { slots.object_free });
    }
    if tp.tp_dealloc.is_none() {
        tp.tp_dealloc = Some(if gc { gc_dealloc } else { object_dealloc });
    }
    tp.tp_flags |= TPFLAGS_READY as c_ulong;
    0
}

/// Before a C function makes an object of `tp`: a type whose objects could
/// not be destroyed (no `tp_dealloc` or no `tp_free`: `PyType_Ready` was
/// not called) is readied now, as CPython's tutorial has the module do,
/// and one that cannot be ends the process saying why; an object of the
/// wrong kind for `function` (`gc` or not) is refused, with `SystemError`
/// set (false).
///
/// # Safety
///
/// - `tp` points at a live type object that no other thread writes.
pub(super) unsafe fn ready_for(tp: *const TypeObject, function: &str, gc: bool) -> bool {
    // SAFETY: as the caller promises.
    let unready = unsafe { (*tp).tp_dealloc.is_none() || (*tp).tp_free.is_none() };
    if unready {
        // SAFETY: a C type (a Rust one has both slots), written by this
        // thread alone, as the caller promises.
        if unsafe { ready_with(tp.cast_mut(), &OWN_SLOTS) } != 0 {
            let why = super::error::message();
            super::gc::fatal(
                tp.cast_mut().cast(),
                &format!("{function}: {why} (PyType_Ready refused the type)"),
            );
        }
    }
    // SAFETY: as the caller promises; no `&mut` to it lives now.
    let ty = unsafe { &*tp };
    if ty.is_gc() == gc {
        return true;
    }
    let name = ty.name();
    let why = if gc {
        format!(
            "{function}: type '{name}' has no Py_TPFLAGS_HAVE_GC: set the flag (and \
             tp_traverse) to make gc objects of it, or make its objects with PyObject_New"
        )
    } else {
        format!(
            "{function}: type '{name}' has Py_TPFLAGS_HAVE_GC: make its objects with \
             PyObject_GC_New (PyObject_GC_NewVar), which gives them their GC header"
        )
    };
    set(PyExc_SystemError, &why);
    false
}

/// Why `tp` cannot work, in words a C programmer can act on.
fn check(tp: &TypeObject, slots: &ReadySlots) -> Result<(), String> {
    if tp.tp_name.is_null() {
        return Err("Type does not define the tp_name field.".into());
    }
    let name = tp.name();
    let header = if tp.tp_itemsize != 0 {
        size_of::<PyVarObject>()
    } else {
        size_of::<PyObject>()
    };
    if tp.tp_itemsize < 0 {
        return Err(format!(
            "type '{name}' has a negative tp_itemsize ({})",
            tp.tp_itemsize
        ));
    }
    if tp.tp_basicsize < header as isize {
        return Err(format!(
            "type '{name}' has tp_basicsize {}, less than its header ({header} bytes): \
             start the struct with PyObject_HEAD (PyObject_VAR_HEAD with items) and set \
             tp_basicsize = sizeof(the struct)",
            tp.tp_basicsize
        ));
    }
    let gc = tp.is_gc();
    if gc && tp.tp_traverse.is_none() {
        return Err(format!(
            "type '{name}' has the Py_TPFLAGS_HAVE_GC flag but has no traverse function: \
             set tp_traverse, or drop the flag"
        ));
    }
    let free = tp.tp_free.map(|f| f as usize);
    let is_object_free =
        |f: usize| f == object_free as FreeFunc as usize || f == slots.object_free as usize;
    let is_gc_del = |f: usize| f == gc_del as FreeFunc as usize || f == slots.gc_del as usize;
    if gc && free.is_some_and(is_object_free) {
        return Err(format!(
            "type '{name}' has the Py_TPFLAGS_HAVE_GC flag but its tp_free is PyObject_Del \
             (PyObject_Free): set tp_free = PyObject_GC_Del, or leave it NULL"
        ));
    }
    if !gc && free.is_some_and(is_gc_del) {
        return Err(format!(
            "type '{name}' has tp_free = PyObject_GC_Del but not the Py_TPFLAGS_HAVE_GC flag: \
             set the flag (and tp_traverse), or tp_free = PyObject_Del"
        ));
    }
    Ok(())
}

/// `tp_free` of a plain object, filled in by `PyType_Ready`.
unsafe extern "C" fn object_free(p: *mut c_void) {
    // SAFETY: `tp_free` is called once with an object's memory, which
    // `PyType_GenericAlloc` (or `_PyObject_New`) took from the object family.
    unsafe { PyObject_Free(p) }
}

/// `tp_free` of a `gc` object, filled in by `PyType_Ready`.
unsafe extern "C" fn gc_del(p: *mut c_void) {
    // SAFETY: `tp_free` is called once with an untracked `gc` object.
    unsafe { PyObject_GC_Del(p) }
}

/// The `tp_dealloc` a plain C type without one gets (CPython's
/// `object_dealloc`): the memory back through `tp_free`.
unsafe extern "C-unwind" fn object_dealloc(op: *mut PyObject) {
    // SAFETY: `tp_dealloc` is called with an object nobody refers to; its
    // type was readied, so `tp_free` is set.
    unsafe { free_by_type(op) }
}

/// The `tp_dealloc` a `gc` C type without one gets: untracked, then freed.
unsafe extern "C-unwind" fn gc_dealloc(op: *mut PyObject) {
    // SAFETY: as in `object_dealloc`, of a `gc` type.
    unsafe {
        super::gc::PyObject_GC_UnTrack(op.cast());
        free_by_type(op);
    }
}

/// # Safety
///
/// - `op` is an object of a readied type, which nothing refers to.
unsafe fn free_by_type(op: *mut PyObject) {
    // SAFETY: as the caller promises; a type outlives its objects.
    unsafe {
        if let Some(free) = (*(*op).ob_type).tp_free {
            free(op.cast());
        }
    }
}

/// `PyType_GenericAlloc(tp, nitems)`: a zeroed object of `tp` with room for
/// `nitems` items and one more (CPython's sentinel), `ob_size` set to
/// `nitems` for a type with items, its reference count 1, tracked if `tp`
/// has `Py_TPFLAGS_HAVE_GC`. NULL with `MemoryError` set on failure or for
/// a negative `nitems`. The `tp_alloc` that `PyType_Ready` fills in.
///
/// # Safety
///
/// - `tp` points at a readied type object that outlives its objects; a `gc`
///   type's `tp_traverse` may run on the object (all zero) from now on.
///
/// ```
/// use objimpl::capi::{PyObject_Free, PyType_GenericAlloc};
/// use objimpl::prelude::*;
///
/// /// CPython's `bytes`: the bytes are the items.
/// #[pyobject(basic, item = u8, name = "bytes")]
/// #[derive(Debug)]
/// pub struct Bytes { pub hash: isize }
///
/// // SAFETY: a static type object.
/// let op = unsafe { PyType_GenericAlloc(Bytes::TYPE as *const _ as *mut _, 3) };
/// // SAFETY: a fresh object of 3 items, zeroed, freed once.
/// unsafe {
///     assert_eq!((*op.cast::<objimpl::PyVarObject>()).ob_size, 3);
///     assert_eq!(*op.cast::<u8>().add(32), 0);
///     PyObject_Free(op.cast());
/// }
/// ```
pub unsafe extern "C" fn PyType_GenericAlloc(tp: *mut TypeObject, nitems: isize) -> *mut PyObject {
    if nitems < 0 {
        return PyErr_NoMemory();
    }
    // SAFETY: the caller promises a live type object.
    let ty = unsafe { &*tp };
    // Room for one more item, as CPython's sentinel; `ob_size` says `nitems`.
    let room = nitems.saturating_add(1);
    let has_items = ty.itemsize() != 0;
    // SAFETY: as the caller promises.
    let op: *mut PyObject = unsafe {
        match (ty.is_gc(), has_items) {
            (false, false) => _PyObject_New(tp),
            (false, true) => _PyObject_NewVar(tp, room).cast(),
            (true, false) => _PyObject_GC_New(tp),
            (true, true) => _PyObject_GC_NewVar(tp, room).cast(),
        }
    };
    if op.is_null() {
        return op; // MemoryError is set
    }
    let size = if has_items {
        crate::var_size(ty, room as usize).unwrap_or(ty.basicsize())
    } else {
        ty.basicsize()
    };
    let header = if has_items {
        size_of::<PyVarObject>()
    } else {
        size_of::<PyObject>()
    };
    // SAFETY: the object is `size` bytes, of which the header is set; the
    // rest is zeroed, as CPython's is, before anyone reads it.
    unsafe {
        ptr::write_bytes(op.cast::<u8>().add(header), 0, size.saturating_sub(header));
        if has_items {
            (*op.cast::<PyVarObject>()).ob_size = nitems;
        }
        if ty.is_gc() {
            PyObject_GC_Track(op.cast());
        }
    }
    op
}

/// `PyType_GenericNew(tp, args, kwds)`: `tp->tp_alloc(tp, 0)`, the
/// arguments unused; NULL with an error set on failure.
///
/// # Safety
///
/// - `tp` points at a readied type object that outlives its objects.
pub unsafe extern "C" fn PyType_GenericNew(
    tp: *mut TypeObject,
    _args: *mut PyObject,
    _kwds: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: the caller promises a live, readied type object.
    let alloc = unsafe { (*tp).tp_alloc }.unwrap_or(PyType_GenericAlloc);
    // SAFETY: as the caller promises.
    unsafe { alloc(tp, 0) }
}

/// An object in a `static` that C code reads and writes (its reference
/// count): `None`.
#[repr(transparent)]
#[doc(hidden)]
pub struct StaticObject(UnsafeCell<PyObject>);

// SAFETY: C code changes the reference count of `None` as of any object,
// under the rules of its objects: from one thread at a time (the GIL).
unsafe impl Sync for StaticObject {}

impl StaticObject {
    /// `None`, of [`NONE_TYPE`].
    pub const fn none() -> StaticObject {
        StaticObject(UnsafeCell::new(PyObject {
            // Never 0: `None` is never deallocated.
            ob_refcnt: 1 << 30,
            ob_type: &raw const NONE_TYPE,
        }))
    }
}

/// `NoneType`, whose `tp_dealloc` reports a reference count of `None`
/// gone to 0 (a `Py_DECREF` too many) and ends the process, as CPython's.
#[doc(hidden)]
pub static NONE_TYPE: TypeObject = TypeObject::none_type(none_dealloc);

unsafe extern "C-unwind" fn none_dealloc(op: *mut PyObject) {
    super::gc::fatal(
        op,
        "deallocating None: a Py_DECREF of Py_None too many (each Py_RETURN_NONE \
         or Py_NewRef(Py_None) gives one reference)",
    );
}

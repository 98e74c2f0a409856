//! objimpl for C programs: the functions of CPython's `objimpl.h` and
//! `pymem.h` under their C names, built as a static library
//! (`libobjimpl_capi.a`) and a shared one (`libobjimpl_capi.so`), with the
//! header `include/objimpl.h`.
//!
//! ```sh
//! cargo build --release -p objimpl-capi
//! cc -std=c11 -Iobjimpl-capi/include prog.c target/release/libobjimpl_capi.a -lpthread -ldl -lm -o prog
//! ```
//!
//! Each function forwards to its namesake in [`objimpl_core::capi`], which
//! has the documentation and the Rust-callable (mangled) version. The C
//! names are exported from this crate alone, never from `objimpl-core`, so
//! a Rust program that links libpython and objimpl without this crate sees
//! no clash, whatever features are on.
//!
//! A Rust panic never unwinds into C: a function that may run a Rust
//! destructor that panics ends the process with a message
//! ([the rule](objimpl_core::capi#a-panic-never-unwinds-into-c)), and the
//! header's `Py_DECREF` calls `_Py_Dealloc`, not `tp_dealloc`.
#![allow(non_snake_case, non_upper_case_globals)]

use core::ffi::{c_int, c_void};

use objimpl_core::capi::{self, ExceptionType, PyMemAllocatorDomain, PyMemAllocatorEx};
use objimpl_core::{PyObject, PyVarObject, TypeObject};

/// Exports `objimpl_core::capi::$name` unmangled, as `$name`.
macro_rules! export {
    ($( fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?; )*) => {$(
        #[doc = concat!("[`objimpl_core::capi::", stringify!($name), "`], under its C name.")]
        ///
        /// # Safety
        ///
        /// As the function it forwards to.
        #[unsafe(no_mangle)]
        #[allow(unused_unsafe, reason = "some of the forwarded functions are safe")]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: the caller upholds the forwarded function's contract.
            unsafe { capi::$name($($arg),*) }
        }
    )*};
}

export! {
    fn PyObject_Malloc(size: usize) -> *mut c_void;
    fn PyObject_Calloc(nelem: usize, elsize: usize) -> *mut c_void;
    fn PyObject_Realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn PyObject_Free(ptr: *mut c_void);
    fn PyMem_Malloc(size: usize) -> *mut c_void;
    fn PyMem_Calloc(nelem: usize, elsize: usize) -> *mut c_void;
    fn PyMem_Realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn PyMem_Free(ptr: *mut c_void);
    fn PyMem_RawMalloc(size: usize) -> *mut c_void;
    fn PyMem_RawCalloc(nelem: usize, elsize: usize) -> *mut c_void;
    fn PyMem_RawRealloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn PyMem_RawFree(ptr: *mut c_void);
    fn PyMem_GetAllocator(domain: PyMemAllocatorDomain, allocator: *mut PyMemAllocatorEx);
    fn PyMem_SetAllocator(domain: PyMemAllocatorDomain, allocator: *const PyMemAllocatorEx);
    fn PyMem_SetupDebugHooks();
    fn _PyObject_DebugMallocStats(out: *mut libc::FILE) -> c_int;
    fn PyObject_Init(op: *mut PyObject, tp: *const TypeObject) -> *mut PyObject;
    fn PyObject_InitVar(op: *mut PyVarObject, tp: *const TypeObject, n: isize) -> *mut PyVarObject;
    fn _PyObject_New(tp: *const TypeObject) -> *mut PyObject;
    fn _PyObject_NewVar(tp: *const TypeObject, n: isize) -> *mut PyVarObject;
    fn Py_IncRef(op: *mut PyObject);
    fn Py_DecRef(op: *mut PyObject);
    fn _Py_Dealloc(op: *mut PyObject);
    fn _PyObject_GC_New(tp: *const TypeObject) -> *mut PyObject;
    fn _PyObject_GC_NewVar(tp: *const TypeObject, n: isize) -> *mut PyVarObject;
    fn _PyObject_GC_Resize(op: *mut PyVarObject, n: isize) -> *mut PyVarObject;
    fn PyObject_GC_Track(op: *mut c_void);
    fn PyObject_GC_UnTrack(op: *mut c_void);
    fn PyObject_GC_Del(op: *mut c_void);
    fn PyObject_GC_IsTracked(op: *mut PyObject) -> c_int;
    fn PyObject_GC_IsFinalized(op: *mut PyObject) -> c_int;
    fn PyGC_Collect() -> isize;
    fn PyGC_Enable() -> c_int;
    fn PyGC_Disable() -> c_int;
    fn PyGC_IsEnabled() -> c_int;
    fn PyErr_NoMemory() -> *mut PyObject;
    fn PyErr_Occurred() -> *mut PyObject;
    fn PyErr_Clear();
    fn PyErr_SetString(exception: *mut PyObject, message: *const core::ffi::c_char);
    fn PyErr_Print();
    fn objimpl_check_memory() -> isize;
    fn PyGILState_Ensure() -> capi::PyGILState_STATE;
    fn PyGILState_Release(state: capi::PyGILState_STATE);
    fn PyGILState_Check() -> c_int;
    fn PyEval_SaveThread() -> *mut capi::PyThreadState;
    fn PyEval_RestoreThread(state: *mut capi::PyThreadState);
    fn PyType_GenericAlloc(tp: *mut TypeObject, nitems: isize) -> *mut PyObject;
    fn PyType_GenericNew(tp: *mut TypeObject, args: *mut PyObject, kwds: *mut PyObject) -> *mut PyObject;
}

/// [`objimpl_core::capi::PyType_Ready`], under its C name: the slots it
/// fills are these exports (so that `tp_alloc == PyType_GenericAlloc` holds
/// in C, and a `tp_free` of the wrong kind is recognised).
///
/// # Safety
///
/// As the function it forwards to.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PyType_Ready(tp: *mut TypeObject) -> c_int {
    static EXPORTED: capi::ReadySlots = capi::ReadySlots {
        alloc: PyType_GenericAlloc,
        object_free: PyObject_Free,
        gc_del: PyObject_GC_Del,
    };
    // SAFETY: the caller upholds the forwarded function's contract.
    unsafe { capi::ready_with(tp, &EXPORTED) }
}

/// `_Py_NoneStruct`, which C names `Py_None`: `None`, an object that is
/// never freed.
#[unsafe(no_mangle)]
pub static _Py_NoneStruct: capi::StaticObject = capi::StaticObject::none();

/// `PyExc_SystemError`: what `PyType_Ready` sets when it refuses a type.
#[unsafe(no_mangle)]
pub static PyExc_SystemError: ExceptionType =
    ExceptionType((&raw const capi::SYSTEM_ERROR).cast_mut().cast());

/// `PyExc_TypeError`.
#[unsafe(no_mangle)]
pub static PyExc_TypeError: ExceptionType =
    ExceptionType((&raw const capi::TYPE_ERROR).cast_mut().cast());

/// `PyExc_MemoryError`: what `PyErr_Occurred()` returns after a failed
/// allocation ([`objimpl_core::capi::PyExc_MemoryError`]).
#[unsafe(no_mangle)]
pub static PyExc_MemoryError: ExceptionType =
    ExceptionType((&raw const capi::MEMORY_ERROR).cast_mut().cast());

//! The C-named functions of `objimpl.h` and `pymem.h`, for C code to call.
//!
//! objimpl.h exports every interface twice: as functions, for binary
//! compatibility, and as macros, for speed. The Rust API (`Py<T>`, the
//! `#[inline]` functions at the crate root) is the fast path; these are the
//! functions, `extern "C"` with CPython's names and signatures.
//!
//! Here they keep Rust's mangled symbols, so a program that also links
//! libpython sees no clash. The crate `objimpl-capi` (and the facade's
//! feature `capi`) exports them under their C names, with the header
//! `objimpl.h`, as a static and a shared library.
//!
//! Where CPython raises `MemoryError`, these do as CPython: they set a
//! thread-local error indicator ([`PyErr_Occurred`] then returns
//! [`PyExc_MemoryError`]) and return NULL.
//!
//! # A panic never unwinds into C
//!
//! The `Drop` of a Rust payload may panic. From Rust, that panic unwinds
//! to the Rust caller, as out of an `Rc`: dropping a `Py` or a `PyAny`,
//! [`gc::collect`](crate::gc::collect), `Py::new`. A C caller's frames
//! cannot be unwound through, so a function here that may run a Rust
//! destructor ([`Py_DecRef`], [`_Py_Dealloc`], [`PyGC_Collect`], and
//! [`_PyObject_GC_New`] and [`_PyObject_GC_NewVar`], which may start a
//! collection) ends the process if one panics: the panic's message, then
//! `objimpl: fatal error: a panic (above) in a Rust destructor reached
//! Py_DecRef(), ...`, then `abort()`. All of them are `extern "C"`, which
//! would abort anyway; the message says why.
//!
//! The slots `tp_dealloc` ([`Destructor`](crate::Destructor)) and
//! `tp_clear` ([`Inquiry`](crate::gc::Inquiry)) of a Rust type are
//! `extern "C-unwind"`, for the Rust side's sake: C code must not call them
//! itself. The header's `Py_DECREF` (and so `Py_CLEAR`) calls
//! [`_Py_Dealloc`] at zero, as CPython 3.11's does, not `tp_dealloc`.
//!
//! ```
//! use objimpl::capi::{PyObject_Free, PyObject_Malloc};
//! let p = PyObject_Malloc(64);
//! assert!(!p.is_null());
//! // SAFETY: `p` came from `PyObject_Malloc` and is freed once.
//! unsafe { PyObject_Free(p) };
//! ```
#![allow(non_snake_case, non_upper_case_globals)]

mod error;
mod gc;
mod gil;
mod mem;
mod object;
mod typeobject;

#[doc(hidden)]
pub use crate::object::type_object::C_LAYOUT as TYPE_OBJECT_LAYOUT;
pub use error::{
    ExceptionType, MEMORY_ERROR, PyErr_Clear, PyErr_NoMemory, PyErr_Occurred, PyErr_Print,
    PyErr_SetString, PyExc_MemoryError, PyExc_SystemError, PyExc_TypeError, SYSTEM_ERROR,
    TYPE_ERROR,
};
pub use gc::{
    _PyObject_GC_New, _PyObject_GC_NewVar, _PyObject_GC_Resize, PyGC_Collect, PyGC_Disable,
    PyGC_Enable, PyGC_IsEnabled, PyObject_GC_Del, PyObject_GC_IsFinalized, PyObject_GC_IsTracked,
    PyObject_GC_Track, PyObject_GC_UnTrack,
};
pub use gil::{
    PyEval_RestoreThread, PyEval_SaveThread, PyGILState_Check, PyGILState_Ensure,
    PyGILState_Release, PyGILState_STATE, PyThreadState,
};
pub use mem::{
    _PyObject_DebugMallocStats, PyMem_Calloc, PyMem_Free, PyMem_GetAllocator, PyMem_Malloc,
    PyMem_RawCalloc, PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc, PyMem_Realloc,
    PyMem_SetAllocator, PyMem_SetupDebugHooks, PyMemAllocatorDomain, PyMemAllocatorEx,
    PyObject_Calloc, PyObject_Free, PyObject_Malloc, PyObject_Realloc, objimpl_check_memory,
};
pub use object::{
    _Py_Dealloc, _PyObject_New, _PyObject_NewVar, Py_DecRef, Py_IncRef, PyObject_Init,
    PyObject_InitVar,
};
#[doc(hidden)]
pub use typeobject::{NONE_TYPE, ReadySlots, StaticObject, ready_with};
pub use typeobject::{PyType_GenericAlloc, PyType_GenericNew, PyType_Ready};

/// Runs `f`, which may run Rust destructors, for a caller in C: if it
/// panics, the process ends here, saying so, since the panic cannot unwind
/// into C frames.
#[inline]
fn abort_on_panic<R>(function: &'static str, f: impl FnOnce() -> R) -> R {
    /// Dropped only by unwinding: `f` returned otherwise, and it was forgotten.
    struct Unwinding(&'static str);
    impl Drop for Unwinding {
        #[cold]
        fn drop(&mut self) {
            use std::io::Write as _;
            // (Not `eprintln!`, which panics if stderr is gone.)
            let _ = writeln!(
                std::io::stderr(),
                "objimpl: fatal error: a panic (above) in a Rust destructor reached {}(), \
                 a C function: it cannot unwind into the C caller; aborting",
                self.0
            );
            std::process::abort();
        }
    }
    let unwinding = Unwinding(function);
    let result = f();
    core::mem::forget(unwinding);
    result
}

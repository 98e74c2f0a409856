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
//! ```
//! use objimpl_core::capi::{PyObject_Free, PyObject_Malloc};
//! let p = PyObject_Malloc(64);
//! assert!(!p.is_null());
//! // SAFETY: `p` came from `PyObject_Malloc` and is freed once.
//! unsafe { PyObject_Free(p) };
//! ```
#![allow(non_snake_case, non_upper_case_globals)]

mod error;
mod gc;
mod mem;
mod object;

#[doc(hidden)]
pub use crate::typeobj::C_LAYOUT as TYPE_OBJECT_LAYOUT;
pub use error::{
    ExceptionType, MEMORY_ERROR, PyErr_Clear, PyErr_NoMemory, PyErr_Occurred, PyExc_MemoryError,
};
pub use gc::{
    _PyObject_GC_New, _PyObject_GC_NewVar, _PyObject_GC_Resize, PyGC_Collect, PyGC_Disable,
    PyGC_Enable, PyGC_IsEnabled, PyObject_GC_Del, PyObject_GC_IsFinalized, PyObject_GC_IsTracked,
    PyObject_GC_Track, PyObject_GC_UnTrack,
};
pub use mem::{
    _PyObject_DebugMallocStats, PyMem_Calloc, PyMem_Free, PyMem_GetAllocator, PyMem_Malloc,
    PyMem_RawCalloc, PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc, PyMem_Realloc,
    PyMem_SetAllocator, PyMem_SetupDebugHooks, PyMemAllocatorDomain, PyMemAllocatorEx,
    PyObject_Calloc, PyObject_Free, PyObject_Malloc, PyObject_Realloc,
};
pub use object::{
    _PyObject_New, _PyObject_NewVar, Py_DecRef, Py_IncRef, PyObject_Init, PyObject_InitVar,
};

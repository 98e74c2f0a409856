//! The C-named functions of `objimpl.h` and `pymem.h`, for C code to call.
//!
//! objimpl.h exports every interface twice: as functions, for binary
//! compatibility, and as macros, for speed. The Rust API (`Py<T>`, the
//! `#[inline]` functions at the crate root) is the fast path; these are the
//! functions, `extern "C"` with CPython's names and signatures.
//!
//! With the cargo feature `capi` they are exported unmangled, so C code links
//! against them as it would against libpython. Without it they keep Rust's
//! mangled symbols, so a program that also links libpython sees no clash.
//!
//! `PyErr_NoMemory()` has no error state to set here: where CPython would
//! raise `MemoryError` and return NULL, these return NULL.
//!
//! ```
//! use objimpl_core::capi::{PyObject_Free, PyObject_Malloc};
//! let p = PyObject_Malloc(64);
//! assert!(!p.is_null());
//! // SAFETY: `p` came from `PyObject_Malloc` and is freed once.
//! unsafe { PyObject_Free(p) };
//! ```
#![allow(non_snake_case)]

use core::ffi::c_void;
use core::ptr;

use crate::{PyObject, PyVarObject, TypeObject, alloc};

macro_rules! c_family {
    ($family:literal, $malloc:ident, $calloc:ident, $realloc:ident, $free:ident,
     $rmalloc:ident, $rcalloc:ident, $rrealloc:ident, $rfree:ident) => {
        #[doc = concat!("`", stringify!($malloc), "(size)`: [`alloc::", stringify!($rmalloc), "`].")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::capi::{", stringify!($malloc), ", ", stringify!($free), "};")]
        #[doc = concat!("let p = ", stringify!($malloc), "(10);")]
        /// assert!(!p.is_null());
        #[doc = concat!("// SAFETY: `p` came from `", stringify!($malloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(p) };")]
        /// ```
        #[cfg_attr(feature = "capi", unsafe(no_mangle))]
        pub extern "C" fn $malloc(size: usize) -> *mut c_void {
            alloc::$rmalloc(size).cast()
        }

        #[doc = concat!("`", stringify!($calloc), "(nelem, elsize)`: [`alloc::", stringify!($rcalloc), "`].")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::capi::", stringify!($calloc), ";")]
        #[doc = concat!("assert!(", stringify!($calloc), "(usize::MAX, 2).is_null());")]
        /// ```
        #[cfg_attr(feature = "capi", unsafe(no_mangle))]
        pub extern "C" fn $calloc(nelem: usize, elsize: usize) -> *mut c_void {
            alloc::$rcalloc(nelem, elsize).cast()
        }

        #[doc = concat!("`", stringify!($realloc), "(ptr, size)`: [`alloc::", stringify!($rrealloc), "`].")]
        ///
        /// # Safety
        ///
        #[doc = concat!("- `ptr` is null or a live pointer from the ", $family, " family.")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::capi::{", stringify!($realloc), ", ", stringify!($free), "};")]
        #[doc = concat!("// SAFETY: a null pointer makes `", stringify!($realloc), "` a malloc.")]
        #[doc = concat!("let p = unsafe { ", stringify!($realloc), "(std::ptr::null_mut(), 8) };")]
        #[doc = concat!("// SAFETY: `p` came from `", stringify!($realloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(p) };")]
        /// ```
        #[cfg_attr(feature = "capi", unsafe(no_mangle))]
        pub unsafe extern "C" fn $realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
            // SAFETY: the caller upholds the same contract.
            unsafe { alloc::$rrealloc(ptr.cast(), size).cast() }
        }

        #[doc = concat!("`", stringify!($free), "(ptr)`: [`alloc::", stringify!($rfree), "`].")]
        ///
        /// # Safety
        ///
        #[doc = concat!("- `ptr` is null or a live pointer from the ", $family, " family, not freed before.")]
        ///
        /// ```
        #[doc = concat!("// SAFETY: freeing null does nothing.")]
        #[doc = concat!("unsafe { objimpl_core::capi::", stringify!($free), "(std::ptr::null_mut()) };")]
        /// ```
        #[cfg_attr(feature = "capi", unsafe(no_mangle))]
        pub unsafe extern "C" fn $free(ptr: *mut c_void) {
            // SAFETY: the caller upholds the same contract.
            unsafe { alloc::$rfree(ptr.cast()) }
        }
    };
}

c_family!(
    "object",
    PyObject_Malloc,
    PyObject_Calloc,
    PyObject_Realloc,
    PyObject_Free,
    object_malloc,
    object_calloc,
    object_realloc,
    object_free
);
c_family!(
    "mem",
    PyMem_Malloc,
    PyMem_Calloc,
    PyMem_Realloc,
    PyMem_Free,
    mem_malloc,
    mem_calloc,
    mem_realloc,
    mem_free
);
c_family!(
    "raw",
    PyMem_RawMalloc,
    PyMem_RawCalloc,
    PyMem_RawRealloc,
    PyMem_RawFree,
    raw_malloc,
    raw_calloc,
    raw_realloc,
    raw_free
);

/// `PyObject_Init(op, tp)`: [`init`](crate::init), with CPython's NULL
/// handling: a NULL `op` (a failed allocation) gives NULL back.
///
/// # Safety
///
/// - `op` is null, or valid for writes of a [`PyObject`] header and aligned for it;
/// - `tp` points at a type object that outlives the object.
///
/// ```
/// use objimpl_core::capi::PyObject_Init;
/// # use objimpl_core::{PyObjectType, __doc::Unit};
/// // SAFETY: NULL in is allowed: NULL out.
/// let op = unsafe { PyObject_Init(std::ptr::null_mut(), Unit::TYPE) };
/// assert!(op.is_null());
/// ```
#[cfg_attr(feature = "capi", unsafe(no_mangle))]
pub unsafe extern "C" fn PyObject_Init(op: *mut PyObject, tp: *const TypeObject) -> *mut PyObject {
    if op.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the caller promises `op` is writable and `tp` outlives the object.
    unsafe { crate::init(op, &*tp) }
}

/// `PyObject_InitVar(op, tp, n)`: [`init_var`](crate::init_var), with
/// CPython's NULL handling.
///
/// # Safety
///
/// - `op` is null, or valid for writes of a [`PyVarObject`] header and aligned for it;
/// - `tp` points at a type object that outlives the object;
/// - `n >= 0`.
///
/// ```
/// use objimpl_core::capi::PyObject_InitVar;
/// # use objimpl_core::{PyObjectType, __doc::Bytes};
/// // SAFETY: NULL in is allowed: NULL out.
/// let op = unsafe { PyObject_InitVar(std::ptr::null_mut(), Bytes::TYPE, 3) };
/// assert!(op.is_null());
/// ```
#[cfg_attr(feature = "capi", unsafe(no_mangle))]
pub unsafe extern "C" fn PyObject_InitVar(
    op: *mut PyVarObject,
    tp: *const TypeObject,
    n: isize,
) -> *mut PyVarObject {
    if op.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the caller promises `op` is writable, `tp` outlives the object
    // and `n` is not negative.
    unsafe { crate::init_var(op, &*tp, n as usize) }
}

/// `_PyObject_New(tp)`: [`new_object`](crate::new_object); NULL on failure.
///
/// # Safety
///
/// - `tp` points at a type object that outlives every object made with it.
///
/// ```
/// use objimpl_core::capi::{PyObject_Free, _PyObject_New};
/// # use objimpl_core::{PyObjectType, __doc::Unit};
/// // SAFETY: Unit::TYPE is a static.
/// let op = unsafe { _PyObject_New(Unit::TYPE) };
/// // SAFETY: the header was initialised.
/// assert_eq!(unsafe { (*op).ob_refcnt }, 1);
/// // SAFETY: `op` came from the object allocator and is freed once.
/// unsafe { PyObject_Free(op.cast()) };
/// ```
#[cfg_attr(feature = "capi", unsafe(no_mangle))]
pub unsafe extern "C" fn _PyObject_New(tp: *const TypeObject) -> *mut PyObject {
    // SAFETY: the caller promises `tp` outlives the objects made with it.
    let tp = unsafe { &*tp };
    crate::new_object(tp).map_or(ptr::null_mut(), |op| op.as_ptr())
}

/// `_PyObject_NewVar(tp, n)`: [`new_var_object`](crate::new_var_object);
/// NULL on failure or a negative `n`.
///
/// # Safety
///
/// - `tp` points at a type object that outlives every object made with it.
///
/// ```
/// use objimpl_core::capi::{PyObject_Free, _PyObject_NewVar};
/// # use objimpl_core::{PyObjectType, __doc::Bytes};
/// // SAFETY: Bytes::TYPE is a static.
/// assert!(unsafe { _PyObject_NewVar(Bytes::TYPE, -1) }.is_null());
/// // SAFETY: Bytes::TYPE is a static.
/// let op = unsafe { _PyObject_NewVar(Bytes::TYPE, 4) };
/// // SAFETY: the header was initialised.
/// assert_eq!(unsafe { (*op).ob_size }, 4);
/// // SAFETY: `op` came from the object allocator and is freed once.
/// unsafe { PyObject_Free(op.cast()) };
/// ```
#[cfg_attr(feature = "capi", unsafe(no_mangle))]
pub unsafe extern "C" fn _PyObject_NewVar(tp: *const TypeObject, n: isize) -> *mut PyVarObject {
    let Ok(n) = usize::try_from(n) else {
        return ptr::null_mut();
    };
    // SAFETY: the caller promises `tp` outlives the objects made with it.
    let tp = unsafe { &*tp };
    crate::new_var_object(tp, n).map_or(ptr::null_mut(), |op| op.as_ptr())
}

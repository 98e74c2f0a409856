//! The allocators measured, each called directly through its own C or Rust
//! API (none is the global allocator, which stays Rust's default).

use std::alloc::{GlobalAlloc, Layout, System as StdSystem};

/// An allocator as the workloads see it: `malloc` and a `free` that is told
/// the size (which Rust's `System` needs; the C allocators ignore it).
pub trait Allocator {
    /// The column name.
    const NAME: &'static str;

    /// Allocates `size` bytes, or returns null.
    fn malloc(size: usize) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// - `p` came from `Self::malloc(size)` with this same `size`, and is
    ///   not used or freed again.
    unsafe fn free(p: *mut u8, size: usize);
}

/// objimpl's object family, `PyObject_Malloc`'s counterpart: whatever
/// allocator sits behind `objimpl::alloc::object_malloc` in this build.
pub struct Objimpl;

impl Allocator for Objimpl {
    const NAME: &'static str = "objimpl";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        objimpl::alloc::object_malloc(size)
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        // SAFETY: the caller passes a live block of `object_malloc`, once.
        unsafe { objimpl::alloc::object_free(p) }
    }
}

/// The C library's `malloc` (glibc's ptmalloc on this machine).
pub struct Glibc;

impl Allocator for Glibc {
    const NAME: &'static str = "glibc";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        unsafe { libc::malloc(size).cast() }
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        // SAFETY: the caller passes a live block of `malloc`, once.
        unsafe { libc::free(p.cast()) }
    }
}

/// mimalloc, through `mi_malloc`/`mi_free`.
pub struct Mimalloc;

impl Allocator for Mimalloc {
    const NAME: &'static str = "mimalloc";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: mi_malloc has no preconditions.
        unsafe { libmimalloc_sys::mi_malloc(size).cast() }
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        // SAFETY: the caller passes a live block of `mi_malloc`, once.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }
}

/// jemalloc, through its prefixed `malloc`/`free` (`_rjem_malloc`, ...), so
/// that it does not replace the C library's.
pub struct Jemalloc;

impl Allocator for Jemalloc {
    const NAME: &'static str = "jemalloc";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        unsafe { tikv_jemalloc_sys::malloc(size).cast() }
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        // SAFETY: the caller passes a live block of jemalloc's `malloc`, once.
        unsafe { tikv_jemalloc_sys::free(p.cast()) }
    }
}

/// Rust's `std::alloc::System`, with the layout a Rust program would give a
/// byte buffer holding words: alignment 8.
pub struct System;

impl System {
    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).expect("the workloads' sizes are small")
    }
}

impl Allocator for System {
    const NAME: &'static str = "System";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the workloads never ask for 0 bytes, so the layout is not zero-sized.
        unsafe { StdSystem.alloc(Self::layout(size)) }
    }

    #[inline]
    unsafe fn free(p: *mut u8, size: usize) {
        // SAFETY: the caller passes a live block that `alloc` gave for this
        // same size, so for this same layout.
        unsafe { StdSystem.dealloc(p, Self::layout(size)) }
    }
}

/// CPython's own `PyObject_Malloc` (pymalloc), from the linked libpython.
///
/// CPython 3.11's allocators are static: pymalloc works before (and
/// without) `Py_Initialize`, and is not thread-safe: CPython calls it under
/// the GIL. The single-threaded workloads call it as it is; the cross-thread
/// one goes through [`PyMallocUnderLock`].
#[cfg(feature = "cpython")]
pub struct PyMalloc;

#[cfg(feature = "cpython")]
mod ffi {
    use core::ffi::c_void;

    unsafe extern "C" {
        pub fn PyObject_Malloc(size: usize) -> *mut c_void;
        pub fn PyObject_Free(p: *mut c_void);
    }
}

#[cfg(feature = "cpython")]
impl Allocator for PyMalloc {
    const NAME: &'static str = "pymalloc";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: PyObject_Malloc has no preconditions but the GIL's: no
        // other thread uses pymalloc while the single-threaded workloads run.
        unsafe { ffi::PyObject_Malloc(size).cast() }
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        // SAFETY: the caller passes a live block of `PyObject_Malloc`, once;
        // no other thread uses pymalloc meanwhile.
        unsafe { ffi::PyObject_Free(p.cast()) }
    }
}

/// pymalloc for the cross-thread workload: every call holds a lock, as
/// every call in CPython holds the GIL.
#[cfg(feature = "cpython")]
pub struct PyMallocUnderLock;

#[cfg(feature = "cpython")]
static GIL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(feature = "cpython")]
impl Allocator for PyMallocUnderLock {
    const NAME: &'static str = "pymalloc";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        let _gil = GIL.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: holding `GIL`, no other thread is in pymalloc.
        unsafe { ffi::PyObject_Malloc(size).cast() }
    }

    #[inline]
    unsafe fn free(p: *mut u8, _size: usize) {
        let _gil = GIL.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the caller passes a live block of `PyObject_Malloc`, once;
        // holding `GIL`, no other thread is in pymalloc.
        unsafe { ffi::PyObject_Free(p.cast()) }
    }
}

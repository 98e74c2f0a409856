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

    /// Resizes a block of `old` bytes to `new`, keeping its contents; null
    /// (and `p` still live) on failure.
    ///
    /// # Safety
    ///
    /// - `p` came from `Self::malloc(old)` or `Self::realloc(_, _, old)`, and
    ///   on success is not used again.
    unsafe fn realloc(p: *mut u8, old: usize, new: usize) -> *mut u8;
}

/// An allocator whose `malloc` and `free` any threads may call at once, a
/// block allocated on one thread being freed on another.
///
/// # Safety
///
/// - The implementation is thread-safe in that sense.
pub unsafe trait AnyThread: Allocator {}

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

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of `object_malloc`.
        unsafe { objimpl::alloc::object_realloc(p, new) }
    }
}

/// objimpl as a Rust program's global allocator uses it: `PyMalloc`, whose
/// pools serve up to 64 KiB (the families stop at CPython's 512 bytes), with
/// the layout of a byte buffer holding words, as [`System`]'s.
pub struct ObjimplGlobal;

impl Allocator for ObjimplGlobal {
    const NAME: &'static str = "objimpl";

    #[inline]
    fn malloc(size: usize) -> *mut u8 {
        // SAFETY: the workloads never ask for 0 bytes.
        unsafe { objimpl::alloc::PyMalloc.alloc(System::layout(size)) }
    }

    #[inline]
    unsafe fn free(p: *mut u8, size: usize) {
        // SAFETY: the caller passes a live block of `alloc` for this size.
        unsafe { objimpl::alloc::PyMalloc.dealloc(p, System::layout(size)) }
    }

    #[inline]
    unsafe fn realloc(p: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of this size.
        unsafe { objimpl::alloc::PyMalloc.realloc(p, System::layout(old), new) }
    }
}

// SAFETY: `PyMalloc` is a `GlobalAlloc`, which any thread may use.
unsafe impl AnyThread for ObjimplGlobal {}

// SAFETY: objimpl's families may be used from any thread (DESIGN.md, "The pool allocator").
unsafe impl AnyThread for Objimpl {}

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

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of `malloc`.
        unsafe { libc::realloc(p.cast(), new).cast() }
    }
}

// SAFETY: the C library's malloc is thread-safe.
unsafe impl AnyThread for Glibc {}

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

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of `mi_malloc`.
        unsafe { libmimalloc_sys::mi_realloc(p.cast(), new).cast() }
    }
}

// SAFETY: mimalloc is thread-safe, and frees from other threads are its `thread_free` lists.
unsafe impl AnyThread for Mimalloc {}

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

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block of jemalloc's `malloc`.
        unsafe { tikv_jemalloc_sys::realloc(p.cast(), new).cast() }
    }
}

// SAFETY: jemalloc is thread-safe.
unsafe impl AnyThread for Jemalloc {}

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

    #[inline]
    unsafe fn realloc(p: *mut u8, old: usize, new: usize) -> *mut u8 {
        // SAFETY: as `free`; `new` is not zero.
        unsafe { StdSystem.realloc(p, Self::layout(old), new) }
    }
}

// SAFETY: Rust's `System` is a `GlobalAlloc`, which any thread may use.
unsafe impl AnyThread for System {}

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
        pub fn PyObject_Realloc(p: *mut c_void, size: usize) -> *mut c_void;
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

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        // SAFETY: as `free`.
        unsafe { ffi::PyObject_Realloc(p.cast(), new).cast() }
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

    #[inline]
    unsafe fn realloc(p: *mut u8, _old: usize, new: usize) -> *mut u8 {
        let _gil = GIL.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: as `free`.
        unsafe { ffi::PyObject_Realloc(p.cast(), new).cast() }
    }
}

// SAFETY: every call holds `GIL`, so pymalloc never runs on two threads at once.
#[cfg(feature = "cpython")]
unsafe impl AnyThread for PyMallocUnderLock {}

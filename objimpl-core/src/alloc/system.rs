//! The system allocator (the C library's `malloc`), as CPython's raw domain
//! uses it: 0-byte requests become 1-byte ones so that every call returns a
//! unique pointer, and sizes past `isize::MAX` are refused before the C
//! library sees them. glibc aligns every block to 16 bytes on 64-bit
//! targets, which is [`ALIGNMENT`].

use core::ffi::CStr;

use super::size_class::ALIGNMENT;

/// `malloc(size)`, null past `isize::MAX`.
#[inline]
pub(crate) fn malloc(size: usize) -> *mut u8 {
    if size > isize::MAX as usize {
        return core::ptr::null_mut();
    }
    // Miri's malloc aligns small requests only to their size; ask for at
    // least ALIGNMENT bytes so that it gives the alignment glibc gives.
    let size = if cfg!(miri) {
        size.max(ALIGNMENT)
    } else {
        size.max(1)
    };
    // SAFETY: malloc has no preconditions; the size is non-zero and in range.
    unsafe { libc::malloc(size).cast() }
}

/// `calloc(n, size)`, null on overflow or past `isize::MAX`.
#[inline]
pub(crate) fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size).filter(|&t| t <= isize::MAX as usize) else {
        return core::ptr::null_mut();
    };
    let total = if cfg!(miri) {
        total.max(ALIGNMENT)
    } else {
        total.max(1)
    };
    // SAFETY: calloc has no preconditions; the size is non-zero and in range.
    unsafe { libc::calloc(1, total).cast() }
}

/// `realloc(p, size)`.
///
/// # Safety
///
/// - `p` is null or a live pointer from this module's `malloc`, `calloc` or `realloc`.
#[inline]
pub(crate) unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    if size > isize::MAX as usize {
        return core::ptr::null_mut();
    }
    let size = if cfg!(miri) {
        size.max(ALIGNMENT)
    } else {
        size.max(1)
    };
    // SAFETY: the caller guarantees `p` is null or a live block of the C
    // library's allocator; a non-zero size keeps realloc from freeing it.
    unsafe { libc::realloc(p.cast(), size).cast() }
}

/// `free(p)`.
///
/// # Safety
///
/// - `p` is null or a live pointer from this module's `malloc`, `calloc` or `realloc`.
#[inline]
pub(crate) unsafe fn free(p: *mut u8) {
    // SAFETY: the caller guarantees `p` is null or a live block of the C library's allocator.
    unsafe { libc::free(p.cast()) }
}

/// `value`, moved into a block of the C library's heap that is never freed:
/// the records the allocator keeps for the life of the process (installed
/// allocators, the debug hooks' contexts), each linked on a static list so
/// that it stays reachable.
///
/// Not a `Box`: these records are made while the allocator is being set up,
/// at the first call of a family, and a program whose global allocator is
/// built on the families would call the family again from inside that
/// first call (and wait for itself). Aborts, as `Box::new` does, if the C
/// library has no memory.
pub(crate) fn keep<T>(value: T) -> *mut T {
    const {
        assert!(
            align_of::<T>() <= ALIGNMENT,
            "the C library's blocks are aligned to 16"
        )
    };
    let p = malloc(size_of::<T>()).cast::<T>();
    if p.is_null() {
        std::alloc::handle_alloc_error(core::alloc::Layout::new::<T>());
    }
    // SAFETY: `p` is a fresh block of at least `size_of::<T>()` bytes,
    // aligned to `ALIGNMENT`, which covers `T`'s alignment (checked above).
    unsafe { p.write(value) };
    p
}

/// The environment variable `name`, read in place with the C library's
/// `getenv`: `std::env::var_os` would copy it into memory from the global
/// allocator. Its callers read the value at once, never keep it.
pub(crate) fn env(name: &CStr) -> Option<&CStr> {
    // `getenv` is sound while no thread changes the environment, and
    // changing it is the unsafe side: `std::env::set_var` and `remove_var`
    // are unsafe (since edition 2024) precisely because C code may read the
    // environment meanwhile, as here, and their callers promise that no
    // thread does.
    // SAFETY: `name` is NUL-terminated; nobody changes the environment.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: non-null, `value` is a NUL-terminated string of the
    // environment, which stays as it is (see above) while it is read.
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) })
}

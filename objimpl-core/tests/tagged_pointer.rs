//! A C library whose `malloc` hands out tagged pointers (arm64's top-byte
//! ignore as Android's allocator uses it, MTE, HWASan, Intel LAM): `free`
//! of a family block past 512 bytes, which the C library made, must give it
//! back to the C library as it is, tag and all, and not read the arena
//! map's root out of bounds with the tag as an index.
//!
//! Simulated on x86-64: this binary interposes `malloc` and `free`; while
//! `TAG_NEXT` is set, the next block comes back with a tag in its top byte,
//! and `free` strips any tag before the real `free` sees it. The tagged
//! pointer is never dereferenced.
#![cfg(all(target_os = "linux", target_pointer_width = "64", not(miri)))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use objimpl_core::alloc::{self, Allocator, Domain};

static TAG_NEXT: AtomicBool = AtomicBool::new(false);
static TAGGED_FREES: AtomicUsize = AtomicUsize::new(0);
static REAL_MALLOC: AtomicUsize = AtomicUsize::new(0);
static REAL_FREE: AtomicUsize = AtomicUsize::new(0);
static REAL_REALLOC: AtomicUsize = AtomicUsize::new(0);
const TAG: usize = 0x0B << 56;

/// The C library's own function `name`, looked up once.
fn real(slot: &AtomicUsize, name: &std::ffi::CStr) -> usize {
    let mut f = slot.load(Ordering::Relaxed);
    if f == 0 {
        // SAFETY: a NUL-terminated name; RTLD_NEXT finds the C library's.
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
        slot.store(f, Ordering::Relaxed);
    }
    f
}

/// `malloc`, tagging the next block when asked to.
///
/// # Safety
///
/// As the C library's `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(n: usize) -> *mut libc::c_void {
    // SAFETY: the C library's `malloc` has this signature.
    let f: unsafe extern "C" fn(usize) -> *mut libc::c_void =
        unsafe { std::mem::transmute(real(&REAL_MALLOC, c"malloc")) };
    // SAFETY: any size may be asked for.
    let p = unsafe { f(n) };
    if !p.is_null() && TAG_NEXT.swap(false, Ordering::Relaxed) {
        p.map_addr(|a| a | TAG)
    } else {
        p
    }
}

/// `free`, which takes tagged pointers, as a tagging C library's does.
///
/// # Safety
///
/// As the C library's `free`: `p` is null or a live block of `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut libc::c_void) {
    // SAFETY: the C library's `free` has this signature.
    let f: unsafe extern "C" fn(*mut libc::c_void) =
        unsafe { std::mem::transmute(real(&REAL_FREE, c"free")) };
    if p.addr() & TAG != 0 {
        TAGGED_FREES.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: `p`, untagged, is a block of the real `malloc` (or null).
    unsafe { f(p.map_addr(|a| a & !TAG)) }
}

/// `realloc`, which takes tagged pointers too.
///
/// # Safety
///
/// As the C library's `realloc`: `p` is null or a live block of `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut libc::c_void, n: usize) -> *mut libc::c_void {
    // SAFETY: the C library's `realloc` has this signature.
    let f: unsafe extern "C" fn(*mut libc::c_void, usize) -> *mut libc::c_void =
        unsafe { std::mem::transmute(real(&REAL_REALLOC, c"realloc")) };
    if p.addr() & TAG != 0 {
        TAGGED_FREES.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: `p`, untagged, is a block of the real `malloc` (or null).
    unsafe { f(p.map_addr(|a| a & !TAG), n) }
}

#[test]
fn a_tagged_c_library_block_goes_back_to_the_c_library() {
    // The pool itself, without the debug hooks (which would make the block
    // their own, from a pool).
    // SAFETY: no object block is live in this binary yet.
    unsafe { alloc::set_allocator(Domain::Object, Allocator::pymalloc()) };
    let warm = alloc::object_malloc(16); // the thread's heap and arena exist
    TAG_NEXT.store(true, Ordering::Relaxed);
    let p = alloc::object_malloc(1000);
    assert_eq!(p.addr() & TAG, TAG, "the C library served it, tagged");
    // SAFETY: `p` came from `object_malloc` and is freed once.
    unsafe { alloc::object_free(p) };
    assert_eq!(
        TAGGED_FREES.load(Ordering::Relaxed),
        1,
        "to the C library, tag and all"
    );
    // Reallocated too: the tagged block is the C library's to move.
    TAG_NEXT.store(true, Ordering::Relaxed);
    let q = alloc::object_malloc(700);
    // SAFETY: `q` is a live block of the family; on success it is replaced.
    let r = unsafe { alloc::object_realloc(q, 5000) };
    assert!(!r.is_null());
    assert_eq!(
        TAGGED_FREES.load(Ordering::Relaxed),
        2,
        "moved by the C library"
    );
    // SAFETY: `r` came from `object_realloc` and is freed once; `warm` too.
    unsafe {
        alloc::object_free(r);
        alloc::object_free(warm);
    }
}

//! The fast path of `malloc` for the pool families (mimalloc's `alloc.c`):
//! the class's cache, or else the first block of the first usable pool;
//! everything else out of line, in `heap/` (`malloc_small_slow`). Then the
//! rest of the family on top of it and of `free`: `calloc`, `realloc`.

use core::ptr;

use core::sync::atomic::Ordering;

use super::arena::{own, slot_entry};
use super::arena_map;
use super::fatal::invariant;
use super::free::free_with;
use super::heap::{self, ClassSlot, Heap, Servicer, ThisThread};
use super::size_class::{
    MEDIUM_REQUEST_THRESHOLD, SMALL_REQUEST_THRESHOLD, class_of, class_size, medium_class_of,
};
use super::system;

// ---------------------------------------------------------------------------
// Fast paths.
// ---------------------------------------------------------------------------

/// The pools serve requests of up to `SMALL` bytes for the families, as
/// CPython's pymalloc; [`PyMalloc`](super::PyMalloc) has them serve up to
/// `MEDIUM`, its medium classes included. The functions below take one of
/// the two as `LIMIT`.
pub(crate) const SMALL: usize = SMALL_REQUEST_THRESHOLD;
/// See [`SMALL`].
pub(crate) const MEDIUM: usize = MEDIUM_REQUEST_THRESHOLD;

/// `malloc(size)`: a block of `size` bytes, 16-byte aligned; null if the
/// memory could not be had or `size > isize::MAX`.
#[inline]
pub(crate) fn malloc(size: usize) -> *mut u8 {
    malloc_up_to::<SMALL>(size)
}

/// [`malloc`], with the pools serving requests of up to `LIMIT` bytes
/// ([`SMALL`] or [`MEDIUM`]).
#[inline(always)]
pub(crate) fn malloc_up_to<const LIMIT: usize>(size: usize) -> *mut u8 {
    // SAFETY: the calling thread services its own heap.
    unsafe { malloc_up_to_with::<LIMIT>(ThisThread, size) }
}

/// [`malloc_up_to`] from the heap of `servicer`.
///
/// # Safety
///
/// - The caller services `servicer`'s heap (see [`Servicer`]).
#[inline(always)]
pub(crate) unsafe fn malloc_up_to_with<const LIMIT: usize>(
    servicer: impl Servicer,
    size: usize,
) -> *mut u8 {
    match class_up_to::<LIMIT>(size) {
        // SAFETY: as the caller guarantees.
        Some(class) => unsafe { malloc_with(servicer, class, size) },
        None => system::malloc(size),
    }
}

/// The class a request of `size` bytes takes with the pools serving up to
/// `LIMIT` bytes; `None` past them (the C library's).
#[inline(always)]
pub(crate) fn class_up_to<const LIMIT: usize>(size: usize) -> Option<usize> {
    const { assert!(LIMIT == SMALL || LIMIT == MEDIUM) };
    if size <= SMALL_REQUEST_THRESHOLD {
        Some(class_of(size))
    } else if size <= LIMIT {
        Some(medium_class_of(size))
    } else {
        None
    }
}

/// A block of `class`, for a request of `size <= class_size(class)` bytes
/// (the C library serves `size` if the thread has no heap).
#[inline(always)]
pub(crate) fn malloc_in(class: usize, size: usize) -> *mut u8 {
    // SAFETY: the calling thread services its own heap.
    unsafe { malloc_with(ThisThread, class, size) }
}

/// [`malloc_in`] from the heap of `servicer`.
///
/// # Safety
///
/// - The caller services `servicer`'s heap (see [`Servicer`]).
#[inline(always)]
pub(crate) unsafe fn malloc_with(servicer: impl Servicer, class: usize, size: usize) -> *mut u8 {
    invariant!(
        size <= class_size(class),
        "{size} bytes asked of class {class}"
    );
    let heap = servicer.heap();
    if !heap.is_null() {
        // SAFETY: a live heap (heaps are never freed) that the caller
        // services.
        let cached = unsafe { Heap::pop_cached(heap, class) };
        if !cached.is_null() {
            return cached;
        }
        // SAFETY: as above.
        let pool = unsafe { Heap::usable_pool(heap, class) };
        if !pool.is_null() {
            // SAFETY: `pool` is on `heap`'s usable list of `class`, and
            // the caller services `heap`.
            return unsafe { heap::take_block(heap, pool, class) };
        }
    }
    // SAFETY: as the caller guarantees.
    unsafe { servicer.malloc_slow(class, size) }
}

// ---------------------------------------------------------------------------
// The rest of the family, on top of the fast paths.
// ---------------------------------------------------------------------------

/// `calloc(n, size)`: `n * size` zeroed bytes; null on overflow.
#[inline]
pub(crate) fn calloc(n: usize, size: usize) -> *mut u8 {
    calloc_up_to::<SMALL>(n, size)
}

/// [`calloc`], with the pools serving requests of up to `LIMIT` bytes.
#[inline]
pub(crate) fn calloc_up_to<const LIMIT: usize>(n: usize, size: usize) -> *mut u8 {
    // SAFETY: the calling thread services its own heap.
    unsafe { calloc_up_to_with::<LIMIT>(ThisThread, n, size) }
}

/// [`calloc_up_to`] from the heap of `servicer`.
///
/// # Safety
///
/// - The caller services `servicer`'s heap (see [`Servicer`]).
#[inline]
pub(crate) unsafe fn calloc_up_to_with<const LIMIT: usize>(
    servicer: impl Servicer,
    n: usize,
    size: usize,
) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        return ptr::null_mut();
    };
    if total > LIMIT {
        return system::calloc(1, total);
    }
    // SAFETY: as the caller guarantees.
    let p = unsafe { malloc_up_to_with::<LIMIT>(servicer, total) };
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of at least `total` bytes.
        unsafe { p.write_bytes(0, total) };
    }
    p
}

/// `realloc(p, size)`. A pool block stays where it is when `size` still fits
/// its class well (more than 3/4 of the block, as obmalloc); otherwise the
/// contents move, up to the smaller size. A C library block stays one.
///
/// # Safety
///
/// - `p` is null or a live block of this module, not freed before; on
///   success it is no longer valid.
#[inline]
pub(crate) unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: as the caller guarantees; the block holds at most its class.
    unsafe { resize::<SMALL>(p, usize::MAX, size) }
}

/// [`realloc`] of a block whose caller knows it holds at most `used` bytes
/// (a `Layout`'s size): only those move. A new block is had as
/// [`malloc_up_to`] has it.
///
/// The contents move through the allocator's own pointer to the block (see
/// [`own`]), never through `p`: the caller's pointer may grant access to no
/// more than the bytes it asked for (a `Box<[u8]>` of 9 bytes in a 16-byte
/// block), and reading the block's class size through it was undefined
/// behaviour to Miri.
///
/// # Safety
///
/// - as [`realloc`].
#[inline]
pub(crate) unsafe fn resize<const LIMIT: usize>(p: *mut u8, used: usize, size: usize) -> *mut u8 {
    // SAFETY: as the caller guarantees; the calling thread services its
    // own heap.
    unsafe { resize_with::<LIMIT>(ThisThread, p, used, size) }
}

/// [`resize`] with a new block, if one is needed, from the heap of
/// `servicer`.
///
/// # Safety
///
/// - as [`realloc`];
/// - the caller services `servicer`'s heap (see [`Servicer`]).
#[inline]
pub(crate) unsafe fn resize_with<const LIMIT: usize>(
    servicer: impl Servicer,
    p: *mut u8,
    used: usize,
    size: usize,
) -> *mut u8 {
    if p.is_null() {
        // SAFETY: as the caller guarantees.
        return unsafe { malloc_up_to_with::<LIMIT>(servicer, size) };
    }
    let arena = arena_map::lookup(p);
    if arena.is_null() {
        // SAFETY: the caller gives a live block of this family, and those
        // outside our arenas came from `system`.
        return unsafe { system::realloc(p, size) };
    }
    // SAFETY: `p` is a live block of `arena`, which is therefore alive.
    let block = unsafe { own(arena, p) };
    // The slot table names a slot of the block's class while it lives
    // (Acquire: the slot's heap is read, as in `free`).
    // SAFETY: as above; the table is initialised, its slots live heaps'.
    let class = unsafe { ClassSlot::class((*slot_entry(block)).load(Ordering::Acquire)) };
    let old_size = class_size(class);
    if size <= old_size && size * 4 > old_size * 3 {
        return block;
    }
    // SAFETY: as the caller guarantees.
    let q = unsafe { malloc_up_to_with::<LIMIT>(servicer, size) };
    if !q.is_null() {
        // SAFETY: both blocks are live and distinct; `block` covers all of
        // its `old_size` bytes, `q` at least `size`.
        unsafe { ptr::copy_nonoverlapping(block, q, used.min(old_size).min(size)) };
        // SAFETY: the caller gave `p` up; its contents are copied; the
        // caller services `servicer`'s heap.
        unsafe { free_with(servicer, block) };
    }
    q
}

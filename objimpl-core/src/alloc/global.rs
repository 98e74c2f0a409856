//! [`PyMalloc`]: the pool allocator as Rust's global allocator.

use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

use super::free::{free, free_in};
use super::malloc::{self, MEDIUM};
use super::size_class::{ALIGNMENT, TINY_CLASS, TINY_SIZE};
use super::system;

/// The pool allocator as a [`GlobalAlloc`]: requests aligned to at most 16
/// bytes go to the pools, up to 64 KiB (past CPython's 512 bytes, in the
/// medium classes, eight to each doubling of the size; past 64 KiB to the C
/// library); over-aligned ones go to [`System`].
///
/// Requests of at most 8 bytes aligned to at most 8 get 8-byte blocks, a
/// class of their own that the families (whose blocks are all 16-byte
/// aligned) never use: a Rust program's short strings then take half the
/// memory. (In the JSON program of `benches/program`, 363 000 of its
/// 560 000 small requests were such strings.)
///
/// A program can use it for everything, threads included: its thread-local
/// state has const initialisers and it never allocates through the global
/// allocator itself.
///
/// ```
/// use objimpl::alloc::PyMalloc;
///
/// #[global_allocator]
/// static GLOBAL: PyMalloc = PyMalloc;
///
/// let v: Vec<u64> = (0..100).collect();
/// assert_eq!(v.iter().sum::<u64>(), 4950);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PyMalloc;

// SAFETY: every block is at least `layout.size()` bytes aligned to
// `ALIGNMENT` (8-byte blocks: to 8, asked of them only by layouts aligned to
// at most 8), which covers `layout.align()` on the pool side; blocks are
// returned to the side (pools or `System`) that made them, chosen by the same
// alignment test the layout repeats on `dealloc` and `realloc`.
unsafe impl GlobalAlloc for PyMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= ALIGNMENT {
            match pool_class(layout) {
                Some(class) => malloc::malloc_in(class, layout.size()),
                None => system::malloc(layout.size()),
            }
        } else {
            // SAFETY: the caller's layout has a non-zero size, as `alloc` requires.
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= ALIGNMENT {
            malloc::calloc_up_to::<MEDIUM>(1, layout.size())
        } else {
            // SAFETY: as `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() <= ALIGNMENT {
            match pool_class(layout) {
                // `free_in` frees a block of another class (one `alloc_zeroed`
                // or `realloc` made) as `free` does.
                // SAFETY: `ptr` came from the pool side with this layout.
                Some(class) => unsafe { free_in(ptr, class) },
                // SAFETY: as above; past the pools, `free` gives the block
                // back to the C library.
                None => unsafe { free(ptr) },
            }
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= ALIGNMENT {
            // SAFETY: `ptr` came from the pool side with this layout, so it
            // holds `layout.size()` bytes; the new block keeps the alignment.
            unsafe { malloc::resize::<MEDIUM>(ptr, layout.size(), new_size) }
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

/// The class `alloc` takes a block of for `layout` (aligned to at most
/// [`ALIGNMENT`]), or `None` past the pools: `dealloc` computes it again,
/// so that `free` finds the thread's slot without waiting for the block's.
#[inline(always)]
fn pool_class(layout: Layout) -> Option<usize> {
    if layout.size() <= TINY_SIZE && layout.align() <= TINY_SIZE {
        Some(TINY_CLASS)
    } else {
        malloc::class_up_to::<MEDIUM>(layout.size())
    }
}

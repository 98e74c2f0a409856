//! Integration tests of the pool allocator, one binary.
//!
//! These tests check the pool allocator itself, so the first [`serial`] puts
//! it under every family, in place of the debug hooks that builds with
//! `debug_assertions` install by default (the hooks have their own tests).
//!
//! Several tests compare the global statistics before and after, so every
//! test takes [`serial`]: no other test of this binary allocates meanwhile.
//! A test thread that finished may still be exiting, though, and its exit
//! hook gives back the empty arena its heap kept; so arena counts are
//! compared with `<=`.

mod arena_return;
mod cross_thread;
mod domains;
mod families;
mod fast_path;
mod heap_map;
mod model;
mod orphans;
mod stats_table;

use objimpl_core::alloc::{Allocator, Domain, set_allocator};
use std::sync::{Mutex, MutexGuard, Once};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the calling test alone among this binary's tests, on the pool.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    static POOL: Once = Once::new();
    POOL.call_once(|| {
        // SAFETY: every test of this binary takes `serial` before it
        // allocates through a family, so no block is live yet.
        unsafe {
            set_allocator(Domain::Raw, Allocator::system());
            set_allocator(Domain::Mem, Allocator::pymalloc());
            set_allocator(Domain::Object, Allocator::pymalloc());
        }
    });
    guard
}

/// The three families, as function pointers, for tests that run over all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Object,
    Mem,
    Raw,
}

impl Family {
    pub(crate) const ALL: [Family; 3] = [Family::Object, Family::Mem, Family::Raw];

    pub(crate) fn malloc(self, size: usize) -> *mut u8 {
        use objimpl_core::alloc::*;
        match self {
            Family::Object => object_malloc(size),
            Family::Mem => mem_malloc(size),
            Family::Raw => raw_malloc(size),
        }
    }

    pub(crate) fn calloc(self, n: usize, size: usize) -> *mut u8 {
        use objimpl_core::alloc::*;
        match self {
            Family::Object => object_calloc(n, size),
            Family::Mem => mem_calloc(n, size),
            Family::Raw => raw_calloc(n, size),
        }
    }

    /// # Safety
    ///
    /// As the family's `realloc`.
    pub(crate) unsafe fn realloc(self, p: *mut u8, size: usize) -> *mut u8 {
        use objimpl_core::alloc::*;
        // SAFETY: forwarded from the caller.
        unsafe {
            match self {
                Family::Object => object_realloc(p, size),
                Family::Mem => mem_realloc(p, size),
                Family::Raw => raw_realloc(p, size),
            }
        }
    }

    /// # Safety
    ///
    /// As the family's `free`.
    pub(crate) unsafe fn free(self, p: *mut u8) {
        use objimpl_core::alloc::*;
        // SAFETY: forwarded from the caller.
        unsafe {
            match self {
                Family::Object => object_free(p),
                Family::Mem => mem_free(p),
                Family::Raw => raw_free(p),
            }
        }
    }

    /// Whether a block of `size` bytes of this family comes from a pool.
    pub(crate) fn pooled(self, size: usize) -> bool {
        self != Family::Raw && size <= 512
    }
}

/// The size class serving `size <= 512` bytes.
pub(crate) fn class_of(size: usize) -> usize {
    size.saturating_sub(1) / 16
}

/// The block size of class `class`.
pub(crate) fn class_size(class: usize) -> usize {
    // Class 32 holds PyMalloc's 8-byte blocks.
    if class == 32 { 8 } else { 16 * (class + 1) }
}

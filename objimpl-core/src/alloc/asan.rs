//! Telling AddressSanitizer which pool blocks are free, as mimalloc does
//! with `MI_TRACK_ASAN`.
//!
//! ASan sees the pools as one mapping it knows nothing about, so on its own
//! it cannot tell a live block from a free one. With `--cfg objimpl_asan`
//! (set by `scripts/sanitize.sh address`, beside `-Zsanitizer=address`) the
//! pools poison a block when it goes to its pool's free list, to a thread's
//! cache or to another thread's `thread_free` list, and unpoison it when it
//! is handed out: a read or write of a freed block is then an ASan report
//! ("use-after-poison"). The never-used tail of a pool is poisoned too.
//! The allocator's own reads and writes of a free block's link unpoison the
//! link's word first.
//!
//! Without the cfg, every function here is empty and inlined away.

/// Bytes of a free block's link (`pool::Block`): one pointer.
pub(crate) const LINK: usize = size_of::<*mut u8>();

#[cfg(objimpl_asan)]
unsafe extern "C" {
    fn __asan_poison_memory_region(addr: *const u8, size: usize);
    fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
}

/// Marks `size` bytes from `p`, a free block or never-used bytes of one of
/// our pools, as not to be touched.
#[inline(always)]
pub(crate) fn poison(p: *const u8, size: usize) {
    #[cfg(objimpl_asan)]
    // SAFETY: the sanitizer's interface takes any range of application
    // memory; it changes only the shadow, never the bytes.
    unsafe {
        __asan_poison_memory_region(p, size)
    };
    let _ = (p, size);
}

/// Marks `size` bytes from `p`, in one of our pools, as usable again.
#[inline(always)]
pub(crate) fn unpoison(p: *const u8, size: usize) {
    #[cfg(objimpl_asan)]
    // SAFETY: as in `poison`.
    unsafe {
        __asan_unpoison_memory_region(p, size)
    };
    let _ = (p, size);
}

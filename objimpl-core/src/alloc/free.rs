//! The fast path of `free` for the pool families (mimalloc's `free.c`):
//! the arena map says whether the block is ours, the arena's slot table
//! names the owner's slot of its class, and a block of this thread's heap
//! goes on the slot's cache. Everything else is out of line, in `heap/`:
//! a block of another heap (`free_remote_slow`), a full cache
//! (`free_cache_full_slow`).

use core::sync::atomic::Ordering;

use super::arena::{exposed, slot_entry};
use super::arena_map;
use super::asan;
use super::fatal::invariant;
use super::heap::{self, ClassSlot};
use super::size_class::class_size;
use super::system;

/// `free(p)`: gives a block back; null does nothing.
///
/// # Safety
///
/// - `p` is null or a live block from this module's `malloc`, `calloc` or
///   `realloc`, not freed before.
#[inline]
pub(crate) unsafe fn free(p: *mut u8) {
    if arena_map::lookup(p).is_null() {
        // Not in our arenas: a C library block (or null).
        // SAFETY: the caller gives a live block of this family, and blocks of
        // this family outside our arenas all came from `system`.
        return unsafe { system::free(p) };
    }
    // The arena's slot table names the owner's slot of the pool's class.
    // It is reached from `p`'s address alone, not through the arena map:
    // the slot's address, to which this free stores, is then one load away
    // from `p`, not three (root, leaf, record), and the next `malloc`'s load
    // of the same slot need not wait behind them. (W6a ran at 4 or 8 ns per
    // object, by where address randomisation put the code, and W1 at 2.7.)
    // SAFETY: `p` is a live block of one of our arenas, live with it.
    let block = unsafe { exposed(p) };
    // Relaxed: the entry was written (`Arena::set_class`) before the block
    // was handed out, which happened before this free; it changes while the
    // block lives only when a heap reclaims the arena of an exited thread,
    // and this thread then reads the old owner's slot or the new one's,
    // neither of which is its heap (see `heap/lists.rs`, `reclaim_orphans`).
    // SAFETY: `block` has its arena's provenance; the table is initialised.
    let slot = unsafe { (*slot_entry(block)).load(Ordering::Relaxed) };
    // SAFETY: the slot of a live heap (heaps are never freed).
    if unsafe { ClassSlot::heap(slot) } != heap::current() {
        // SAFETY: `p` is a live block of one of our arenas, given up by the caller.
        return unsafe { heap::free_remote_slow(p) };
    }
    invariant!(
        // SAFETY: the slot's heap is this thread's.
        !unsafe { ClassSlot::is_cached(slot, block) },
        "{p:p} freed twice: it is in this thread's cache of freed blocks"
    );
    if cfg!(objimpl_asan) {
        // SAFETY: the slot of a live heap.
        asan::poison(block, class_size(unsafe { ClassSlot::class(slot) }));
    }
    // SAFETY: `block` is a live block of a pool of this thread's heap, of
    // the slot's class, with its arena's provenance.
    unsafe {
        if !ClassSlot::push_cached(slot, block) {
            heap::free_cache_full_slow(slot, block);
        }
    }
}

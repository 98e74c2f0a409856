//! The fast path of `free` for the pool families (mimalloc's `free.c`):
//! the arena map's bitmap says whether the block is ours, the arena's slot
//! table names the owner's slot of its class, and a block of this thread's
//! heap goes on the slot's cache. `free_in` is the same for a caller that
//! knows the class (a sized free). Everything else is out of line, in
//! `heap/`: a block of another heap (`free_remote_slow`), a full cache
//! (`free_cache_full_slow`).

use core::sync::atomic::Ordering;

use super::arena::{exposed, slot_entry};
use super::arena_map;
use super::asan;
use super::fatal::invariant;
use super::heap::{self, ClassSlot, Servicer, ThisThread};
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
    // SAFETY: as the caller guarantees; the calling thread services its
    // own heap.
    unsafe { free_with(ThisThread, p) }
}

/// [`free`] with `servicer`'s heap for the local one: a block of it goes to
/// its cache, any other is freed as another thread's is.
///
/// # Safety
///
/// - as [`free`];
/// - the caller services `servicer`'s heap (see [`Servicer`]).
#[inline(always)]
pub(crate) unsafe fn free_with(servicer: impl Servicer, p: *mut u8) {
    if !arena_map::contains(p) {
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
    // The entry was written (`Arena::set_class`) before the block was handed
    // out, which happened before this free; it changes while the block
    // lives only when a heap reclaims the arena of an exited thread, and this
    // thread then reads the old owner's slot or the new one's, neither of
    // which is its heap (see `heap/lists.rs`, `reclaim_orphans`). Acquire,
    // paired with the reclaim's Release: the new owner's slot may be fresh,
    // made by a thread nothing else orders before this one, and its fields
    // are read below. (On x86 and under TSO a plain `mov` all the same.)
    // SAFETY: `block` has its arena's provenance; the table is initialised.
    let slot = unsafe { (*slot_entry(block)).load(Ordering::Acquire) };
    // SAFETY: the slot of a live heap (heaps are never freed).
    if unsafe { ClassSlot::heap(slot) } != servicer.heap() {
        // SAFETY: `p` is a live block of one of our arenas, given up by the caller.
        return unsafe { heap::free_remote_slow(p) };
    }
    // The block is of a pool of the heap the caller services, of the slot's
    // class, with its arena's provenance.
    // SAFETY: as just said; a live block, given up by the caller.
    unsafe { give_own(slot, block) }
}

/// Gives a block of a heap the caller services to its class's cache, or,
/// the cache full, to its pool.
///
/// # Safety
///
/// - `block` is a live block of a pool of a heap the caller services, of
///   `slot`'s class, with its arena's provenance, given up by the caller.
#[inline(always)]
unsafe fn give_own(slot: *const ClassSlot, block: *mut u8) {
    invariant!(
        // SAFETY: the slot's heap is this thread's.
        !unsafe { ClassSlot::is_cached(slot, block) },
        "{block:p} freed twice: it is in this thread's cache of freed blocks"
    );
    if cfg!(objimpl_asan) {
        // SAFETY: the slot of a live heap.
        asan::poison(block, class_size(unsafe { ClassSlot::class(slot) }));
    }
    // SAFETY: as the caller guarantees.
    unsafe {
        if !ClassSlot::push_cached(slot, block) {
            heap::free_cache_full_slow(slot, block);
        }
    }
}

/// `free(p)` of a block its caller knows the class of, for a request of
/// `class`'s size: the slot is then the thread's own slot of `class`, whose
/// address does not wait for `p`; the block's slot-table entry is only
/// compared with it. (Through `p`'s entry, the count that `free` updates
/// is three dependent loads after the `malloc` that made `p`, and a loop of
/// `malloc` and `free` runs at their latency.) A block of another heap or
/// another class takes [`free`].
///
/// # Safety
///
/// As [`free`]; `class` is any class.
#[inline(always)]
pub(crate) unsafe fn free_in(p: *mut u8, class: usize) {
    let heap = heap::current();
    if !heap.is_null() && arena_map::contains(p) {
        // SAFETY: the thread's live heap; `class` is a class.
        let mine: *const ClassSlot = unsafe { heap::Heap::slot(heap, class) };
        // SAFETY: `p` is a live block of one of our arenas, live with it.
        let block = unsafe { exposed(p) };
        // Relaxed: only compared with `mine`, never read through.
        // SAFETY: as in `free`.
        let slot = unsafe { (*slot_entry(block)).load(Ordering::Relaxed) };
        if slot.cast_const() == mine {
            // SAFETY: `block` is a live block of a pool of this thread's
            // heap, of `class`, with its arena's provenance.
            return unsafe { give_own(mine, block) };
        }
    }
    // SAFETY: as the caller guarantees.
    unsafe { free(p) }
}

#[cfg(test)]
mod tests {
    use super::super::heap;
    use super::super::malloc::malloc_in;
    use super::super::size_class::class_of;
    use super::super::system;
    use super::*;

    fn cached(class: usize) -> usize {
        // SAFETY: the thread's heap, live while it runs (heaps are never freed).
        unsafe { &*heap::current() }.cached(class)
    }

    /// `free_in` trusts its class only as far as the block's slot agrees:
    /// a block of another class, of another thread's heap or of the C
    /// library is freed as `free` frees it.
    #[test]
    fn free_in_a_class_not_the_blocks_takes_the_plain_path() {
        std::thread::spawn(|| {
            let (small, large) = (class_of(32), class_of(48));
            let p = malloc_in(small, 32);
            let before = (cached(small), cached(large));
            // SAFETY: a live block of ours, freed once (whatever class is named).
            unsafe { free_in(p, large) };
            assert_eq!((cached(small), cached(large)), (before.0 + 1, before.1));
            assert_eq!(
                malloc_in(small, 32),
                p,
                "the block is back in its own class's cache"
            );

            // A block of another thread's heap goes back to that heap.
            struct Sent(*mut u8);
            // SAFETY: a block of memory, which any thread may free.
            unsafe impl Send for Sent {}
            let theirs = std::thread::spawn(move || Sent(malloc_in(small, 32)))
                .join()
                .unwrap()
                .0;
            let before = cached(small);
            // SAFETY: a live block, given up by the thread that made it.
            unsafe { free_in(theirs, small) };
            assert_eq!(
                cached(small),
                before,
                "not cached by a heap that does not own it"
            );

            // A block of the C library goes back to it.
            let big = system::malloc(1 << 20);
            assert!(!big.is_null());
            // SAFETY: a live block of the C library, freed once.
            unsafe { free_in(big, small) };
            // SAFETY: `p` is live again, taken by the `malloc_in` above.
            unsafe { free(p) };
        })
        .join()
        .unwrap();
    }
}

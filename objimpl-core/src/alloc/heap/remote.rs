//! Frees from other threads: a block freed by a thread that does not own it
//! goes on its pool's atomic `thread_free` list, and the pool on its
//! owner's atomic `pending` queue; the owner takes both back in its slow
//! paths ([`drain_pending`]). A pool queued on an owner that lost the
//! arena meanwhile (reclaimed) is passed on, or flagged stale.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::super::arena::{self, Arena};
use super::super::arena_map;
use super::super::asan;
use super::super::fatal::invariant;
use super::super::pool::{Block, Pool, QUEUED};
use super::super::size_class::class_size;
use super::pools::{give_block, owner_of};
use super::{ClassSlot, Heap};

/// `free` of a block owned by another heap (or freed by a thread with no
/// heap): push it on its pool's `thread_free` list, and queue the pool on
/// the owner's `pending` list if it was not queued yet.
///
/// # Safety
///
/// - `p` is a live block in one of our arenas, given up by the caller.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn free_remote_slow(p: *mut u8) {
    // Looked up again rather than passed: the fast path then keeps `p` in
    // the register it came in (one `mov` fewer on every free).
    let arena = arena_map::lookup(p);
    invariant!(!arena.is_null(), "{p:p} freed, in none of our arenas");
    // The link is written through the allocator's own pointer, which the
    // list keeps too: the caller's may cover fewer bytes than the link (a
    // `Box<[u8]>` of 1 byte, freed on another thread, was a write out of its
    // bounds to Miri).
    // SAFETY: `p` is a live block of `arena`, which is therefore alive.
    let block = unsafe { arena::own(arena, p) }.cast::<Block>();
    // The slot table names a slot of the block's class (the owner's, or if
    // the arena is being reclaimed, its next owner's: the same class), whose
    // mask names its pool. Acquire, as in `free`: the slot may be a fresh
    // heap's, made by the reclaiming thread.
    // SAFETY: the table is initialised; the slot is a live heap's.
    let pool = unsafe {
        let slot = (*arena::slot_entry(block.cast())).load(Ordering::Acquire);
        ClassSlot::pool_of(slot, block.cast())
    };
    // `thread_free` and `pending_next` are atomics, shared by design; the
    // block is ours to write until the exchange publishes it.
    // SAFETY: the arena and its pool headers live at least as long as the
    // block, which stays in use until the pool is queued below.
    unsafe {
        // Acquire: a reclaim counted here has reassigned its arenas, so the
        // owner read next is the new one.
        let reclaims = RECLAIMS.load(Ordering::Acquire);
        let owner = Arena::owner(arena);
        let list = &(*pool).thread_free;
        let mut old = list.load(Ordering::Relaxed);
        // Poisoned before it is published: then the owner may hand it out.
        asan::poison(block.cast(), class_size((*pool).class as usize));
        loop {
            asan::unpoison(block.cast(), asan::LINK);
            (*block).next = old.map_addr(|a| a & !QUEUED);
            asan::poison(block.cast(), asan::LINK);
            let new = block.map_addr(|a| a | QUEUED);
            match list.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        if old.addr() & QUEUED != 0 {
            return;
        }
        // First remote free since the owner last looked: queue the pool. It
        // cannot be recycled meanwhile: the block just pushed counts as in use.
        queue_pending(owner, pool);
        // From here the owner may take the block, empty the pool and give
        // the arena back: nothing of the arena is read again. A reclaim
        // since `owner` was read may have taken the old owner's list for the
        // last time before the pool went on it: then the count moved (the
        // reclaim counts itself before that take, which the queueing's
        // Acquire sees), and `forward_stale` passes the pool on.
        if RECLAIMS.load(Ordering::Relaxed) != reclaims {
            STALE_PENDING.store(true, Ordering::Release);
        }
    }
}

/// Puts `pool`, whose `thread_free` has [`QUEUED`] set by the caller, on
/// `heap`'s `pending` list.
///
/// AcqRel: the Acquire half, paired with the Release of a reclaimer's take
/// of the list, makes the reclaim's count in [`RECLAIMS`] visible to the
/// check that follows in [`free_remote_slow`].
///
/// # Safety
///
/// - `pool` is a live pool on no `pending` list, whose `QUEUED` bit the
///   caller set; `heap` is a heap.
pub(super) unsafe fn queue_pending(heap: *const Heap, pool: *mut Pool) {
    // SAFETY: heaps are never freed; `pending_next` is the caller's to
    // write until the exchange publishes the pool.
    unsafe {
        let pending = &(*heap).pending;
        let mut first = pending.load(Ordering::Relaxed);
        loop {
            (*pool).pending_next.store(first, Ordering::Relaxed);
            match pending.compare_exchange_weak(first, pool, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => first = now,
            }
        }
    }
}

/// Set by a remote free that queued a pool on an owner the pool's arena no
/// longer has (see `lists::reclaim_orphans`).
pub(super) static STALE_PENDING: AtomicBool = AtomicBool::new(false);

/// Reclaims of orphans so far, each counted after it reassigned the
/// orphans' arenas and before it took their `pending` lists for the last
/// time. A remote free compares it around its queueing, instead of reading
/// its arena's owner again when the arena may be gone (ThreadSanitizer saw
/// that read race with the arena's release).
pub(super) static RECLAIMS: AtomicUsize = AtomicUsize::new(0);

/// Takes the blocks other threads freed into `heap`'s pools, as local frees.
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn drain_pending(heap: *const Heap) {
    // SAFETY: heaps are never freed.
    if unsafe { &(*heap).pending }
        .load(Ordering::Relaxed)
        .is_null()
    {
        return;
    }
    // SAFETY: as the caller guarantees.
    unsafe { take_pending(heap) };
}

/// [`drain_pending`] without its first look: the list is taken with an
/// exchange even if it looks empty, which orders this take with every
/// queueing (see `lists::reclaim_orphans`).
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn take_pending(heap: *const Heap) {
    // SAFETY: heaps are never freed.
    let pending = unsafe { &(*heap).pending };
    // AcqRel: see `queue_pending`.
    let mut pool = pending.swap(ptr::null_mut(), Ordering::AcqRel);
    while !pool.is_null() {
        // Its link is read before the flag is cleared, since a remote free
        // may queue it again right after.
        // SAFETY: a queued pool holds a live (pushed) block, so it is live.
        unsafe {
            let next = (*pool).pending_next.load(Ordering::Relaxed);
            let owner = owner_of(pool);
            if owner != heap {
                // Queued here by a thread that read the owner just before a
                // reclaim changed it: on to the owner, `QUEUED` still set.
                queue_pending(owner, pool);
                pool = next;
                continue;
            }
            // AcqRel, not Acquire: the Release half keeps the read of
            // `pending_next` above before the swap, which lets remote frees
            // queue the pool again (and write that link).
            let mut block = (*pool)
                .thread_free
                .swap(ptr::null_mut(), Ordering::AcqRel)
                .map_addr(|a| a & !QUEUED);
            while !block.is_null() {
                asan::unpoison(block.cast(), asan::LINK);
                let after = (*block).next;
                give_block(pool, block);
                block = after;
            }
            pool = next;
        }
    }
}

//! A heap's pools: taking a block from a usable pool and giving one back
//! (the inner steps of the fast paths), and the lists the pools and their
//! arenas move on as they fill, refill and empty: each class's usable list,
//! the arenas' buckets by free-pool count, a new pool from the fullest
//! arena, an empty one back to its arena. Also the block caches' way back
//! to the pools.
//!
//! Taking and giving blocks live here, not in `pool.rs` (the header), since
//! a pool that fills, refills or empties moves on the heap's lists: the
//! fast paths tail-call those moves, out of line, named `*_slow`.

use core::ptr;
use core::sync::atomic::Ordering;

use super::super::arena::Arena;
use super::super::arena_map;
use super::super::asan;
use super::super::fatal::invariant;
use super::super::pool::{Block, Pool, pool_of};
use super::super::purge;
use super::super::size_class::{NUM_CLASSES, POOLS_PER_ARENA, class_size, pool_slots};
use super::kept::{keep_empty, release_expired};
use super::{ClassSlot, Heap, Local, add, head, local, sub};

// ---------------------------------------------------------------------------
// Taking and giving blocks.
// ---------------------------------------------------------------------------

/// Takes a block of a usable pool, counting it in the pool: the first of its
/// free list, else the next never-used one, which is not touched. A pool that
/// has neither left is full and leaves its usable list.
///
/// # Safety
///
/// - the calling thread services `heap`; `pool` is on its usable list of
///   `class` (so it has a block on its free list or in its never-used tail).
#[inline(always)]
pub(crate) unsafe fn take_block(heap: *const Heap, pool: *mut Pool, class: usize) -> *mut u8 {
    // A listed block is a free block of the pool, and a usable pool's
    // `next_offset` leaves room for a whole block.
    // SAFETY: the caller guarantees this thread alone touches the pool's local fields.
    unsafe {
        let count = &(*pool).count;
        // One writer: a plain load and store, no read-modify-write.
        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let block = (*pool).free;
        if !block.is_null() {
            asan::unpoison(block.cast(), class_size(class));
            let next = (*block).next;
            (*pool).free = next;
            if next.is_null() && (*pool).next_offset > (*pool).max_next_offset {
                // A tail call: the fast path keeps no registers across it.
                return pool_full_slow(heap, pool, class, block.cast());
            }
            return block.cast();
        }
        let offset = (*pool).next_offset;
        let next_offset = offset + class_size(class) as u32;
        (*pool).next_offset = next_offset;
        let block = pool.byte_add(offset as usize).cast();
        asan::unpoison(block, class_size(class));
        if next_offset > (*pool).max_next_offset {
            return pool_full_slow(heap, pool, class, block);
        }
        block
    }
}

/// Puts a block back on its pool's free list, on the owner's side (counted
/// when it was freed).
///
/// # Safety
///
/// - the calling thread services the heap owning `pool`; `block` is a
///   block of `pool` that was handed out and is given up now.
#[inline(always)]
pub(crate) unsafe fn give_block(pool: *mut Pool, block: *mut Block) {
    // SAFETY: the caller guarantees this thread alone touches the pool's
    // local fields, and that the block is ours to reuse.
    unsafe {
        let old = (*pool).free;
        invariant!(
            old != block,
            "{block:p} freed twice: it is already first on its pool's free list"
        );
        let count = (*pool).count.load(Ordering::Relaxed);
        invariant!(
            count != 0,
            "{block:p} given back to pool {pool:p}, which has no block handed out"
        );
        let count = count - 1;
        asan::unpoison(block.cast(), asan::LINK);
        (*block).next = old;
        asan::poison(block.cast(), class_size((*pool).class as usize));
        (*pool).free = block;
        (*pool).count.store(count, Ordering::Relaxed);
        if old.is_null() && (*pool).next_offset > (*pool).max_next_offset {
            // It was full: it is usable again.
            pool_refilled_slow(pool);
        } else if count == 0
            && !((*pool).prev.is_null()
                && (*pool).next.is_null()
                && pool_slots((*pool).class as usize) == 1)
        {
            // Empty, and not the only usable pool of its class, which a heap
            // keeps if it is one slot: a pool of several goes back to its
            // arena, where the purger gives its pages back once idle.
            pool_empty_slow(pool);
        }
    }
}

// ---------------------------------------------------------------------------
// Slow paths: a pool fills, refills or empties.
// ---------------------------------------------------------------------------

/// The pool at the front of the usable list of `class` just became full
/// as it gave `block`: it leaves the list until a block comes back.
/// Returns `block`, so that the fast path calls this in tail position.
///
/// # Safety
///
/// - the calling thread services `heap`; `pool` is the first usable pool of
///   `class`.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn pool_full_slow(
    heap: *const Heap,
    pool: *mut Pool,
    class: usize,
    block: *mut u8,
) -> *mut u8 {
    // SAFETY: as the caller guarantees.
    unsafe {
        invariant!(
            *head(heap, class) == pool,
            "pool {pool:p} filled up but is not the first usable one of class {class}"
        );
        unlink(heap, pool);
    }
    // Opaque to the optimiser: under LTO it would learn that this returns
    // its argument, call it instead of jumping, and make the fast path keep
    // `block` in a callee-saved register (a push and a pop every `malloc`).
    core::hint::black_box(block)
}

/// A full pool got a block back: it goes to the front of its usable list,
/// to be allocated from next (it is the most likely to be in cache).
///
/// # Safety
///
/// - the calling thread services the heap owning `pool`, which is on no
///   list.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn pool_refilled_slow(pool: *mut Pool) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let heap = owner_of(pool);
        let class = (*pool).class as usize;
        // The kept empty pool would no longer be alone: let it go.
        release_kept_pool(heap, class);
        let first = *head(heap, class);
        (*pool).prev = ptr::null_mut();
        (*pool).next = first;
        if !first.is_null() {
            (*first).prev = pool;
        }
        *head(heap, class) = pool;
    }
}

/// A pool that is not alone on its usable list became empty as a block
/// came back: it goes back to its arena.
///
/// # Safety
///
/// - the calling thread services the heap owning `pool`, which is on its
///   usable list and holds no live block.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn pool_empty_slow(pool: *mut Pool) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let heap = owner_of(pool);
        unlink(heap, pool);
        release_pool(heap, pool);
    }
}

/// The heap owning `pool`, one of our pools. Found from the pool rather
/// than passed down the fast paths, which then keep one register free.
///
/// # Safety
///
/// - `pool` is a pool in use.
pub(super) unsafe fn owner_of(pool: *mut Pool) -> *const Heap {
    // SAFETY: a pool in use lies in a live arena.
    unsafe { Arena::owner(arena_map::lookup(pool.cast())) }
}

// ---------------------------------------------------------------------------
// A new pool, and pools given back.
// ---------------------------------------------------------------------------

/// A fresh pool of `class` at the front of its (empty) usable list, from the
/// fullest arena with room for it, else the newest kept empty arena, else a
/// new one. Kept empty arenas past their delay go back to the OS.
///
/// # Safety
///
/// - the calling thread services `heap`; its usable list of `class` is empty.
pub(super) unsafe fn new_pool(heap: *const Heap, class: usize) -> *mut Pool {
    let slots = pool_slots(class);
    // SAFETY: the caller services `heap`, so its local state is ours.
    unsafe {
        let l = local(heap);
        let roomy = roomy_arena(l, slots);
        let arena = if !roomy.is_null() {
            bucket_remove(l, roomy);
            roomy
        } else if (*l).nempty != 0 {
            (*l).nempty -= 1;
            let arena = (*l).empties[(*l).nempty];
            purge::unkeep(arena);
            arena
        } else {
            let arena = Arena::create(heap, (*l).arenas_returned > 0);
            if arena.is_null() {
                return arena.cast();
            }
            add(&(*heap).unused_pools, POOLS_PER_ARENA);
            arena
        };
        release_expired(heap);
        let pool = Arena::take_pool(arena, slots);
        bucket_insert(l, arena);
        sub(&(*heap).unused_pools, slots);
        (*l).pools_in_use += 1;
        Pool::init(pool, class);
        Arena::set_class(arena, pool, class, Heap::slot(heap, class));
        invariant!(
            (*head(heap, class)).is_null(),
            "a new pool of class {class} while one is usable"
        );
        *head(heap, class) = pool;
        pool
    }
}

/// How many arenas [`roomy_arena`] looks at for a pool of several slots
/// before it settles for an empty one: a bound on the slow path's work.
const ROOMY_LOOKS: usize = 16;

/// The fullest of the heap's arenas with free pools that has room for a pool
/// of `slots` slots, or null. Any arena with a free pool has room for a
/// small class's; a medium class's needs an aligned run, looked for in at
/// most [`ROOMY_LOOKS`] arenas.
///
/// # Safety
///
/// - the calling thread services the heap of `l`.
unsafe fn roomy_arena(l: *mut Local, slots: usize) -> *mut Arena {
    // SAFETY: as the caller guarantees; bucketed arenas are live.
    unsafe {
        // Buckets of arenas with at least `slots` free pools.
        let mut buckets = (*l).nonempty & (u64::MAX << slots);
        if slots == 1 {
            return if buckets == 0 {
                ptr::null_mut()
            } else {
                (*l).buckets[buckets.trailing_zeros() as usize]
            };
        }
        let mut looks = 0;
        while buckets != 0 {
            let n = buckets.trailing_zeros() as usize;
            buckets &= buckets - 1;
            let mut arena = (*l).buckets[n];
            while !arena.is_null() {
                if Arena::has_room(arena, slots) {
                    return arena;
                }
                looks += 1;
                if looks == ROOMY_LOOKS {
                    return ptr::null_mut();
                }
                arena = (*arena).next;
            }
        }
        ptr::null_mut()
    }
}

/// Takes `pool` off its class's usable list.
///
/// # Safety
///
/// - the calling thread services `heap`; `pool` is on its usable list.
unsafe fn unlink(heap: *const Heap, pool: *mut Pool) {
    // SAFETY: as the caller guarantees; listed pools are live.
    unsafe {
        let (prev, next) = ((*pool).prev, (*pool).next);
        if prev.is_null() {
            *head(heap, (*pool).class as usize) = next;
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
        (*pool).prev = ptr::null_mut();
        (*pool).next = ptr::null_mut();
    }
}

/// Gives an empty pool (on no list) back to its arena; a wholly free arena
/// becomes the kept empty arena, or goes back to the OS if one is kept.
///
/// # Safety
///
/// - the calling thread services `heap`, which owns `pool`; `pool` is on no
///   list and holds no live block.
unsafe fn release_pool(heap: *const Heap, pool: *mut Pool) {
    let arena = arena_map::lookup(pool.cast());
    // SAFETY: as the caller guarantees; the pool's arena is live and owned
    // by `heap`.
    unsafe {
        invariant!(
            Arena::owner(arena) == heap,
            "pool {pool:p} given back by a heap that does not own it"
        );
        invariant!(
            (*pool).count.load(Ordering::Relaxed) == 0,
            "pool {pool:p} given back with blocks in use"
        );
        invariant!(
            (*pool).thread_free.load(Ordering::Relaxed).is_null(),
            "pool {pool:p} given back with blocks freed by other threads"
        );
        let l = local(heap);
        let slots = pool_slots((*pool).class as usize);
        add(&(*heap).unused_pools, slots);
        (*l).pools_in_use -= 1;
        bucket_remove(l, arena);
        purge::pool_given_back(Arena::give_pool(arena, pool, slots));
        if (*arena).nfree < POOLS_PER_ARENA {
            bucket_insert(l, arena);
        } else {
            keep_empty(heap, arena);
        }
    }
}

/// Lets go of a heap's idle pools: the kept empty pool of each class. Its
/// kept empty arenas stay, for `lists::recycle` or
/// [`release_empty_arenas`](super::kept::release_empty_arenas).
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn release_idle(heap: *const Heap) {
    for class in 0..NUM_CLASSES {
        // SAFETY: as the caller guarantees.
        unsafe { release_kept_pool(heap, class) };
    }
}

/// Lets go of the empty pool `heap` keeps for `class`, if it keeps one:
/// the first of its usable list, alone there.
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn release_kept_pool(heap: *const Heap, class: usize) {
    // SAFETY: as the caller guarantees; listed pools are live.
    unsafe {
        let first = *head(heap, class);
        if !first.is_null() && (*first).count.load(Ordering::Relaxed) == 0 {
            invariant!(
                (*first).next.is_null(),
                "an empty pool of class {class} kept beside others"
            );
            unlink(heap, first);
            release_pool(heap, first);
        }
    }
}

/// # Safety
///
/// - the calling thread services the heap of `l`; `arena` is its, in no bucket.
pub(super) unsafe fn bucket_insert(l: *mut Local, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let n = (*arena).nfree;
        if n == 0 || n == POOLS_PER_ARENA {
            return;
        }
        let first = (*l).buckets[n];
        (*arena).prev = ptr::null_mut();
        (*arena).next = first;
        if !first.is_null() {
            (*first).prev = arena;
        }
        (*l).buckets[n] = arena;
        (*l).nonempty |= 1 << n;
    }
}

/// # Safety
///
/// - the calling thread services the heap of `l`; `arena` is its, and in the
///   bucket of its `nfree` if `0 < nfree < POOLS_PER_ARENA`.
unsafe fn bucket_remove(l: *mut Local, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let n = (*arena).nfree;
        if n == 0 || n == POOLS_PER_ARENA {
            return;
        }
        let (prev, next) = ((*arena).prev, (*arena).next);
        if prev.is_null() {
            (*l).buckets[n] = next;
            if next.is_null() {
                (*l).nonempty &= !(1 << n);
            }
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
    }
}

// ---------------------------------------------------------------------------
// The block caches, back to their pools.
// ---------------------------------------------------------------------------

/// `free` of an own block whose class's cache is full: the block goes
/// straight back to its pool. (Flushing half the cache to make room would
/// hand each block twice, cache then pool, in a run of frees: W2 of issue
/// 8, which spent a quarter of its time doing so.) The fast path passes the
/// slot it holds, whose mask names the pool: no class, no table, and none
/// of the fast path's loads again.
///
/// # Safety
///
/// - `slot` is the slot of `block`'s class in the heap that owns it, which
///   the calling thread services; `block` is a live block (with its arena's
///   provenance) given up by the caller.
#[inline(never)]
pub(crate) unsafe extern "C" fn free_cache_full_slow(slot: *const ClassSlot, block: *mut u8) {
    // SAFETY: as the caller guarantees; a block masked by its slot's
    // `pool_mask` is its pool's header.
    unsafe { give_block(ClassSlot::pool_of(slot, block), block.cast()) }
}

/// Gives the `count` oldest blocks of a class's cache back to their pools.
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn flush_cache(heap: *const Heap, class: usize, count: usize) {
    // SAFETY: the cache is the servicing thread's; its blocks are live
    // blocks of `heap`'s pools that nobody uses.
    unsafe {
        let slot = Heap::slot(heap, class);
        let n = (*slot).cached.load(Ordering::Relaxed) as usize;
        let count = count.min(n);
        let cache = ClassSlot::cache(slot);
        for i in 0..count {
            // Cached pointers carry the arena's provenance (see `arena::own`).
            let block = *cache.add(i);
            give_block(pool_of(block, class), block.cast());
        }
        ptr::copy(cache.add(count), cache, n - count);
        (*slot).cached.store((n - count) as u32, Ordering::Relaxed);
    }
}

/// Gives every cached block back to its pool.
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn flush_caches(heap: *const Heap) {
    for class in 0..NUM_CLASSES {
        // SAFETY: as the caller guarantees.
        unsafe { flush_cache(heap, class, usize::MAX) };
    }
}

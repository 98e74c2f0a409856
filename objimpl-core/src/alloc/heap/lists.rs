//! Heap lists: every heap ever made (for the statistics), the free heaps
//! waiting for a new thread, and the orphans, heaps of exited threads with
//! blocks still live, which a running thread reclaims. A heap is acquired
//! from the free list (or made), retired at its thread's exit, reclaimed
//! if orphaned, and recycled once empty.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::super::arena::{self, Arena};
use super::super::fork;
use super::super::size_class::{NUM_CLASSES, POOLS_PER_ARENA};
use super::housekeeping::{forget_housekeeping, housekeeping};
use super::kept::release_empty_arenas;
use super::pools::{bucket_insert, flush_caches, release_idle, release_kept_pool};
use super::remote::{RECLAIMS, STALE_PENDING, drain_pending, take_pending};
use super::{Heap, add, head, local, sub};

/// Every heap ever made, for the statistics.
static ALL_HEAPS: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());

pub(super) struct Lists {
    /// Empty heaps ready for a new thread.
    free: *const Heap,
    /// Heaps of exited threads with live blocks, not yet reclaimed.
    orphans: *const Heap,
}

// SAFETY: the pointers are to heaps, which are `Sync` and never freed.
unsafe impl Send for Lists {}

static LISTS: Mutex<Lists> = Mutex::new(Lists {
    free: ptr::null(),
    orphans: ptr::null(),
});

/// Whether `LISTS.orphans` may be non-empty: checked without the lock.
pub(super) static ORPHANS_WAITING: AtomicBool = AtomicBool::new(false);

pub(super) fn lock_lists() -> MutexGuard<'static, Lists> {
    fork::lock(&LISTS_FORK_STEP, &LISTS)
}

/// The heaps' lists across `fork()`: after the debug hooks' locks, before
/// the arena registry. In the child, the housekeeping that other threads
/// had begun will never end: forgotten, so that the statistics do not wait
/// for it.
static LISTS_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::HeapLists,
    prepare: || fork::hold(&LISTS_HELD, lock_lists()),
    release: || fork::let_go(&LISTS_HELD),
    child: Some(forget_housekeeping),
};

thread_local! {
    static LISTS_HELD: fork::Held<MutexGuard<'static, Lists>> = const { fork::Held::new() };
}

/// A heap for a new thread: a recycled one, or a fresh one from the C library.
pub(super) fn acquire_heap() -> *const Heap {
    {
        let mut lists = lock_lists();
        let heap = lists.free;
        if !heap.is_null() {
            // SAFETY: heaps are never freed; the lock hands this one to the
            // calling thread, which services it from now on.
            unsafe {
                lists.free = (*heap).list_next.load(Ordering::Relaxed);
                if (*local(heap)).nempty != 0 {
                    PARKED_ARENAS.fetch_sub(1, Ordering::Relaxed);
                }
            }
            return heap;
        }
    }
    // SAFETY: malloc has no preconditions; the size is non-zero.
    let heap = unsafe { libc::malloc(size_of::<Heap>()) }.cast::<Heap>();
    if heap.is_null() {
        return heap;
    }
    // The slots learn their heap before it is published.
    // SAFETY: a fresh allocation of the right size; malloc aligns to 16,
    // enough for `Heap`.
    unsafe { Heap::init(heap) };
    let mut first = ALL_HEAPS.load(Ordering::Relaxed);
    loop {
        // SAFETY: `heap` is not published yet.
        unsafe { (*heap).registry_next.store(first, Ordering::Relaxed) };
        match ALL_HEAPS.compare_exchange_weak(first, heap, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return heap,
            Err(now) => first = now,
        }
    }
}

/// Calls `f` on every heap ever made.
pub(crate) fn for_each_heap(mut f: impl FnMut(&Heap)) {
    let mut heap = ALL_HEAPS.load(Ordering::Acquire);
    while !heap.is_null() {
        // SAFETY: heaps are published initialised (Release/Acquire) and never freed.
        let h = unsafe { &*heap };
        f(h);
        heap = h.registry_next.load(Ordering::Relaxed);
    }
}

/// Empty arenas kept by heaps on the free list: at most
/// [`PARKED_ARENAS_MAX`] (4 MiB), so that a thread that starts after
/// another ended gets its heap with an arena ready, instead of mapping one
/// (a program that spawns and joins threads in a loop would otherwise map
/// and unmap an arena per thread).
static PARKED_ARENAS: AtomicUsize = AtomicUsize::new(0);
const PARKED_ARENAS_MAX: usize = 4;

// ---------------------------------------------------------------------------
// Collecting: pending frees, orphans.
// ---------------------------------------------------------------------------

/// The deferred work of the calling thread: take back the blocks other
/// threads freed into `heap`, and reclaim the heaps of exited threads.
/// Each costs one load when there is nothing to do.
///
/// # Safety
///
/// - `heap` is the calling thread's heap.
pub(super) unsafe fn collect(heap: *const Heap) {
    // SAFETY: as the caller guarantees.
    unsafe {
        drain_pending(heap);
        if ORPHANS_WAITING.load(Ordering::Relaxed) {
            reclaim_orphans(heap);
        }
        if STALE_PENDING.load(Ordering::Relaxed) {
            forward_stale();
        }
    }
}

// ---------------------------------------------------------------------------
// Orphans: the heaps of exited threads, reclaimed.
// ---------------------------------------------------------------------------

/// Takes every waiting orphan heap into `heap`: their arenas, their pools
/// and the blocks live in them become `heap`'s, as if `heap` had made them
/// (mimalloc's heaps reclaim abandoned segments the same way), and the
/// orphans, empty now, are recycled for new threads.
///
/// Reclaiming once costs a walk over the arenas; afterwards the orphans
/// cost nothing. (Kept as heaps of their own and serviced on each slow
/// path, 2000 orphans holding one block each made every slow path 100 us
/// slower, and their 2000 arenas could serve nobody.)
///
/// While the arenas change owner, other threads may be freeing their
/// blocks. A free that read the old owner's slot in the slot table sees
/// that it is not its heap's, and so does one that read the new owner's
/// (the reclaiming thread, if it frees, reads what it wrote itself), so
/// every such free takes the remote path: its block goes on the pool's
/// `thread_free` list, and the pool on the `pending` list of whichever
/// owner the free read. A pool queued on the old owner is passed on to the
/// new one by whoever drains the old one's list ([`drain_pending`]); if the
/// old owner is recycled by then, [`forward_stale`] does it.
///
/// # Safety
///
/// - `heap` is the calling thread's heap.
unsafe fn reclaim_orphans(heap: *const Heap) {
    let orphans = {
        let mut lists = lock_lists();
        ORPHANS_WAITING.store(false, Ordering::Relaxed);
        core::mem::replace(&mut lists.orphans, ptr::null())
    };
    if orphans.is_null() {
        return;
    }
    // SAFETY: the orphans were handed to this thread under the lock: it
    // services them now, and `heap`, its own. Heaps are never freed.
    housekeeping(|| unsafe {
        // Each orphan as small as it gets first: what other threads freed
        // into it back in its pools, and its empty pools and arenas given
        // back, all as its own.
        let mut orphan = orphans;
        while !orphan.is_null() {
            drain_pending(orphan);
            release_idle(orphan);
            release_empty_arenas(orphan, 0);
            (*orphan)
                .reclaimer
                .store(heap.cast_mut(), Ordering::Relaxed);
            orphan = (*orphan).list_next.load(Ordering::Relaxed);
        }
        // Every arena of theirs, full ones too (which no list of theirs
        // holds), changes owner in one walk.
        arena::for_each_owned_by(
            |owner| (*owner).reclaimer.load(Ordering::Relaxed) == heap.cast_mut(),
            |arena| Arena::reassign(arena, heap, |class| Heap::class_slot(heap, class)),
        );
        // Counted after the arenas changed owner (Release: a remote free
        // that sees the count sees the new owner) and before the orphans'
        // lists are taken below (a queueing after a take sees the count).
        RECLAIMS.fetch_add(1, Ordering::Release);
        let mut orphan = orphans;
        while !orphan.is_null() {
            let next = (*orphan).list_next.load(Ordering::Relaxed);
            (*orphan)
                .reclaimer
                .store(ptr::null_mut(), Ordering::Relaxed);
            take_over(heap, orphan);
            // Pools queued on it after its drain above go on to `heap`. A
            // queueing after this exchange sees `RECLAIMS` moved (both are
            // AcqRel on the list) and tells `forward_stale`.
            take_pending(orphan);
            recycle(orphan);
            orphan = next;
        }
        drain_pending(heap);
    });
}

/// Moves the lists of `orphan`, whose arenas `heap` owns now, into `heap`:
/// the arenas with free pools into its buckets, the usable pools of each
/// class behind its first one, and the counts. `orphan` is left empty.
///
/// # Safety
///
/// - the calling thread services both heaps; every arena of `orphan` was
///   reassigned to `heap`; `orphan` keeps no empty arena and no empty pool.
unsafe fn take_over(heap: *const Heap, orphan: *const Heap) {
    // SAFETY: as the caller guarantees; listed pools and arenas are live.
    unsafe {
        let (l, o) = (local(heap), local(orphan));
        for n in 1..POOLS_PER_ARENA {
            let mut arena = (*o).buckets[n];
            while !arena.is_null() {
                let next = (*arena).next;
                bucket_insert(l, arena);
                arena = next;
            }
            (*o).buckets[n] = ptr::null_mut();
        }
        (*o).nonempty = 0;
        for class in 0..NUM_CLASSES {
            let first = ptr::replace(head(orphan, class), ptr::null_mut());
            if first.is_null() {
                continue;
            }
            let mut last = first;
            while !(*last).next.is_null() {
                last = (*last).next;
            }
            // The kept empty pool would no longer be alone: let it go.
            release_kept_pool(heap, class);
            let mine = *head(heap, class);
            if mine.is_null() {
                *head(heap, class) = first;
            } else {
                // Behind `heap`'s first pool, the one it allocates from.
                let after = (*mine).next;
                (*mine).next = first;
                (*first).prev = mine;
                (*last).next = after;
                if !after.is_null() {
                    (*after).prev = last;
                }
            }
        }
        (*l).pools_in_use += core::mem::replace(&mut (*o).pools_in_use, 0);
        let unused = (*orphan).unused_pools.load(Ordering::Relaxed);
        sub(&(*orphan).unused_pools, unused);
        add(&(*heap).unused_pools, unused);
    }
}

/// Passes on the pools queued on recycled heaps, which no thread services
/// (the others drain their lists themselves), to their arenas' owners.
fn forward_stale() {
    // Acquire, paired with the Release of the free that set it: its pool
    // is on a `pending` list now.
    if !STALE_PENDING.swap(false, Ordering::Acquire) {
        return;
    }
    let lists = lock_lists();
    let mut free = lists.free;
    while !free.is_null() {
        // A free heap owns no pool, so `drain_pending` passes every queued
        // one on, touching nothing but atomics.
        // SAFETY: the lock hands the free heaps to this thread.
        unsafe {
            drain_pending(free);
            free = (*free).list_next.load(Ordering::Relaxed);
        }
    }
}

/// Puts an empty heap on the free list, with its empty arena if fewer than
/// [`PARKED_ARENAS_MAX`] are kept so.
///
/// # Safety
///
/// - the calling thread services `heap`, which has no pool and is on no list.
unsafe fn recycle(heap: *const Heap) {
    // SAFETY: the caller services `heap` until it is on the free list.
    unsafe {
        // One arena at most goes with the heap.
        release_empty_arenas(heap, 1);
        let keeps_arena = (*local(heap)).nempty != 0;
        let parked = keeps_arena
            && PARKED_ARENAS
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < PARKED_ARENAS_MAX).then_some(n + 1)
                })
                .is_ok();
        if keeps_arena && !parked {
            release_empty_arenas(heap, 0);
        }
        // The arenas given back were its last thread's: the next one has
        // shown no reuse yet, and maps its arenas lazily, as a fresh heap.
        (*local(heap)).arenas_returned = 0;
    }
    let mut lists = lock_lists();
    // SAFETY: heaps are never freed; the lock hands the heap over.
    unsafe {
        (*heap)
            .list_next
            .store(lists.free.cast_mut(), Ordering::Relaxed)
    };
    lists.free = heap;
}

/// The exit hook's work: collect, let go of idle memory, and hand the heap
/// to the free list, or, with blocks still live, to the orphan list, for a
/// running thread to reclaim.
///
/// # Safety
///
/// - `heap` was the calling thread's heap, and is nobody's now.
pub(super) unsafe fn retire(heap: *const Heap) {
    // SAFETY: this thread services `heap` until it hands it over under the
    // lock.
    unsafe {
        flush_caches(heap);
        drain_pending(heap);
        release_idle(heap);
        if (*local(heap)).pools_in_use == 0 {
            return recycle(heap);
        }
        release_empty_arenas(heap, 0);
        let mut lists = lock_lists();
        (*heap)
            .list_next
            .store(lists.orphans.cast_mut(), Ordering::Relaxed);
        lists.orphans = heap;
        ORPHANS_WAITING.store(true, Ordering::Relaxed);
    }
}

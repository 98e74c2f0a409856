//! Thread-local heaps: what a heap is, and the rooms that work on it.
//!
//! A [`Heap`] is what one thread allocates from: per size class the list of
//! its usable pools and a small cache of blocks it freed ([`ClassSlot`]),
//! its arenas bucketed by free-pool count, the wholly free arenas it keeps a
//! while, and the atomic `pending` list on which other threads queue pools
//! holding blocks they freed. See `pool.rs` for the whole picture.
//!
//! Heaps come from the C library and are never freed: a heap whose thread
//! exited with blocks still live is an orphan until a running thread
//! reclaims it (takes its arenas and pools into its own heap, as mimalloc's
//! heaps reclaim abandoned segments), and then it is recycled for a new
//! thread. So a pointer to a heap, once read from an arena, can always be
//! followed.
//!
//! This file holds the record itself and its block caches, which the fast
//! paths reach without a call. The rooms, each calling only the ones listed
//! before it (and the floors below the heaps):
//!
//! - `housekeeping`: the counters that let the statistics tell a snapshot
//!   taken across a heap's housekeeping;
//! - `kept`: the wholly free arenas a heap keeps, and their purge clock;
//! - `pools`: taking a block from a usable pool and giving one back, and the
//!   lists that pools and arenas move on as they fill, refill and empty;
//! - `remote`: blocks freed by other threads, and the pending queue;
//! - `lists`: every heap, the free heaps and the orphans (acquire, reclaim,
//!   take over, recycle, retire);
//! - `thread`: each thread's heap (the thread-local, its exit hook), and the
//!   slow path of `malloc` that makes it.
//!
//! The slow paths that the fast paths call (`*_slow`) are `extern "C"`:
//! they never unwind, and saying so lets a C entry point, which must not
//! let a panic out, call them as tail calls, with no landing pad and no
//! registers saved for one.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use super::arena::Arena;
use super::asan;
use super::fatal::invariant;
use super::pool::Pool;
use super::size_class::{
    FIRST_MEDIUM_CLASS, MEDIUM_CLASSES, NUM_CLASSES, POOLS_PER_ARENA, class_size, pool_bytes,
};

mod housekeeping;
mod kept;
mod lists;
mod pools;
mod remote;
mod thread;

#[cfg(test)]
pub(crate) use housekeeping::as_housekeeping;
pub(crate) use housekeeping::{no_housekeeping_since, quiet_mark};
pub(crate) use lists::for_each_heap;
pub(crate) use pools::{free_cache_full_slow, take_block};
pub(crate) use remote::free_remote_slow;
pub(crate) use thread::{
    ThisThread, collect_current, current, malloc_serialized_slow, release_free_memory,
    retire_serialized,
};

/// Who services the heap a fast path works on, and so may touch its
/// servicer-only state: the calling thread, for its own heap
/// ([`ThisThread`]), or whoever holds the lock that every caller of a
/// [`SerializedHeap`](super::SerializedHeap) takes.
///
/// # Safety
///
/// An implementation's [`heap`](Servicer::heap) is null or a live heap that
/// is used only through this servicer while it is (so that a caller who
/// services it is the only one touching its servicer-only state), and its
/// [`malloc_slow`](Servicer::malloc_slow) serves a request of the class from
/// that heap (made if it was null) or the C library.
pub(crate) unsafe trait Servicer: Copy {
    /// The heap, or null if there is none (yet): the slow path makes it.
    fn heap(self) -> *const Heap;

    /// `malloc`'s slow path: a block of `class`, for a request of `size`.
    ///
    /// # Safety
    ///
    /// - The caller services the heap (for [`ThisThread`], always true).
    unsafe fn malloc_slow(self, class: usize, size: usize) -> *mut u8;
}

/// One thread's heap. Fields in `local` (and each class's `pool`) are touched
/// only by the thread servicing the heap: its owner, or after the owner
/// exited, the thread that reclaims it (hand-overs go through `lists::LISTS`'s
/// lock); a [`SerializedHeap`](super::SerializedHeap)'s heap, whichever
/// caller holds the lock its callers serialize on. The atomics may be
/// touched by any thread.
///
/// `repr(C)`, the small classes' slots first: the fast paths then reach a
/// slot at the heap's address plus a multiple of 544, with no offset to add.
#[repr(C)]
pub(crate) struct Heap {
    /// The small classes' slots, each with room for [`SMALL_CACHE_SLOTS`]
    /// blocks; reached through [`Heap::slot`].
    small: [CachedSlot<SMALL_CACHE_SLOTS>; FIRST_MEDIUM_CLASS],
    /// The medium classes', with room for [`MEDIUM_CACHE_SLOTS`]: their
    /// caches keep at most 8 blocks, and 56 caches of 64 entries would make
    /// every heap 25 KiB larger (and as much more resident: the slots' fields
    /// are written as the heap is made).
    medium: [CachedSlot<MEDIUM_CACHE_SLOTS>; MEDIUM_CLASSES],
    pub(super) local: UnsafeCell<Local>,
    /// Pools with blocks freed by other threads, linked through
    /// `Pool::pending_next`; pushed by anyone, taken whole by the servicer.
    pub(super) pending: AtomicPtr<Pool>,
    /// Free pools in this heap's arenas, for the statistics.
    pub(super) unused_pools: AtomicUsize,
    /// Next in the list of every heap ever made (push-only).
    pub(super) registry_next: AtomicPtr<Heap>,
    /// Next in the orphan list or the free list.
    pub(super) list_next: AtomicPtr<Heap>,
    /// The heap reclaiming this orphan, while it does, for its walk over
    /// the arenas; null otherwise. A heap, not a flag: two threads may be
    /// reclaiming orphans at once (each its own), and a forked child may
    /// find a reclaim half done by a thread it does not have.
    pub(super) reclaimer: AtomicPtr<Heap>,
}

/// One size class of a heap. The counters are written by the servicing
/// thread alone (plain load + store) and read by [`stats`](super::stats()).
///
/// An arena records, for each pool in use, the owner's slot of the pool's
/// class, so that `free` reaches the slot (and through it the owner) with
/// one load and no arithmetic.
///
/// Right after the slot, in its [`CachedSlot`], lies its cache: blocks this
/// thread freed, kept for its next `malloc`s of the class. A stack of
/// pointers, so neither `free` nor `malloc` touches the block or its pool
/// while it is here; to their pools they are still handed out. The first
/// `cached` entries are set; the rest are never read, and stay unwritten
/// until a block goes there. The cache is reached
/// from a slot pointer with the heap's provenance ([`ClassSlot::cache`]),
/// never through a reference to the slot, which would not cover it.
#[repr(C)]
pub(crate) struct ClassSlot {
    /// How many blocks `cache` holds. Written by the servicing thread alone
    /// (plain load + store, as the counters below); read by the heap map.
    pub(super) cached: AtomicU32,
    /// How many it may hold: `CACHE_LIMITS[class]`, kept here, beside
    /// `cached`, for `free`'s fast path.
    limit: u32,
    /// The heap this slot is part of: `free` compares it with the thread's.
    /// Written once, before the heap is published.
    heap: *const Heap,
    /// First usable pool; null if none.
    pool: UnsafeCell<*mut Pool>,
    /// `!(pool_bytes(class) - 1)`: a block's address masked by it is its
    /// pool's, so that a `free` that finds the cache full reaches the pool
    /// from the slot it holds, without the class.
    pool_mask: usize,
}

/// A class's slot, then its cache: room for `N` blocks.
#[repr(C)]
struct CachedSlot<const N: usize> {
    slot: ClassSlot,
    cache: UnsafeCell<[MaybeUninit<*mut u8>; N]>,
}

/// Room in each small class's block cache.
const SMALL_CACHE_SLOTS: usize = 64;
/// Room in each medium class's.
const MEDIUM_CACHE_SLOTS: usize = 8;

// The slot's counters and links, then the cache, at the slot's end: 544 and
// 96 bytes, multiples of 32, which the fast paths index by shifts and adds.
static_assertions::const_assert_eq!(size_of::<ClassSlot>(), 32);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(CachedSlot<SMALL_CACHE_SLOTS>, cache),
    size_of::<ClassSlot>()
);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(CachedSlot<MEDIUM_CACHE_SLOTS>, cache),
    size_of::<ClassSlot>()
);
static_assertions::const_assert_eq!(size_of::<CachedSlot<SMALL_CACHE_SLOTS>>() % 32, 0);
static_assertions::const_assert_eq!(size_of::<CachedSlot<MEDIUM_CACHE_SLOTS>>() % 32, 0);

/// How many blocks each class's cache keeps: for the small classes about
/// 8 KiB of blocks, at least 16 and at most [`SMALL_CACHE_SLOTS`]; for the
/// medium ones about 16 KiB, at least 1 and at most [`MEDIUM_CACHE_SLOTS`],
/// so that an idle thread's caches hold at most about half a megabyte (the
/// purger does not reach them).
const CACHE_LIMITS: [usize; NUM_CLASSES] = {
    let mut limits = [0; NUM_CLASSES];
    let mut class = 0;
    while class < NUM_CLASSES {
        let (budget, least, most) = if class < FIRST_MEDIUM_CLASS {
            (8192, 16, SMALL_CACHE_SLOTS)
        } else {
            (16384, 1, MEDIUM_CACHE_SLOTS)
        };
        let by_bytes = budget / class_size(class);
        limits[class] = if by_bytes < least {
            least
        } else if by_bytes > most {
            most
        } else {
            by_bytes
        };
        class += 1;
    }
    limits
};

// Each class's cache has room for what it keeps.
static_assertions::const_assert!({
    let mut fits = true;
    let mut class = 0;
    while class < NUM_CLASSES {
        let room = if class < FIRST_MEDIUM_CLASS {
            SMALL_CACHE_SLOTS
        } else {
            MEDIUM_CACHE_SLOTS
        };
        fits &= CACHE_LIMITS[class] <= room;
        class += 1;
    }
    fits
});

pub(super) struct Local {
    /// `buckets[n]`: arenas with `n` free pools, `0 < n < POOLS_PER_ARENA`,
    /// linked through `Arena::{prev, next}`.
    pub(super) buckets: [*mut Arena; POOLS_PER_ARENA],
    /// Bit `n` set iff `buckets[n]` is not empty.
    pub(super) nonempty: u64,
    /// Wholly free arenas kept for the next pools, oldest first: the first
    /// `nempty` entries. See [`keep_empty`](kept::keep_empty).
    pub(super) empties: [*mut Arena; KEPT_EMPTY_MAX],
    pub(super) nempty: usize,
    /// Pools of any class in use (on a usable list or full).
    pub(super) pools_in_use: usize,
    /// Arenas this heap gave back to the OS since its thread took it. Once
    /// it has given one back, its new arenas are populated at once: it is
    /// reusing memory. Reset when the heap is recycled.
    pub(super) arenas_returned: usize,
}

/// How many wholly free arenas a heap keeps for its next pools (8 MiB).
pub(super) const KEPT_EMPTY_MAX: usize = 8;

// SAFETY: the non-atomic state is touched only by the heap's servicing
// thread, and servicing moves between threads only through `LISTS`' lock.
unsafe impl Sync for Heap {}

impl Heap {
    /// Makes `heap` a fresh heap, field by field in place: a `Heap` built on
    /// the stack and moved would take 23 KiB of the new thread's stack, and
    /// the caches need no writing before a block is cached.
    ///
    /// # Safety
    ///
    /// - `heap` is valid for writes of a `Heap` and aligned for it; nothing
    ///   else uses it yet.
    pub(super) unsafe fn init(heap: *mut Heap) {
        // SAFETY: as the caller guarantees; each field is written once,
        // through raw pointers, before anything reads it.
        unsafe {
            for class in 0..NUM_CLASSES {
                ClassSlot::init(Heap::slot(heap, class).cast_mut(), heap, class);
            }
            (&raw mut (*heap).local).write(UnsafeCell::new(Local {
                buckets: [ptr::null_mut(); POOLS_PER_ARENA],
                nonempty: 0,
                empties: [ptr::null_mut(); KEPT_EMPTY_MAX],
                nempty: 0,
                pools_in_use: 0,
                arenas_returned: 0,
            }));
            (&raw mut (*heap).pending).write(AtomicPtr::new(ptr::null_mut()));
            (&raw mut (*heap).unused_pools).write(AtomicUsize::new(0));
            (&raw mut (*heap).registry_next).write(AtomicPtr::new(ptr::null_mut()));
            (&raw mut (*heap).list_next).write(AtomicPtr::new(ptr::null_mut()));
            (&raw mut (*heap).reclaimer).write(AtomicPtr::new(ptr::null_mut()));
        }
    }

    /// The slot of `class`, without a bounds check on the fast paths: a
    /// pointer with `heap`'s provenance, which reaches the slot's cache too.
    /// (Where the class is known at compile time, so is the array it is in.)
    ///
    /// # Safety
    ///
    /// - `heap` is live; `class < NUM_CLASSES`.
    #[inline(always)]
    pub(crate) unsafe fn slot(heap: *const Heap, class: usize) -> *const ClassSlot {
        invariant!(class < NUM_CLASSES, "no size class {class}");
        // SAFETY: heaps are never freed; the class is in bounds of its
        // array. `CachedSlot` is `repr(C)`, its slot first.
        unsafe {
            if class < FIRST_MEDIUM_CLASS {
                (&raw const (*heap).small)
                    .cast::<CachedSlot<SMALL_CACHE_SLOTS>>()
                    .add(class)
                    .cast()
            } else {
                (&raw const (*heap).medium)
                    .cast::<CachedSlot<MEDIUM_CACHE_SLOTS>>()
                    .add(class - FIRST_MEDIUM_CLASS)
                    .cast()
            }
        }
    }

    /// The slot of `class` of `heap`, for an arena's slot table.
    ///
    /// # Safety
    ///
    /// - `heap` is live; `class < NUM_CLASSES`.
    pub(crate) unsafe fn class_slot(heap: *const Heap, class: usize) -> *const ClassSlot {
        // SAFETY: as the caller guarantees.
        unsafe { Heap::slot(heap, class) }
    }

    /// The first usable pool of `class`, or null.
    ///
    /// # Safety
    ///
    /// - `heap` is live and serviced by the calling thread.
    #[inline(always)]
    pub(crate) unsafe fn usable_pool(heap: *const Heap, class: usize) -> *mut Pool {
        // SAFETY: only the servicing thread touches the class's pool head.
        unsafe { *(*Heap::slot(heap, class)).pool.get() }
    }

    /// Pops a block from the class's cache; null if it is empty.
    ///
    /// # Safety
    ///
    /// - `heap` is live and serviced by the calling thread.
    #[inline(always)]
    pub(crate) unsafe fn pop_cached(heap: *const Heap, class: usize) -> *mut u8 {
        // SAFETY: only the servicing thread touches the cache, whose first
        // `cached <= limit` entries are set, to blocks.
        unsafe {
            let slot = Heap::slot(heap, class);
            let n = (*slot).cached.load(Ordering::Relaxed);
            if n == 0 {
                return ptr::null_mut();
            }
            (*slot).cached.store(n - 1, Ordering::Relaxed);
            let p = *ClassSlot::cache(slot).add(n as usize - 1);
            // Cached blocks are never null: the caller's test of the result
            // then folds into the test of `n`.
            core::hint::assert_unchecked(!p.is_null());
            asan::unpoison(p, class_size(class));
            p
        }
    }
}

impl Heap {
    /// Blocks of `class` in this heap's block cache: to their pools they
    /// are handed out, to the statistics they are not in use.
    pub(crate) fn cached(&self, class: usize) -> usize {
        assert!(class < NUM_CLASSES, "no size class {class}");
        // SAFETY: the heap is live while borrowed; the class is in bounds.
        unsafe { (*Heap::slot(self, class)).cached.load(Ordering::Relaxed) as usize }
    }

    /// Free pools in this heap's arenas.
    pub(crate) fn unused_pools(&self) -> usize {
        self.unused_pools.load(Ordering::Relaxed)
    }
}

impl ClassSlot {
    /// Makes `slot` an empty slot of `heap` whose cache holds up to `limit`
    /// blocks, writing every field but the cache's entries.
    ///
    /// # Safety
    ///
    /// - `slot` is valid for writes of a `ClassSlot`, aligned, and unused.
    unsafe fn init(slot: *mut ClassSlot, heap: *const Heap, class: usize) {
        // SAFETY: as the caller guarantees; `MaybeUninit` entries need no
        // value, so the cache is left as it is.
        unsafe {
            (&raw mut (*slot).cached).write(AtomicU32::new(0));
            (&raw mut (*slot).limit).write(CACHE_LIMITS[class] as u32);
            (&raw mut (*slot).heap).write(heap);
            (&raw mut (*slot).pool).write(UnsafeCell::new(ptr::null_mut()));
            (&raw mut (*slot).pool_mask).write(!(pool_bytes(class) - 1));
        }
    }

    /// The heap this slot is part of.
    ///
    /// # Safety
    ///
    /// - `slot` is the slot of a live heap (heaps are never freed).
    #[inline(always)]
    pub(crate) unsafe fn heap(slot: *const ClassSlot) -> *const Heap {
        // SAFETY: written before the heap was published, never again.
        unsafe { (*slot).heap }
    }

    /// The slot's size class, for the slow paths that come with a block
    /// and its slot (a medium class's pool is found from the block by its
    /// size): its place in its heap's slots. Not a field: the fast paths
    /// compare the cache's count with `limit` in memory, and index the
    /// slots by shifts (544 and 96 bytes each).
    ///
    /// # Safety
    ///
    /// - `slot` is the slot of a live heap.
    pub(crate) unsafe fn class(slot: *const ClassSlot) -> usize {
        // SAFETY: as the caller guarantees; `heap` was written before the
        // heap was published, and `slot` lies in its `small` or `medium`.
        let heap = unsafe { (*slot).heap };
        // SAFETY: heaps are never freed.
        let small = unsafe { &raw const (*heap).small };
        let offset = slot.addr().wrapping_sub(small.addr());
        if offset < size_of::<[CachedSlot<SMALL_CACHE_SLOTS>; FIRST_MEDIUM_CLASS]>() {
            return offset / size_of::<CachedSlot<SMALL_CACHE_SLOTS>>();
        }
        // SAFETY: as above.
        let medium = unsafe { &raw const (*heap).medium };
        FIRST_MEDIUM_CLASS
            + (slot.addr() - medium.addr()) / size_of::<CachedSlot<MEDIUM_CACHE_SLOTS>>()
    }

    /// The first entry of the slot's cache, which follows it in its
    /// [`CachedSlot`].
    ///
    /// # Safety
    ///
    /// - `slot` came from [`Heap::slot`] (with its heap's provenance).
    #[inline(always)]
    pub(super) unsafe fn cache(slot: *const ClassSlot) -> *mut *mut u8 {
        // `CachedSlot` is `repr(C)`, its cache right after the slot (asserted
        // above), an `UnsafeCell`.
        // SAFETY: in bounds of the `CachedSlot`, which `slot`'s provenance covers.
        unsafe { slot.add(1).cast::<*mut u8>().cast_mut() }
    }

    /// The pool holding `block`, a block of the slot's class.
    ///
    /// # Safety
    ///
    /// - `slot` is the slot of a live heap.
    #[inline(always)]
    pub(crate) unsafe fn pool_of(slot: *const ClassSlot, block: *mut u8) -> *mut Pool {
        // SAFETY: written before the heap was published, never again.
        let mask = unsafe { (*slot).pool_mask };
        block.map_addr(|a| a & mask).cast()
    }

    /// Whether `p` is in the slot's cache: freed already (a check of debug
    /// builds: at most the cache's room in compares).
    ///
    /// # Safety
    ///
    /// - `slot`'s heap is serviced by the calling thread.
    pub(crate) unsafe fn is_cached(slot: *const ClassSlot, p: *mut u8) -> bool {
        // SAFETY: only the servicing thread touches the cache, whose first
        // `cached` entries are set.
        unsafe {
            let n = (*slot).cached.load(Ordering::Relaxed) as usize;
            let cache = ClassSlot::cache(slot);
            (0..n).any(|i| *cache.add(i) == p)
        }
    }

    /// Pushes a freed block on the slot's cache; false (and nothing done) if
    /// the cache is full.
    ///
    /// # Safety
    ///
    /// - `slot`'s heap is serviced by the calling thread and owns `p`, a
    ///   block of the slot's class given up by the caller.
    #[inline(always)]
    pub(crate) unsafe fn push_cached(slot: *const ClassSlot, p: *mut u8) -> bool {
        // SAFETY: only the servicing thread touches the cache; `limit` is
        // at most the cache's room, so entry `n < limit` is in bounds.
        unsafe {
            let n = (*slot).cached.load(Ordering::Relaxed);
            if n >= (*slot).limit {
                return false;
            }
            *ClassSlot::cache(slot).add(n as usize) = p;
            (*slot).cached.store(n + 1, Ordering::Relaxed);
            true
        }
    }
}

/// Raw access to the servicer-only state.
///
/// # Safety
///
/// - `heap` is live and serviced by the calling thread; the result is used
///   only for field accesses that do not outlive the caller's exclusivity.
#[inline(always)]
pub(super) unsafe fn local(heap: *const Heap) -> *mut Local {
    // SAFETY: heaps are never freed.
    unsafe { (*heap).local.get() }
}

/// Raw access to a class's usable-list head.
///
/// # Safety
///
/// As [`local`].
#[inline(always)]
pub(super) unsafe fn head(heap: *const Heap, class: usize) -> *mut *mut Pool {
    // SAFETY: heaps are never freed.
    unsafe { (*Heap::slot(heap, class)).pool.get() }
}

/// `counter += n` by its one writer: a plain load and store.
#[inline(always)]
pub(super) fn add(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// `counter -= n` by its one writer.
#[inline(always)]
pub(super) fn sub(counter: &AtomicUsize, n: usize) {
    let value = counter.load(Ordering::Relaxed);
    invariant!(
        value >= n,
        "a count of pools went below zero ({value} - {n})"
    );
    counter.store(value.wrapping_sub(n), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::super::free::free;
    use super::super::malloc::malloc_in;
    use super::super::pool::pool_of;
    use super::*;

    /// Every class's slot knows its class, and its cache (with room for
    /// the class's limit) ends before the next slot begins: the two arrays'
    /// index rules agree with `ClassSlot::class` and with each other.
    #[test]
    fn every_slot_knows_its_class_and_its_cache_overlaps_no_other_slot() {
        // The thread's first block makes its heap.
        let block = malloc_in(0, 16);
        let heap = current();
        assert!(!heap.is_null(), "the test thread has a heap");
        let room = |class: usize| {
            if class < FIRST_MEDIUM_CLASS {
                SMALL_CACHE_SLOTS
            } else {
                MEDIUM_CACHE_SLOTS
            }
        };
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (class, &limit) in CACHE_LIMITS.iter().enumerate() {
            // SAFETY: the thread's heap, live while it runs; a class.
            let slot = unsafe { Heap::slot(heap, class) };
            // SAFETY: as above.
            assert_eq!(unsafe { ClassSlot::class(slot) }, class);
            // SAFETY: as above.
            let cache = unsafe { ClassSlot::cache(slot) };
            assert_eq!(cache.addr(), slot.addr() + size_of::<ClassSlot>());
            assert!(limit <= room(class), "class {class}");
            spans.push((slot.addr(), cache.addr() + room(class) * 8));
        }
        spans.sort_unstable();
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "{pair:x?}");
        }
        let heap_span = heap.addr()..heap.addr() + size_of::<Heap>();
        assert!(
            spans
                .iter()
                .all(|&(start, end)| heap_span.contains(&start) && end <= heap_span.end)
        );
        // The medium classes' short caches keep the record small.
        assert!(size_of::<Heap>() < 24 * 1024, "{} bytes", size_of::<Heap>());
        // SAFETY: from `malloc_in` above, freed once.
        unsafe { free(block) };
    }

    /// Frees past a full cache go straight to their pools, found through the
    /// slot's mask: for every class, small and medium, the mask names the
    /// pool the class's geometry does, the cache ends full, and the pools
    /// count exactly the cached blocks as handed out.
    #[test]
    fn frees_past_a_full_cache_go_back_to_their_own_pools() {
        // A fresh thread: a heap of its own, with empty caches.
        std::thread::spawn(|| {
            let classes = if cfg!(miri) {
                vec![0, 3, FIRST_MEDIUM_CLASS, NUM_CLASSES - 1]
            } else {
                (0..NUM_CLASSES).collect()
            };
            for class in classes {
                let size = class_size(class);
                let limit = CACHE_LIMITS[class];
                let blocks: Vec<*mut u8> = (0..limit + 3).map(|_| malloc_in(class, size)).collect();
                let heap = current();
                // SAFETY: the heap is this thread's, live while it runs.
                let slot = unsafe { Heap::slot(heap, class) };
                let mut pools: Vec<*mut Pool> = Vec::new();
                for &block in &blocks {
                    assert!(!block.is_null(), "class {class}: out of memory");
                    // SAFETY: `slot` is the slot of this thread's live heap.
                    let by_mask = unsafe { ClassSlot::pool_of(slot, block) };
                    assert_eq!(by_mask, pool_of(block, class), "class {class}");
                    if !pools.contains(&by_mask) {
                        pools.push(by_mask);
                    }
                }
                // The pools may hold blocks of other tests too (an orphan
                // this thread reclaimed): what counts is what the frees
                // took off their counts.
                let counted = || -> usize {
                    pools
                        .iter()
                        // SAFETY: in use (they hold this thread's blocks); their
                        // counts are this thread's to read.
                        .map(|&pool| unsafe { (*pool).count.load(Ordering::Relaxed) } as usize)
                        .sum()
                };
                let before = counted();
                for &block in &blocks {
                    // SAFETY: each block came from `malloc_in` above, once.
                    unsafe { free(block) };
                }
                // SAFETY: heaps are never freed.
                let cached = unsafe { &*heap }.cached(class);
                assert_eq!(cached, limit, "class {class}");
                assert_eq!(
                    before - counted(),
                    blocks.len() - limit,
                    "class {class}: the frees past the cache went back to their pools"
                );
            }
        })
        .join()
        .unwrap();
    }
}

//! Arenas: 1 MiB of address space from the OS, cut into 64 pool slots. A
//! pool takes one slot, or for a medium class an aligned run of them.
//!
//! An arena belongs to one heap at a time, so the owner of a block is the
//! owner of its arena, found through the [arena map](super::arena_map)
//! without touching the block. It changes owner once its heap's thread has
//! exited, when a running thread reclaims the orphan ([`Arena::reassign`]). The metadata lives outside the arena (in the C
//! library's heap), so all 64 pools are usable and nothing is lost to
//! alignment.
//!
//! Every live arena is on the [`REGISTRY`] list, linked in when it is
//! created and out before it is unmapped, under the list's lock. The heap
//! map holds that lock (through [`Held`]) while it reads other threads'
//! arenas, so none is unmapped under it. Both are rare: an arena is 1 MiB
//! of `mmap`.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::arena_map;
use super::fatal::invariant;
use super::fork;
// The one name this floor takes from the floor above: an arena records its
// owning heap, and for each pool in use the owner's slot of its class (the
// slot table), while a heap lists its arenas, so the types refer to each
// other. Here they are only stored, compared and handed back, never read
// through nor called: the heap hands its slots down (`Arena::reassign`).
use super::heap::{ClassSlot, Heap};
use super::os;
use super::pool::{POOL_OVERHEAD, Pool, SLOT_TABLE_BYTES, pool_index};
use super::size_class::{ARENA_SIZE, NUM_CLASSES, POOL_SIZE, POOLS_PER_ARENA, pool_slots};

/// Arenas ever taken from the OS (`# arenas allocated total`).
pub(crate) static ALLOCATED_TOTAL: AtomicUsize = AtomicUsize::new(0);
/// Arenas given back to the OS (`# arenas reclaimed`).
pub(crate) static RECLAIMED: AtomicUsize = AtomicUsize::new(0);
/// The most arenas held at once (`# arenas highwater mark`).
pub(crate) static HIGHWATER: AtomicUsize = AtomicUsize::new(0);
/// Arenas with free pools whose pages may be resident
/// ([`Arena::resident_free`] not zero), for the purger.
pub(crate) static RESIDENT_FREE_ARENAS: AtomicUsize = AtomicUsize::new(0);

/// Every live arena, linked through `Arena::{registry_prev, registry_next}`.
/// Its lock is held while an arena is linked in (with the counters above),
/// while one is linked out and unmapped, and while the heap map reads the
/// arenas. A std mutex: it never allocates, and on Linux an uncontended lock
/// is one atomic exchange, nothing beside the `mmap` it guards.
///
/// A list rather than a scan of the arena map, which holds the same arenas:
/// the walk costs one step per arena, not one per entry of the map's root
/// and leaves (32 Ki of them, which take Miri minutes).
static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    first: ptr::null_mut(),
});

struct Registry {
    first: *mut Arena,
}

// SAFETY: the arenas on the list are reached only under the mutex.
unsafe impl Send for Registry {}

fn lock_registry() -> MutexGuard<'static, Registry> {
    fork::lock(&REGISTRY_FORK_STEP, &REGISTRY)
}

/// The arena registry across `fork()`: the last lock of the order.
static REGISTRY_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::ArenaRegistry,
    prepare: || fork::hold(&REGISTRY_HELD, lock_registry()),
    release: || fork::let_go(&REGISTRY_HELD),
    child: None,
};

thread_local! {
    static REGISTRY_HELD: fork::Held<MutexGuard<'static, Registry>> = const { fork::Held::new() };
}

/// [`Arena::purge_state`]s, which [`purge`](super::purge) changes: in use
/// (or on no heap's kept list), ...
pub(crate) const IN_USE: u8 = 0;
/// ... kept wholly free by its heap, its pages resident, ...
pub(crate) const KEPT: u8 = 1;
/// ... being decommitted by the purger, ...
pub(crate) const PURGING: u8 = 2;
/// ... or kept, its pages given back.
pub(crate) const PURGED: u8 = 3;

/// [`Arena::pool_classes`] of a slot that a pool of class `c` spans, after
/// its first: `SPANNED | c`. Its memory is the pool's blocks, no header.
pub(crate) const SPANNED: u8 = 0x80;
/// [`Arena::pool_classes`] of a pool given back to its arena.
pub(crate) const POOL_FREE: u8 = 0xFE;
/// [`Arena::pool_classes`] of a pool never carved: its pages are untouched.
pub(crate) const POOL_UNTOUCHED: u8 = 0xFF;

static_assertions::const_assert!(NUM_CLASSES <= SPANNED as usize);
static_assertions::const_assert!((SPANNED as usize | NUM_CLASSES) < POOL_FREE as usize);
// The pools lay their blocks out after the slot table, sized in `pool.rs`.
static_assertions::const_assert_eq!(
    SLOT_TABLE_BYTES,
    POOLS_PER_ARENA * size_of::<AtomicPtr<ClassSlot>>()
);

/// The metadata of one arena. Every field but `heap`, `base`,
/// `pool_classes`, the registry's links and the purger's (the atomics after
/// `free`, `purge_state`, `emptied_at`) is touched only by the thread that
/// services the owning heap.
///
/// An arena belongs to one heap at a time: the heap that made it, until
/// that heap's thread exits with blocks still live in it; then the heap
/// that reclaims the orphan ([`Arena::reassign`]).
pub(crate) struct Arena {
    /// The arena's memory, with provenance over all of it.
    pub(crate) base: *mut u8,
    /// The owning heap. Read by any thread; changed only by
    /// [`Arena::reassign`].
    heap: AtomicPtr<Heap>,
    /// Pools not in use: given back or never used.
    pub(crate) nfree: usize,
    /// The same pools, bit `i` for pool `i` (at `base + i * POOL_SIZE`).
    /// A mask, not a list linked through the pools, so that their pages can
    /// go back to the OS while they are free.
    free: u64,
    /// The free pools whose pages may be resident: given back since they
    /// were last purged. Taken first, as their pages fault in no more. The
    /// heap sets bits as it gives pools back and clears them as it takes
    /// them; the purger clears those it decommits ([`Arena::claim_idle_pools`]).
    resident_free: AtomicU64,
    /// The pools the purger is decommitting now: the heap waits for a pool
    /// of these before it uses it.
    purging: AtomicU64,
    /// Pools given back so far: the purger purges an arena's free pools
    /// once this has stood still for the purge delay. Written by the heap
    /// alone.
    gives: AtomicUsize,
    /// The purger's own (under its lock): `gives` as it last saw it, and when.
    seen_gives: usize,
    seen_at: u64,
    /// Links of the heap's bucket of arenas with the same `nfree`.
    pub(crate) prev: *mut Arena,
    pub(crate) next: *mut Arena,
    /// The size class of each pool in use, by its first slot, for the heap
    /// map and the statistics; [`SPANNED`] for its other slots,
    /// [`POOL_FREE`] or [`POOL_UNTOUCHED`] for a slot not in use. Written by the servicing
    /// thread alone, with plain stores (the same `mov` as a `u8`); atomic
    /// because the heap map reads it from any thread.
    pool_classes: [AtomicU8; POOLS_PER_ARENA],
    /// Links of [`REGISTRY`], touched only under its lock.
    registry_prev: *mut Arena,
    registry_next: *mut Arena,
    /// Whether the arena is in use, or kept wholly free by its heap, and
    /// then whether its pages went back to the OS: see [`purge`](super::purge).
    pub(crate) purge_state: AtomicU8,
    /// When it was last kept, in [`purge::now_ms`](super::purge::now_ms).
    pub(crate) emptied_at: AtomicU64,
    /// The debug hooks' marks of the blocks they handed out here
    /// (`debug/marks.rs`): null until their first, from the C library, freed
    /// with the arena.
    pub(crate) debug_marks: AtomicPtr<c_void>,
}

impl Arena {
    /// Maps an arena for `heap` and registers it in the arena map. Null if
    /// the OS or the C library refuses. `populate`: see [`os::map_arena`].
    pub(crate) fn create(heap: *const Heap, populate: bool) -> *mut Arena {
        let base = os::map_arena(populate);
        if base.is_null() {
            return ptr::null_mut();
        }
        // `free` makes its pointers into the arena from addresses
        // ([`exposed`]), with this provenance.
        let _ = base.expose_provenance();
        // SAFETY: malloc has no preconditions; the size is non-zero.
        let arena = unsafe { libc::malloc(size_of::<Arena>()) }.cast::<Arena>();
        if arena.is_null() {
            // SAFETY: `base` was just mapped and is unused.
            unsafe { os::unmap_arena(base) };
            return ptr::null_mut();
        }
        // SAFETY: `arena` is a fresh allocation of the right size; malloc
        // aligns to 16, more than `Arena` needs.
        unsafe {
            arena.write(Arena {
                base,
                heap: AtomicPtr::new(heap.cast_mut()),
                nfree: POOLS_PER_ARENA,
                free: u64::MAX,
                resident_free: AtomicU64::new(0),
                purging: AtomicU64::new(0),
                gives: AtomicUsize::new(0),
                seen_gives: 0,
                seen_at: 0,
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
                pool_classes: [const { AtomicU8::new(POOL_UNTOUCHED) }; POOLS_PER_ARENA],
                registry_prev: ptr::null_mut(),
                registry_next: ptr::null_mut(),
                purge_state: AtomicU8::new(IN_USE),
                emptied_at: AtomicU64::new(0),
                debug_marks: AtomicPtr::new(ptr::null_mut()),
            })
        };
        fork::install();
        let mut registry = lock_registry();
        if !arena_map::insert(base, arena) {
            drop(registry);
            // SAFETY: neither was published; both are freed once.
            unsafe {
                os::unmap_arena(base);
                libc::free(arena.cast());
            }
            return ptr::null_mut();
        }
        // SAFETY: the registry's links are ours under its lock; its arenas
        // are live (they leave it before they are freed).
        unsafe {
            let first = registry.first;
            (*arena).registry_next = first;
            if !first.is_null() {
                (*first).registry_prev = arena;
            }
        }
        registry.first = arena;
        ALLOCATED_TOTAL.fetch_add(1, Ordering::Relaxed);
        let current = current_arenas();
        HIGHWATER.fetch_max(current, Ordering::Relaxed);
        drop(registry);
        arena
    }

    /// Unregisters the arena and gives its memory back to the OS.
    ///
    /// # Safety
    ///
    /// - `arena` came from [`Arena::create`], all its pools are free, and it is
    ///   in no list; neither it nor its memory is used afterwards.
    pub(crate) unsafe fn destroy(arena: *mut Arena) {
        // SAFETY: the caller guarantees `arena` is live metadata.
        let base = unsafe { (*arena).base };
        invariant!(
            // SAFETY: as above.
            unsafe { (*arena).nfree } == POOLS_PER_ARENA,
            "arena {base:p} given back with pools in use"
        );
        // The heap map reaches arenas through the registry under this lock:
        // once it is ours, nobody else is reading this arena, and once the
        // arena is off the list nobody will.
        let mut registry = lock_registry();
        // The purger claims pools under this lock, and decommits them after:
        // off the registry, the arena waits for that to end before it goes.
        // SAFETY: as above.
        unsafe { Arena::wait_for_purger(arena, u64::MAX) };
        // SAFETY: as above.
        if unsafe { (*arena).resident_free.swap(0, Ordering::Relaxed) } != 0 {
            RESIDENT_FREE_ARENAS.fetch_sub(1, Ordering::Relaxed);
        }
        // SAFETY: the arena and its neighbours are on the registry, live;
        // their links are ours under its lock.
        unsafe {
            let (prev, next) = ((*arena).registry_prev, (*arena).registry_next);
            if prev.is_null() {
                registry.first = next;
            } else {
                (*prev).registry_next = next;
            }
            if !next.is_null() {
                (*next).registry_prev = prev;
            }
        }
        arena_map::remove(base);
        // What ASan was told of its blocks would outlive the mapping.
        super::asan::unpoison(base, ARENA_SIZE);
        // SAFETY: no block of the arena is live, so nobody reaches its memory
        // or its metadata any more.
        unsafe {
            os::unmap_arena(base);
            libc::free((*arena).debug_marks.load(Ordering::Relaxed));
            libc::free(arena.cast());
        }
        RECLAIMED.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the arena has a run of `slots` free slots for a pool, aligned
    /// to its size.
    ///
    /// # Safety
    ///
    /// - `arena` is live and serviced by the calling thread.
    pub(crate) unsafe fn has_room(arena: *const Arena, slots: usize) -> bool {
        // SAFETY: as the caller guarantees.
        free_runs(unsafe { (*arena).free }, slots) != 0
    }

    /// Takes a pool of `slots` slots (a power of two) out of the arena, at
    /// a multiple of `slots`: the lowest run whose pages may all be
    /// resident, else the lowest free one (whose pages fault in as it is
    /// used).
    ///
    /// # Safety
    ///
    /// - `arena` is live, serviced by the calling thread, and
    ///   [`Arena::has_room`] for `slots`.
    pub(crate) unsafe fn take_pool(arena: *mut Arena, slots: usize) -> *mut Pool {
        // Fields are reached through the raw pointer, never a `&mut Arena`:
        // other threads read `heap` concurrently.
        // The atomics are shared with the purger; `heap` and `base` are only read.
        // SAFETY: the caller guarantees exclusive access to the other fields.
        unsafe {
            let free = (*arena).free;
            // Acquire: a pool the purger claimed shows here as not resident
            // only after its `purging` bit, which the wait below then sees.
            let resident = (*arena).resident_free.load(Ordering::Acquire) & free;
            let (warm, any) = (free_runs(resident, slots), free_runs(free, slots));
            invariant!(any != 0, "a pool of {slots} slots taken from a full arena");
            let index = if warm != 0 { warm } else { any }.trailing_zeros();
            let span = span_mask(index as usize, slots);
            (*arena).free = free & !span;
            (*arena).nfree -= slots;
            if resident & span != 0 {
                // SeqCst, as the purger's claim: it claims the pool before
                // this, and the wait sees its mark, or it sees the pool gone.
                let before = (*arena).resident_free.fetch_and(!span, Ordering::SeqCst);
                if before & !span == 0 && before != 0 {
                    RESIDENT_FREE_ARENAS.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Arena::wait_for_purger(arena, span);
            (*arena).base.add(index as usize * POOL_SIZE).cast::<Pool>()
        }
    }

    /// Waits until the purger decommits none of the pools in `mask`.
    ///
    /// # Safety
    ///
    /// - `arena` is live.
    unsafe fn wait_for_purger(arena: *const Arena, mask: u64) {
        // SAFETY: as the caller guarantees.
        let purging = unsafe { &(*arena).purging };
        // SeqCst, against the purger's claim (see `take_pool`); as an
        // acquire, it pairs with the purger's last store: what the heap
        // writes to the pool next comes after the `madvise`.
        while purging.load(Ordering::SeqCst) & mask != 0 {
            std::thread::yield_now();
        }
    }

    /// Forgets the arena's pools, all free, whose pages went back to the OS
    /// ([`os::decommit`]): none is resident, and to the heap map, none was
    /// ever used, as in a fresh arena.
    ///
    /// # Safety
    ///
    /// - `arena` is live, wholly free, and its bookkeeping is the calling
    ///   thread's for the call (the purger's, by the arena's `purge_state`).
    pub(crate) unsafe fn forget_pools(arena: *mut Arena) {
        // SAFETY: as the caller guarantees.
        unsafe {
            invariant!(
                (*arena).nfree == POOLS_PER_ARENA,
                "arena {:p} purged with pools in use",
                (*arena).base
            );
            (*arena).free = u64::MAX;
            if (*arena).resident_free.swap(0, Ordering::Relaxed) != 0 {
                RESIDENT_FREE_ARENAS.fetch_sub(1, Ordering::Relaxed);
            }
            for class in &(*arena).pool_classes {
                class.store(POOL_UNTOUCHED, Ordering::Relaxed);
            }
        }
    }

    /// Gives a pool of `slots` slots back to its arena. Returns whether it
    /// made the first arena with resident free pools, which the purger may
    /// be asleep for.
    ///
    /// # Safety
    ///
    /// - `arena` is live and serviced by the calling thread; `pool` is one of
    ///   its pools, taken with [`Arena::take_pool`] for `slots`, holding no
    ///   live block.
    pub(crate) unsafe fn give_pool(arena: *mut Arena, pool: *mut Pool, slots: usize) -> bool {
        let index = pool_index(pool.cast());
        let span = span_mask(index, slots);
        // SAFETY: the caller guarantees exclusive access to the arena's
        // bookkeeping and that `pool`, one of its pools, is unused now.
        unsafe {
            invariant!(
                (*arena).free & span == 0,
                "pool {pool:p} given back to its arena twice"
            );
            (*arena).free |= span;
            (*arena).nfree += slots;
            for i in index..index + slots {
                (*arena).pool_classes[i].store(POOL_FREE, Ordering::Relaxed);
            }
            let gives = &(*arena).gives;
            gives.store(gives.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            (*arena).resident_free.fetch_or(span, Ordering::Release) == 0
                && RESIDENT_FREE_ARENAS.fetch_add(1, Ordering::SeqCst) == 0
        }
    }
}

/// The slots `index..index + slots` as a mask.
fn span_mask(index: usize, slots: usize) -> u64 {
    (u64::MAX >> (64 - slots)) << index
}

/// Bit `i` set iff slots `i..i + slots` are all in `free` and `i` is a
/// multiple of `slots` (a power of two): where a pool of `slots` may go.
fn free_runs(free: u64, slots: usize) -> u64 {
    // Each step doubles the run the bits stand for.
    let mut runs = free;
    let mut width = 1;
    while width < slots {
        runs &= runs >> width;
        width *= 2;
    }
    // Multiples of `slots`: every `slots`th bit, from bit 0.
    let aligned = u64::MAX / (u64::MAX >> (64 - slots));
    runs & aligned
}

/// Where the purger stands with an arena's free pools ([`Arena::claim_idle_pools`]).
pub(crate) enum IdlePools {
    /// No free pool of the arena is resident.
    None,
    /// Some, idle since `at` (in the purger's clock): not yet for long enough.
    Since(u64),
    /// These, claimed: decommit them, then [`Arena::release_claim`].
    Claimed(u64),
}

impl Arena {
    /// The purger's look at an arena's free pools, now: those resident and
    /// idle for `delay` (no pool given back meanwhile) it claims.
    ///
    /// # Safety
    ///
    /// - `arena` is on the registry, whose lock the caller holds, and the
    ///   caller holds the purge lock (it alone touches `seen_*`).
    pub(crate) unsafe fn claim_idle_pools(arena: *mut Arena, now: u64, delay: u64) -> IdlePools {
        // SAFETY: as the caller guarantees.
        unsafe {
            let resident = (*arena).resident_free.load(Ordering::Relaxed);
            if resident == 0 {
                return IdlePools::None;
            }
            let gives = (*arena).gives.load(Ordering::Relaxed);
            // Given back since last seen, or seen at a later time than
            // `now` (a caller's clock other than the purger's: tests).
            if gives != (*arena).seen_gives || now < (*arena).seen_at {
                (*arena).seen_gives = gives;
                (*arena).seen_at = now;
            }
            if now < (*arena).seen_at + delay {
                return IdlePools::Since((*arena).seen_at);
            }
            // Marked first, then taken from the resident ones: the heap
            // taking one meanwhile either finds it gone or waits on the mark.
            (*arena).purging.store(resident, Ordering::SeqCst);
            let before = (*arena)
                .resident_free
                .fetch_and(!resident, Ordering::SeqCst);
            let claimed = before & resident;
            if claimed != 0 && before & !resident == 0 {
                RESIDENT_FREE_ARENAS.fetch_sub(1, Ordering::Relaxed);
            }
            IdlePools::Claimed(claimed)
        }
    }

    /// The pages of the `claimed` pools, to decommit: `(start, length)` each.
    /// The first page of pool 0 stays: it holds the slot table of every pool.
    pub(crate) fn claimed_ranges(
        arena: *const Arena,
        claimed: u64,
    ) -> impl Iterator<Item = (*mut u8, usize)> {
        // SAFETY: `base` never changes.
        let base = unsafe { (*arena).base };
        (0..POOLS_PER_ARENA)
            .filter(move |i| claimed & (1 << i) != 0)
            .map(move |i| {
                let skip = if i == 0 { TABLE_PAGE } else { 0 };
                (base.wrapping_add(i * POOL_SIZE + skip), POOL_SIZE - skip)
            })
    }

    /// Ends the purger's claim on pools of `arena`, decommitted: they read
    /// as never used to the heap map, and the heap may take them.
    ///
    /// # Safety
    ///
    /// - the caller claimed `claimed` with [`Arena::claim_idle_pools`] and
    ///   has not released them; the arena is live until this returns.
    pub(crate) unsafe fn release_claim(arena: *mut Arena, claimed: u64) {
        // SAFETY: as the caller guarantees.
        unsafe {
            for i in 0..POOLS_PER_ARENA {
                if claimed & (1 << i) != 0 {
                    (*arena).pool_classes[i].store(POOL_UNTOUCHED, Ordering::Relaxed);
                }
            }
            (*arena).purging.store(0, Ordering::Release);
        }
    }
}

/// The bytes at the start of pool 0 that a purge leaves: its header and the
/// arena's slot table, in its first page.
const TABLE_PAGE: usize = 4096;
static_assertions::const_assert!(POOL_OVERHEAD + SLOT_TABLE_BYTES <= TABLE_PAGE);

impl Arena {
    /// Records the size class of the pool at `pool`, one of this arena's,
    /// once its header is set: this makes the pool in use to the heap map.
    /// `slot` is the owner's slot of that class, for `free`: it goes in the
    /// arena's slot table ([`slot_entry`]), at every slot the pool spans.
    ///
    /// # Safety
    ///
    /// - `arena` is live and serviced by the calling thread; `pool` is in it,
    ///   and [`Pool::init`] made it a pool of `class`; no block of it is live.
    pub(crate) unsafe fn set_class(
        arena: *mut Arena,
        pool: *const Pool,
        class: usize,
        slot: *const ClassSlot,
    ) {
        invariant!(class < NUM_CLASSES, "no size class {class}");
        // The entry of a pool in use is read (by `free`, on any thread) only
        // for its live blocks, which are handed out after this write.
        // Release all the same, as in `reassign`: a reader of the entry may
        // read the slot's fields.
        let index = pool_index(pool.cast());
        let slots = pool_slots(class);
        // A pool over several slots turns what may have been pool headers
        // into blocks: the heap map, which reads the header of a slot whose
        // class it sees, must not see one of those classes afterwards. Under
        // the lock it reads under, it sees the new marks.
        let _no_readers = (slots > 1).then(lock_registry);
        for i in index..index + slots {
            // SAFETY: as the caller guarantees: no thread reads the entry now;
            // the table lies in the arena's first pool, outside every block.
            unsafe {
                (*slot_entry((*arena).base.add(i * POOL_SIZE)))
                    .store(slot.cast_mut(), Ordering::Release);
                if i > index {
                    (*arena).pool_classes[i].store(SPANNED | class as u8, Ordering::Relaxed);
                }
            }
        }
        // Release, paired with the heap map's Acquire: who sees the class
        // sees the header `Pool::init` just wrote (on x86 still a plain `mov`,
        // and this is a slow path).
        // SAFETY: as the caller guarantees; classes fit a u8 below `SPANNED`.
        unsafe { (*arena).pool_classes[index].store(class as u8, Ordering::Release) };
    }
}

impl Arena {
    /// The heap owning the arena.
    ///
    /// # Safety
    ///
    /// - `arena` is live.
    #[inline]
    pub(crate) unsafe fn owner(arena: *const Arena) -> *const Heap {
        // Acquire, paired with `reassign`: who sees the new owner sees the
        // rewritten slot table.
        // SAFETY: as the caller guarantees.
        unsafe { (*arena).heap.load(Ordering::Acquire) }
    }

    /// Makes `heap` the owner of `arena` and of its pools in use: the
    /// arena's record, and each pool's entry of the slot table, which names
    /// `heap`'s slot of the pool's class, `slot_of(class)`, from now on.
    ///
    /// # Safety
    ///
    /// - the calling thread services both the old owner (whose thread has
    ///   exited) and `heap`; `arena` is live; `slot_of(class)` is `heap`'s
    ///   slot of `class`.
    pub(crate) unsafe fn reassign(
        arena: *mut Arena,
        heap: *const Heap,
        slot_of: impl Fn(usize) -> *const ClassSlot,
    ) {
        // SAFETY: as the caller guarantees; the table lies in the first
        // pool, outside every block, and its entries are atomic.
        unsafe {
            for index in 0..POOLS_PER_ARENA {
                let class = (*arena).pool_classes[index].load(Ordering::Relaxed);
                // A pool's first slot, or another it spans.
                if class < POOL_FREE {
                    let pool = (*arena).base.add(index * POOL_SIZE);
                    let slot = slot_of((class & !SPANNED) as usize);
                    // Release: a thread that frees one of the pool's blocks
                    // and reads the entry, with nothing else ordering this
                    // thread's making of `heap` before its free, reads the
                    // slot's fields (`free`'s Acquire).
                    (*slot_entry(pool)).store(slot.cast_mut(), Ordering::Release);
                }
            }
            (*arena).heap.store(heap.cast_mut(), Ordering::Release);
        }
    }
}

/// Calls `f` on every arena whose owner `is_reclaimed`, holding the arenas
/// (no arena is made or given back meanwhile). `f` must not make or give
/// back an arena.
pub(crate) fn for_each_owned_by(
    mut is_reclaimed: impl FnMut(*const Heap) -> bool,
    mut f: impl FnMut(*mut Arena),
) {
    let registry = lock_registry();
    let mut arena = registry.first;
    while !arena.is_null() {
        // SAFETY: arenas on the registry are live while its lock is held,
        // and their links change only under it.
        unsafe {
            if is_reclaimed(Arena::owner(arena)) {
                f(arena);
            }
            arena = (*arena).registry_next;
        }
    }
}

// ---------------------------------------------------------------------------
// Pointers into an arena: its provenance, its slot table.
// ---------------------------------------------------------------------------

/// `p`, an address in `arena`, as a pointer with the arena's provenance.
///
/// A block's pointer as its user hands it back may grant access to no more
/// than the bytes the user asked for (a `Box` or a `Vec` grants no more, and
/// Miri checks it). So the allocator keeps and hands out pointers derived
/// from the one the OS gave it, and reaches pool headers through them. The
/// one exception: `free` from another thread writes the free-list link
/// through the user's pointer, since the caller (a `Box` being dropped) may
/// still hold it.
///
/// # Safety
///
/// - `arena` is live and `p` is in it.
#[inline(always)]
pub(crate) unsafe fn own(arena: *const Arena, p: *mut u8) -> *mut u8 {
    // SAFETY: as the caller guarantees.
    unsafe { (*arena).base }.with_addr(p.addr())
}

/// The address `p`, in one of our arenas, as a pointer with its arena's
/// provenance, which [`Arena::create`] exposed: the same pointer as
/// [`own`] makes, without reading the arena.
///
/// Under Miri it is made as `own` makes it, through the arena map: Miri
/// checks strict provenance precisely, and exposed provenance only loosely.
///
/// # Safety
///
/// - `p` lies in one of our arenas, which stays live meanwhile.
#[inline(always)]
pub(crate) unsafe fn exposed(p: *mut u8) -> *mut u8 {
    if cfg!(miri) {
        let arena = arena_map::lookup(p);
        invariant!(!arena.is_null(), "{p:p} is in none of our arenas");
        // SAFETY: as the caller guarantees, `arena` is live and holds `p`.
        unsafe { own(arena, p) }
    } else {
        ptr::with_exposed_provenance_mut(p.addr())
    }
}

/// The size class of the pool that holds `p`, by its arena's class bytes;
/// `None` if the pool slot is not in use. The owner may change the slot
/// meanwhile; the answer is one it held.
///
/// # Safety
///
/// - `arena` is live and `p` lies in it.
pub(crate) unsafe fn class_at(arena: *const Arena, p: *const u8) -> Option<usize> {
    // SAFETY: as the caller guarantees; the class bytes are only ever
    // accessed atomically.
    let class = unsafe { &(*arena).pool_classes[pool_index(p)] }.load(Ordering::Acquire);
    match class {
        POOL_FREE | POOL_UNTOUCHED => None,
        class => Some(usize::from(class & !SPANNED)),
    }
}

/// The entry of the arena's slot table for the pool holding `p` (a pointer
/// into one of our arenas, with its provenance).
///
/// The table lies in the arena's first pool, after its header: 64 entries,
/// 8 cache lines per arena, so that `free` finds them warm where a pool
/// header per pool would not be (W3, whose 10 000 blocks lie in 330 pools,
/// missed the first-level cache twice as often reading pool headers).
///
/// Atomic, so that a heap reclaiming the arena of an exited thread may
/// rewrite the entries while other threads free its blocks; its loads and
/// stores are plain moves.
#[inline(always)]
pub(crate) fn slot_entry(p: *mut u8) -> *const AtomicPtr<ClassSlot> {
    let arena = p.map_addr(|a| a & !(ARENA_SIZE - 1));
    arena
        .wrapping_add(POOL_OVERHEAD)
        .cast::<AtomicPtr<ClassSlot>>()
        .wrapping_add(pool_index(p))
}

/// The arenas held still: while it lives no arena is created or destroyed,
/// so every arena it shows stays mapped, its metadata allocated.
///
/// The holder must not allocate from the pools, nor through the global
/// allocator (which may be [`PyMalloc`](super::PyMalloc)): a new arena would
/// wait for the lock the holder has. Reserve what is needed before.
pub(crate) struct Held {
    registry: MutexGuard<'static, Registry>,
}

impl Held {
    /// Takes the lock under which arenas are created and destroyed.
    pub(crate) fn new() -> Held {
        Held {
            registry: lock_registry(),
        }
    }

    /// Arenas held now: exact, as their counters change under this lock.
    pub(crate) fn count(&self) -> usize {
        current_arenas()
    }

    /// Calls `f` on every arena, the newest first.
    pub(crate) fn for_each(&self, mut f: impl FnMut(ArenaView<'_>)) {
        let mut arena = self.registry.first;
        while !arena.is_null() {
            f(ArenaView {
                arena,
                _held: PhantomData,
            });
            // SAFETY: arenas on the registry are live while its lock is
            // held, and their links change only under it.
            arena = unsafe { (*arena).registry_next };
        }
    }
}

/// A read-only view of an arena owned by any thread, valid while the
/// [`Held`] it came from lives.
#[derive(Clone, Copy)]
pub(crate) struct ArenaView<'a> {
    arena: *const Arena,
    _held: PhantomData<&'a Held>,
}

/// What a pool slot of an arena is doing, as [`ArenaView::pool`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolState {
    /// Never carved: its pages have not been touched.
    Untouched,
    /// Given back to its arena, ready for any class.
    Free,
    /// The first slot of a pool serving size class `class`, with `used`
    /// blocks handed out.
    InUse { class: u8, used: u32 },
    /// A later slot of a pool of size class `class`, which spans several.
    Spanned { class: u8 },
}

impl ArenaView<'_> {
    /// The arena, live while the [`Held`] is.
    pub(crate) fn arena(&self) -> *const Arena {
        self.arena
    }

    /// The arena's address.
    pub(crate) fn base(&self) -> usize {
        // `base` was written before the arena was linked in (under the
        // lock) and never changes.
        // SAFETY: the arena is on the registry, whose lock is held: allocated.
        unsafe { (*self.arena).base }.addr()
    }

    /// The heap owning the arena.
    pub(crate) fn heap(&self) -> *const Heap {
        // SAFETY: the arena is on the registry, whose lock is held: allocated.
        unsafe { Arena::owner(self.arena) }
    }

    /// Pool slot `index` (`< POOLS_PER_ARENA`) of the arena.
    ///
    /// Reads only atomics: its class byte, and for a pool in use the count
    /// of its header. The owner may change both meanwhile; each figure is
    /// one it held. The header of a pool not in use is not read, so the
    /// pages of never-used pools stay untouched.
    pub(crate) fn pool(&self, index: usize) -> PoolState {
        // SAFETY: the arena's metadata is allocated while the lock is held;
        // `pool_classes` is only ever accessed atomically.
        let class = unsafe { &(*self.arena).pool_classes[index] }.load(Ordering::Acquire);
        match class {
            POOL_UNTOUCHED => PoolState::Untouched,
            POOL_FREE => PoolState::Free,
            class if class & SPANNED != 0 => PoolState::Spanned {
                class: class & !SPANNED,
            },
            class => {
                // The header is initialised (zeroed by the OS, then written
                // by `Pool::init`, which the Acquire above makes visible), and
                // `count` is only ever accessed atomically. The pool may be
                // given back meanwhile: its header stays, stale.
                // SAFETY: the arena stays mapped while the lock is held.
                let used = unsafe {
                    let pool = (*self.arena).base.add(index * POOL_SIZE).cast::<Pool>();
                    (*pool).count.load(Ordering::Relaxed)
                };
                PoolState::InUse { class, used }
            }
        }
    }
}

/// Arenas held now (`# arenas allocated current`).
pub(crate) fn current_arenas() -> usize {
    // Reclaimed is read first: a racing destroy can then only make the
    // answer one too high, never wrap around.
    let reclaimed = RECLAIMED.load(Ordering::Relaxed);
    ALLOCATED_TOTAL
        .load(Ordering::Relaxed)
        .saturating_sub(reclaimed)
}

#[cfg(test)]
mod tests {
    use super::{free_runs, span_mask};

    #[test]
    fn runs_of_free_slots_are_found_at_multiples_of_their_length() {
        assert_eq!(free_runs(u64::MAX, 1), u64::MAX);
        assert_eq!(free_runs(u64::MAX, 2), 0x5555_5555_5555_5555);
        assert_eq!(free_runs(u64::MAX, 32), 1 | 1 << 32);
        // Slots 1..=4 are free: a run of 4 from 1 is not aligned; of 2, from 2.
        let free = 0b1_1110;
        assert_eq!(free_runs(free, 4), 0);
        assert_eq!(free_runs(free, 2), 0b100);
        assert_eq!(free_runs(free, 1), free);
        // One slot taken from each half leaves no run of 32.
        assert_eq!(free_runs(!(1 | 1 << 40), 32), 0);
        assert_eq!(free_runs(!(1 << 40), 32), 1);
        assert_eq!(span_mask(4, 4), 0b1111_0000);
        assert_eq!(span_mask(32, 32), 0xFFFF_FFFF << 32);
        assert_eq!(span_mask(0, 64), u64::MAX);
    }
}

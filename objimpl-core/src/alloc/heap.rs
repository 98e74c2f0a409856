//! Thread-local heaps and the slow paths of the pool allocator.
//!
//! A [`Heap`] is what one thread allocates from: per size class the list of
//! its usable pools, its arenas bucketed by free-pool count, and the atomic
//! `pending` list on which other threads queue pools holding blocks they
//! freed. See `pool.rs` for the whole picture.
//!
//! Heaps come from the C library and are never freed: a heap whose thread
//! exited with blocks still live is an orphan until a running thread
//! reclaims it (takes its arenas and pools into its own heap, as mimalloc's
//! heaps reclaim abandoned segments), and then it is recycled for a new
//! thread. So a pointer to a heap, once read from an arena, can always be
//! followed.

use core::cell::{Cell, UnsafeCell};
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
use std::sync::Mutex;

use super::arena::{self, Arena};
use super::arena_map;
use super::asan;
use super::fatal::invariant;
use super::pool::{self, Block, Pool, QUEUED, take_block};
use super::size_class::{NUM_CLASSES, POOLS_PER_ARENA, class_size};
use super::system;

/// One thread's heap. Fields in `local` (and each class's `pool`) are touched
/// only by the thread servicing the heap: its owner, or after the owner
/// exited, the thread that reclaims it (hand-overs go through [`LISTS`]'s
/// lock). The atomics may be touched by any thread.
pub(crate) struct Heap {
    classes: [ClassSlot; NUM_CLASSES],
    local: UnsafeCell<Local>,
    /// Pools with blocks freed by other threads, linked through
    /// `Pool::pending_next`; pushed by anyone, taken whole by the servicer.
    pending: AtomicPtr<Pool>,
    /// Free pools in this heap's arenas, for the statistics.
    unused_pools: AtomicUsize,
    /// Next in the list of every heap ever made (push-only).
    registry_next: AtomicPtr<Heap>,
    /// Next in the orphan list or the free list.
    list_next: AtomicPtr<Heap>,
    /// The heap reclaiming this orphan, while it does, for its walk over
    /// the arenas; null otherwise. A heap, not a flag: two threads may be
    /// reclaiming orphans at once (each its own), and a forked child may
    /// find a reclaim half done by a thread it does not have.
    reclaimer: AtomicPtr<Heap>,
}

/// One size class of a heap. The counters are written by the servicing
/// thread alone (plain load + store) and read by [`stats`](super::stats).
///
/// An arena records, for each pool in use, the owner's slot of the pool's
/// class, so that `free` reaches the slot (and through it the owner) with
/// one load and no arithmetic.
pub(crate) struct ClassSlot {
    /// How many blocks `cache` holds. Written by the servicing thread alone
    /// (plain load + store, as the counters below); read by the heap map.
    cached: AtomicUsize,
    /// How many it may hold: `CACHE_LIMITS[class]`, kept here, beside
    /// `cached`, for `free`'s fast path.
    limit: usize,
    /// The heap this slot is part of: `free` compares it with the thread's.
    /// Written once, before the heap is published.
    heap: *const Heap,
    /// First usable pool; null if none.
    pool: UnsafeCell<*mut Pool>,
    /// Blocks this thread freed, kept for its next `malloc`s of the class: a
    /// stack of pointers, so neither `free` nor `malloc` touches the block or
    /// its pool while it is here. To their pools they are still handed out.
    /// The first `cached` entries are set; the rest are never read, and stay
    /// unwritten (so a class the thread never frees costs it no memory).
    cache: UnsafeCell<[MaybeUninit<*mut u8>; CACHE_SLOTS]>,
}

/// Room in each class's block cache.
const CACHE_SLOTS: usize = 64;

/// How many blocks each class's cache keeps: about 8 KiB of blocks, at least
/// 16 and at most [`CACHE_SLOTS`].
const CACHE_LIMITS: [usize; NUM_CLASSES] = {
    let mut limits = [0; NUM_CLASSES];
    let mut class = 0;
    while class < NUM_CLASSES {
        let by_bytes = 8192 / class_size(class);
        limits[class] = if by_bytes < 16 {
            16
        } else if by_bytes > CACHE_SLOTS {
            CACHE_SLOTS
        } else {
            by_bytes
        };
        class += 1;
    }
    limits
};

struct Local {
    /// `buckets[n]`: arenas with `n` free pools, `0 < n < POOLS_PER_ARENA`,
    /// linked through `Arena::{prev, next}`.
    buckets: [*mut Arena; POOLS_PER_ARENA],
    /// Bit `n` set iff `buckets[n]` is not empty.
    nonempty: u64,
    /// Wholly free arenas kept for the next pools, oldest first: the first
    /// `nempty` entries. See [`keep_empty`].
    empties: [*mut Arena; KEPT_EMPTY_MAX],
    /// When each became empty, in [`now_ms`].
    emptied_at: [u64; KEPT_EMPTY_MAX],
    nempty: usize,
    /// Pools of any class in use (on a usable list or full).
    pools_in_use: usize,
    /// Arenas this heap gave back to the OS since its thread took it. Once
    /// it has given one back, its new arenas are populated at once: it is
    /// reusing memory. Reset when the heap is recycled.
    arenas_returned: usize,
}

// SAFETY: the non-atomic state is touched only by the heap's servicing
// thread, and servicing moves between threads only through `LISTS`' lock.
unsafe impl Sync for Heap {}

impl Heap {
    /// Makes `heap` a fresh heap, field by field in place: a `Heap` built on
    /// the stack and moved would take 18 KiB of the new thread's stack, and
    /// writing the caches would make their 16 KiB resident before any block
    /// is cached.
    ///
    /// # Safety
    ///
    /// - `heap` is valid for writes of a `Heap` and aligned for it; nothing
    ///   else uses it yet.
    unsafe fn init(heap: *mut Heap) {
        // SAFETY: as the caller guarantees; each field is written once,
        // through raw pointers, before anything reads it.
        unsafe {
            for (class, &limit) in CACHE_LIMITS.iter().enumerate() {
                ClassSlot::init(&raw mut (*heap).classes[class], heap, limit);
            }
            (&raw mut (*heap).local).write(UnsafeCell::new(Local {
                buckets: [ptr::null_mut(); POOLS_PER_ARENA],
                nonempty: 0,
                empties: [ptr::null_mut(); KEPT_EMPTY_MAX],
                emptied_at: [0; KEPT_EMPTY_MAX],
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

    /// The slot of `class`, without a bounds check on the fast paths.
    ///
    /// # Safety
    ///
    /// - `heap` is live; `class < NUM_CLASSES`.
    #[inline(always)]
    unsafe fn slot<'a>(heap: *const Heap, class: usize) -> &'a ClassSlot {
        invariant!(class < NUM_CLASSES, "no size class {class}");
        // SAFETY: heaps are never freed; the class is in bounds.
        unsafe { &*(&raw const (*heap).classes).cast::<ClassSlot>().add(class) }
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
        unsafe { *Heap::slot(heap, class).pool.get() }
    }

    /// Pops a block from the class's cache; null if it is empty.
    ///
    /// # Safety
    ///
    /// - `heap` is live and serviced by the calling thread.
    #[inline(always)]
    pub(crate) unsafe fn pop_cached(heap: *const Heap, class: usize) -> *mut u8 {
        // SAFETY: only the servicing thread touches the cache, whose first
        // `cached <= CACHE_SLOTS` entries are set, to blocks.
        unsafe {
            let slot = Heap::slot(heap, class);
            let n = slot.cached.load(Ordering::Relaxed);
            if n == 0 {
                return ptr::null_mut();
            }
            slot.cached.store(n - 1, Ordering::Relaxed);
            let p = *slot.cache.get().cast::<*mut u8>().add(n - 1);
            // Cached blocks are never null: the caller's test of the result
            // then folds into the test of `n`.
            core::hint::assert_unchecked(!p.is_null());
            asan::unpoison(p, class_size(class));
            p
        }
    }
}

impl ClassSlot {
    /// Makes `slot` an empty slot of `heap` whose cache holds up to `limit`
    /// blocks, writing every field but the cache's entries.
    ///
    /// # Safety
    ///
    /// - `slot` is valid for writes of a `ClassSlot`, aligned, and unused.
    unsafe fn init(slot: *mut ClassSlot, heap: *const Heap, limit: usize) {
        // SAFETY: as the caller guarantees; `MaybeUninit` entries need no
        // value, so the cache is left as it is.
        unsafe {
            (&raw mut (*slot).cached).write(AtomicUsize::new(0));
            (&raw mut (*slot).limit).write(limit);
            (&raw mut (*slot).heap).write(heap);
            (&raw mut (*slot).pool).write(UnsafeCell::new(ptr::null_mut()));
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

    /// Whether `p` is in the slot's cache: freed already (a check of debug
    /// builds: at most [`CACHE_SLOTS`] compares).
    ///
    /// # Safety
    ///
    /// - `slot`'s heap is serviced by the calling thread.
    pub(crate) unsafe fn is_cached(slot: *const ClassSlot, p: *mut u8) -> bool {
        // SAFETY: only the servicing thread touches the cache, whose first
        // `cached` entries are set.
        unsafe {
            let n = (*slot).cached.load(Ordering::Relaxed);
            let cache = (*slot).cache.get().cast::<*mut u8>();
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
        // SAFETY: only the servicing thread touches the cache; `limit <=
        // CACHE_SLOTS`, so entry `n < limit` is in bounds.
        unsafe {
            let slot = &*slot;
            let n = slot.cached.load(Ordering::Relaxed);
            if n >= slot.limit {
                return false;
            }
            *slot.cache.get().cast::<*mut u8>().add(n) = p;
            slot.cached.store(n + 1, Ordering::Relaxed);
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
unsafe fn local(heap: *const Heap) -> *mut Local {
    // SAFETY: heaps are never freed.
    unsafe { (*heap).local.get() }
}

/// Raw access to a class's usable-list head.
///
/// # Safety
///
/// As [`local`].
#[inline(always)]
unsafe fn head(heap: *const Heap, class: usize) -> *mut *mut Pool {
    // SAFETY: heaps are never freed.
    unsafe { (*heap).classes[class].pool.get() }
}

// ---------------------------------------------------------------------------
// The thread-local heap.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum ThreadState {
    /// No heap yet.
    Fresh,
    /// Getting a heap; allocations meanwhile go to the system allocator.
    Starting,
    /// `CURRENT` is set.
    Running,
    /// The exit hook ran; allocations go to the system allocator.
    Exited,
}

thread_local! {
    /// This thread's heap, or null. Const-initialised and without a
    /// destructor, so reading it is a plain thread-local load.
    static CURRENT: Cell<*const Heap> = const { Cell::new(ptr::null()) };
    static STATE: Cell<ThreadState> = const { Cell::new(ThreadState::Fresh) };
    /// Its destructor is the thread's exit hook.
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

/// The calling thread's heap, or null if it has none (yet, or any more).
#[inline(always)]
pub(crate) fn current() -> *const Heap {
    CURRENT.get()
}

struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        STATE.set(ThreadState::Exited);
        let heap = CURRENT.replace(ptr::null());
        if !heap.is_null() {
            // SAFETY: `heap` was this thread's and nobody else services it.
            housekeeping(|| unsafe { retire(heap) });
        }
    }
}

/// The calling thread's heap, made on first use. Null if the thread is
/// starting or exiting, or no memory could be had: the caller then uses the
/// system allocator, whose blocks `free` recognises.
#[cold]
#[inline(never)]
fn heap_for_thread() -> *const Heap {
    let heap = CURRENT.get();
    if !heap.is_null() {
        return heap;
    }
    if STATE.get() != ThreadState::Fresh {
        return ptr::null();
    }
    STATE.set(ThreadState::Starting);
    // Registering the exit hook may allocate (glibc's registration calls the
    // C library's calloc; elsewhere std may use the global allocator, which
    // lands back here while `Starting` and is served by the system).
    if EXIT_HOOK.try_with(|_| ()).is_err() {
        STATE.set(ThreadState::Exited);
        return ptr::null();
    }
    let heap = acquire_heap();
    if heap.is_null() {
        STATE.set(ThreadState::Fresh);
        return heap;
    }
    CURRENT.set(heap);
    STATE.set(ThreadState::Running);
    heap
}

// ---------------------------------------------------------------------------
// Heap lists: every heap, free heaps, orphans.
// ---------------------------------------------------------------------------

/// Every heap ever made, for the statistics.
static ALL_HEAPS: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());

pub(crate) struct Lists {
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
static ORPHANS_WAITING: AtomicBool = AtomicBool::new(false);

pub(crate) fn lock_lists() -> std::sync::MutexGuard<'static, Lists> {
    // Nothing under the lock can panic half-way; a poisoned lock is fine.
    LISTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A heap for a new thread: a recycled one, or a fresh one from the C library.
fn acquire_heap() -> *const Heap {
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

impl Heap {
    /// Blocks of `class` in this heap's block cache: to their pools they
    /// are handed out, to the statistics they are not in use.
    pub(crate) fn cached(&self, class: usize) -> usize {
        self.classes[class].cached.load(Ordering::Relaxed)
    }

    /// Free pools in this heap's arenas.
    pub(crate) fn unused_pools(&self) -> usize {
        self.unused_pools.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------
// Slow paths of malloc.
// ---------------------------------------------------------------------------

/// `malloc` of a small size when the fast path could not serve it: no heap
/// yet, or no usable pool of the class.
#[cold]
#[inline(never)]
pub(crate) fn malloc_small_slow(class: usize, size: usize) -> *mut u8 {
    let heap = heap_for_thread();
    if heap.is_null() {
        return system::malloc(size);
    }
    // SAFETY: `heap` is this thread's heap.
    unsafe {
        collect(heap);
        let mut pool = Heap::usable_pool(heap, class);
        if pool.is_null() {
            pool = new_pool(heap, class);
            if pool.is_null() {
                // No arena could be had (the address space is limited, or
                // the C library has no room for an arena's metadata): the C
                // library may still have room for the block, as CPython's
                // `_PyObject_Malloc` falls back to `PyMem_RawMalloc`. `free`
                // tells its blocks by the arena map.
                return system::malloc(size);
            }
        }
        take_block(heap, pool, class)
    }
}

/// A fresh pool of `class` at the front of its (empty) usable list, from the
/// fullest arena with a free pool, else the newest kept empty arena, else a
/// new one. Kept empty arenas past their delay go back to the OS.
///
/// # Safety
///
/// - the calling thread services `heap`; its usable list of `class` is empty.
unsafe fn new_pool(heap: *const Heap, class: usize) -> *mut Pool {
    // SAFETY: the caller services `heap`, so its local state is ours.
    unsafe {
        let l = local(heap);
        let arena = if (*l).nonempty != 0 {
            let arena = (*l).buckets[(*l).nonempty.trailing_zeros() as usize];
            bucket_remove(l, arena);
            arena
        } else if (*l).nempty != 0 {
            (*l).nempty -= 1;
            (*l).empties[(*l).nempty]
        } else {
            let arena = Arena::create(heap, (*l).arenas_returned > 0);
            if arena.is_null() {
                return arena.cast();
            }
            add(&(*heap).unused_pools, POOLS_PER_ARENA);
            arena
        };
        release_expired(heap);
        let pool = Arena::take_pool(arena);
        bucket_insert(l, arena);
        sub(&(*heap).unused_pools, 1);
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
pub(crate) unsafe fn pool_full_slow(
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
    block
}

// ---------------------------------------------------------------------------
// Slow paths of free.
// ---------------------------------------------------------------------------

/// A full pool got a block back, `block`: it goes to the front of its usable
/// list, to be allocated from next (it is the most likely to be in cache).
/// (Given the block, not the pool: `free`'s fast path then passes on the
/// register the block came in.)
///
/// # Safety
///
/// - the calling thread services the heap owning the block's pool, which is
///   on no list.
#[cold]
#[inline(never)]
pub(crate) unsafe fn pool_refilled_slow(block: *mut Block) {
    let pool = pool::pool_of(block.cast());
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

/// A pool that is not alone on its usable list became empty as `block` came
/// back: it goes back to its arena.
///
/// # Safety
///
/// - the calling thread services the heap owning the block's pool, which is
///   on its usable list and holds no live block.
#[cold]
#[inline(never)]
pub(crate) unsafe fn pool_empty_slow(block: *mut Block) {
    let pool = pool::pool_of(block.cast());
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
unsafe fn owner_of(pool: *mut Pool) -> *const Heap {
    // SAFETY: a pool in use lies in a live arena.
    unsafe { Arena::owner(arena_map::lookup(pool.cast())) }
}

/// `free` of a block owned by another heap (or freed by a thread with no
/// heap): push it on its pool's `thread_free` list, and queue the pool on
/// the owner's `pending` list if it was not queued yet.
///
/// # Safety
///
/// - `p` is a live block in one of our arenas, given up by the caller.
#[cold]
#[inline(never)]
pub(crate) unsafe fn free_remote_slow(p: *mut u8) {
    // Looked up again rather than passed: the fast path then keeps `p` in
    // the register it came in (one `mov` fewer on every free).
    let arena = arena_map::lookup(p);
    invariant!(!arena.is_null(), "{p:p} freed, in none of our arenas");
    // The link is written through the allocator's own pointer, which the
    // list keeps too: the caller's may cover fewer bytes than the link (a
    // `Box<[u8]>` of 1 byte, freed on another thread, was a write out of its
    // bounds to Miri).
    // SAFETY: `p` is a live block of `arena`, which is therefore alive.
    let block = unsafe { pool::own(arena, p) }.cast::<Block>();
    let pool = pool::pool_of(block.cast());
    // `thread_free` and `pending_next` are atomics, shared by design; the
    // block is ours to write until the exchange publishes it.
    // SAFETY: the arena and its pool headers live at least as long as the block.
    unsafe {
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
        if Arena::owner(arena) != owner {
            // The arena was reclaimed since `owner` was read, and the pool
            // may have gone on the old owner's list after its reclaimer
            // took that list for the last time: see `forward_stale`.
            STALE_PENDING.store(true, Ordering::Release);
        }
    }
}

/// Puts `pool`, whose `thread_free` has [`QUEUED`] set by the caller, on
/// `heap`'s `pending` list.
///
/// AcqRel: the Acquire half, paired with the Release of a reclaimer's take
/// of the list, makes its new owner of the arena visible to the check that
/// follows in [`free_remote_slow`].
///
/// # Safety
///
/// - `pool` is a live pool on no `pending` list, whose `QUEUED` bit the
///   caller set; `heap` is a heap.
unsafe fn queue_pending(heap: *const Heap, pool: *mut Pool) {
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

/// `free` of an own block whose class's cache is full: the block goes
/// straight back to its pool. (Flushing half the cache to make room would
/// hand each block twice, cache then pool, in a run of frees: W2 of issue
/// 8, which spent a quarter of its time doing so.)
///
/// # Safety
///
/// - the calling thread services the heap that owns `p`, a live block (with
///   its arena's provenance) given up by the caller.
#[inline(never)]
pub(crate) unsafe fn free_cache_full_slow(p: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { pool::give_block(pool::pool_of(p), p.cast()) };
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
        let slot = &(*heap).classes[class];
        let n = slot.cached.load(Ordering::Relaxed);
        let count = count.min(n);
        let cache = slot.cache.get().cast::<*mut u8>();
        for i in 0..count {
            // Cached pointers carry the arena's provenance (see `pool::own`).
            let block = *cache.add(i);
            pool::give_block(pool::pool_of(block), block.cast());
        }
        ptr::copy(cache.add(count), cache, n - count);
        slot.cached.store(n - count, Ordering::Relaxed);
    }
}

/// Gives every cached block back to its pool.
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn flush_caches(heap: *const Heap) {
    for class in 0..NUM_CLASSES {
        // SAFETY: as the caller guarantees.
        unsafe { flush_cache(heap, class, CACHE_SLOTS) };
    }
}

// ---------------------------------------------------------------------------
// Housekeeping, as the statistics see it.
// ---------------------------------------------------------------------------

/// A heap's housekeeping (a thread's exit hook, `release_free_memory`)
/// moves blocks from its caches back to their pools, pools back to their
/// arenas and arenas back to the OS, each counted in two places that a
/// snapshot reads apart: a block cached or free in its pool, a pool counted
/// unused by its heap and free in its arena, an arena in the heap's unused
/// pools and on the registry. A snapshot across that work could count a
/// block, pool or arena on both sides or on neither. The work is rare, so it
/// is counted, seqlock-fashion, and a snapshot can tell that it overlapped
/// some and take itself again.
static HOUSEKEEPING_BEGUN: AtomicUsize = AtomicUsize::new(0);
static HOUSEKEEPING_ENDED: AtomicUsize = AtomicUsize::new(0);

/// Runs a heap's housekeeping `work`, counted for [`no_housekeeping_since`].
fn housekeeping<R>(work: impl FnOnce() -> R) -> R {
    HOUSEKEEPING_BEGUN.fetch_add(1, Ordering::Relaxed);
    // Orders the count before the work's stores, for `no_housekeeping_since`.
    fence(Ordering::Release);
    let done = work();
    HOUSEKEEPING_ENDED.fetch_add(1, Ordering::Release);
    done
}

/// Runs `work` counted as housekeeping: for tests, a thread caught in the
/// middle of its housekeeping for as long as `work` takes.
#[cfg(test)]
pub(crate) fn as_housekeeping<R>(work: impl FnOnce() -> R) -> R {
    housekeeping(work)
}

/// In a child after `fork()`, where only the forking thread lives: the
/// housekeeping other threads had begun will never end.
pub(crate) fn forget_housekeeping() {
    let begun = HOUSEKEEPING_BEGUN.load(Ordering::Relaxed);
    HOUSEKEEPING_ENDED.store(begun, Ordering::Release);
}

/// A moment when no housekeeping was running, for [`no_housekeeping_since`].
#[derive(Clone, Copy)]
pub(crate) struct QuietMark(usize);

/// The moment now, if no heap's housekeeping is running.
pub(crate) fn quiet_mark() -> Option<QuietMark> {
    let ended = HOUSEKEEPING_ENDED.load(Ordering::Acquire);
    // Ended never passes begun: equal, read in this order, means none ran
    // at the second read.
    let begun = HOUSEKEEPING_BEGUN.load(Ordering::Relaxed);
    (begun == ended).then_some(QuietMark(begun))
}

/// Whether no housekeeping began since `mark`: then the counts read
/// between the two calls agree with one another.
pub(crate) fn no_housekeeping_since(mark: QuietMark) -> bool {
    // Pairs with `housekeeping`'s Release fence: a read that saw any store
    // of the work makes its count visible here.
    fence(Ordering::Acquire);
    HOUSEKEEPING_BEGUN.load(Ordering::Relaxed) == mark.0
}

// ---------------------------------------------------------------------------
// Lists of pools and arenas.
// ---------------------------------------------------------------------------

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
        add(&(*heap).unused_pools, 1);
        (*l).pools_in_use -= 1;
        bucket_remove(l, arena);
        Arena::give_pool(arena, pool);
        if (*arena).nfree < POOLS_PER_ARENA {
            bucket_insert(l, arena);
        } else {
            keep_empty(heap, arena);
        }
    }
}

/// # Safety
///
/// - the calling thread services `heap`, which owns the wholly free `arena`,
///   on no list.
unsafe fn destroy_arena(heap: *const Heap, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        sub(&(*heap).unused_pools, POOLS_PER_ARENA);
        (*local(heap)).arenas_returned += 1;
        Arena::destroy(arena);
    }
}

/// # Safety
///
/// - the calling thread services the heap of `l`; `arena` is its, in no bucket.
unsafe fn bucket_insert(l: *mut Local, arena: *mut Arena) {
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

/// `counter += n` by its one writer: a plain load and store.
#[inline(always)]
fn add(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// `counter -= n` by its one writer.
#[inline(always)]
fn sub(counter: &AtomicUsize, n: usize) {
    let value = counter.load(Ordering::Relaxed);
    invariant!(
        value >= n,
        "a count of pools went below zero ({value} - {n})"
    );
    counter.store(value.wrapping_sub(n), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// Collecting: pending frees, orphans, idle memory.
// ---------------------------------------------------------------------------

/// The deferred work of the calling thread: take back the blocks other
/// threads freed into `heap`, and reclaim the heaps of exited threads.
/// Each costs one load when there is nothing to do.
///
/// # Safety
///
/// - `heap` is the calling thread's heap.
unsafe fn collect(heap: *const Heap) {
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

/// Takes the blocks other threads freed into `heap`'s pools, as local frees.
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn drain_pending(heap: *const Heap) {
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
/// queueing (see [`reclaim_orphans`]).
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn take_pending(heap: *const Heap) {
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
                pool::give_block(pool, block);
                block = after;
            }
            pool = next;
        }
    }
}

/// Lets go of a heap's idle pools: the kept empty pool of each class. Its
/// kept empty arenas stay, for [`recycle`] or [`release_empty_arenas`].
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn release_idle(heap: *const Heap) {
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
unsafe fn release_kept_pool(heap: *const Heap, class: usize) {
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

// ---------------------------------------------------------------------------
// Empty arenas: kept a while, then given back.
// ---------------------------------------------------------------------------

/// How many wholly free arenas a heap keeps for its next pools (8 MiB).
const KEPT_EMPTY_MAX: usize = 8;

/// How long a wholly free arena is kept before it goes back to the OS, in
/// milliseconds: long enough that a program freeing and allocating in waves
/// (W2 of issue 8: 3 MiB of 32-byte blocks, then all freed, again and
/// again) reuses its arenas instead of unmapping and mapping them each
/// time; short enough that memory freed for good leaves within 100 ms
/// (W4), with 10 ms to spare. 50 ms was too short for waves that come
/// 60-70 ms apart, as W2's do in the interleaved bench: each wave then
/// faulted its 3 MiB in again, a fifth of W2's time. mimalloc and
/// jemalloc purge on a delay too. The delay is checked on the
/// slow paths that take a pool and those that empty an arena, so a thread
/// that stops allocating keeps at most [`KEPT_EMPTY_MAX`] arenas until it
/// allocates again, or calls [`release_free_memory`](super::release_free_memory), or exits.
pub(crate) const PURGE_DELAY_MS: u64 = 90;

/// A monotonic clock in milliseconds (the vDSO's: no system call).
fn now_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000
}

/// Keeps `arena`, just emptied, for the next pools; the oldest kept one goes
/// back to the OS if there is no room, and those past their delay.
///
/// # Safety
///
/// - the calling thread services `heap`, which owns the wholly free `arena`,
///   on no list.
unsafe fn keep_empty(heap: *const Heap, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let l = local(heap);
        if (*l).nempty == KEPT_EMPTY_MAX {
            destroy_oldest_empty(heap);
        }
        let now = now_ms();
        (*l).empties[(*l).nempty] = arena;
        (*l).emptied_at[(*l).nempty] = now;
        (*l).nempty += 1;
        release_expired_at(heap, now);
    }
}

/// Gives back the kept empty arenas that have waited [`PURGE_DELAY_MS`].
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn release_expired(heap: *const Heap) {
    // SAFETY: as the caller guarantees.
    unsafe {
        if (*local(heap)).nempty != 0 {
            release_expired_at(heap, now_ms());
        }
    }
}

/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn release_expired_at(heap: *const Heap, now: u64) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let l = local(heap);
        while (*l).nempty != 0 && now.saturating_sub((*l).emptied_at[0]) >= PURGE_DELAY_MS {
            destroy_oldest_empty(heap);
        }
    }
}

/// # Safety
///
/// - the calling thread services `heap`, which keeps an empty arena.
unsafe fn destroy_oldest_empty(heap: *const Heap) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let l = local(heap);
        let n = (*l).nempty;
        invariant!(n != 0, "no empty arena to give back");
        let arena = (*l).empties[0];
        (*l).empties.copy_within(1..n, 0);
        (*l).emptied_at.copy_within(1..n, 0);
        (*l).nempty = n - 1;
        destroy_arena(heap, arena);
    }
}

/// Gives every kept empty arena of the heap but the `keep` newest back to the OS.
///
/// # Safety
///
/// - the calling thread services `heap`.
unsafe fn release_empty_arenas(heap: *const Heap, keep: usize) {
    // SAFETY: as the caller guarantees.
    unsafe {
        while (*local(heap)).nempty > keep {
            destroy_oldest_empty(heap);
        }
    }
}

/// [`release_free_memory`](super::release_free_memory) for the calling thread.
pub(crate) fn release_free_memory() {
    let heap = current();
    if heap.is_null() {
        return;
    }
    // SAFETY: `heap` is this thread's.
    housekeeping(|| unsafe {
        flush_caches(heap);
        collect(heap);
        release_idle(heap);
        release_empty_arenas(heap, 0);
    })
}

/// Empty arenas kept by heaps on the free list: at most
/// [`PARKED_ARENAS_MAX`] (4 MiB), so that a thread that starts after
/// another ended gets its heap with an arena ready, instead of mapping one
/// (a program that spawns and joins threads in a loop would otherwise map
/// and unmap an arena per thread).
static PARKED_ARENAS: AtomicUsize = AtomicUsize::new(0);
const PARKED_ARENAS_MAX: usize = 4;

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
            |arena| Arena::reassign(arena, heap),
        );
        let mut orphan = orphans;
        while !orphan.is_null() {
            let next = (*orphan).list_next.load(Ordering::Relaxed);
            (*orphan)
                .reclaimer
                .store(ptr::null_mut(), Ordering::Relaxed);
            take_over(heap, orphan);
            // Pools queued on it after its drain above go on to `heap`. A
            // queueing after this exchange reads the new owner after it
            // (both are AcqRel on the list) and tells `forward_stale`.
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

/// Set by a remote free that queued a pool on an owner the pool's arena no
/// longer has (see [`reclaim_orphans`]).
static STALE_PENDING: AtomicBool = AtomicBool::new(false);

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
unsafe fn retire(heap: *const Heap) {
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

/// What [`stats`](super::stats) does first: the calling thread's deferred
/// work (blocks freed to it by other threads, and the heaps of exited
/// threads), so that the figures are as current as they can be.
pub(crate) fn collect_current() {
    let heap = current();
    if heap.is_null() {
        // A thread without a heap can still reclaim orphans: do it with a
        // heap of its own, unless it is exiting.
        if !ORPHANS_WAITING.load(Ordering::Relaxed) {
            return;
        }
        let heap = heap_for_thread();
        if heap.is_null() {
            return;
        }
        // SAFETY: `heap` is this thread's.
        return unsafe { collect(heap) };
    }
    // SAFETY: `heap` is this thread's.
    unsafe { collect(heap) }
}

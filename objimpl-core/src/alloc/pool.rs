//! The pool allocator: the `object_*` and `mem_*` families.
//!
//! # The picture
//!
//! ```text
//!  OS ──mmap 1 MiB, 1 MiB-aligned──> Arena ──cut into 64 x 16 KiB──> Pool ──carved into──> blocks
//!
//!  arena (1 MiB, owned by one heap at a time)
//!  ┌──────────┬──────────┬──────────┬─────┬──────────┐
//!  │ pool 0   │ pool 1   │ pool 2   │ ... │ pool 63  │   metadata (Arena) lives outside,
//!  │ class 1  │ class 1  │ (free)   │     │ (never   │   so all 64 pools are usable
//!  │          │          │          │     │  carved) │
//!  └──────────┴──────────┴──────────┴─────┴──────────┘
//!
//!  pool (16 KiB, one size class)
//!  ┌────────────┬───────┬───────┬───────┬───────┬─────────────────────┬──────┐
//!  │ header     │ block │ block │ block │ block │ never used yet ...   │ tail │
//!  │ (64 bytes) │ used  │ free ─┼──┐    │ used  │ (bumped on demand)  │      │
//!  └────────────┴───────┴───────┴──┼────┴───────┴─────────────────────┴──────┘
//!    free ──────────────────────────┘─> ... -> null      next_offset ──^
//!
//!  heap (one per thread), per size class:
//!    cache: [block, block, ..., block]      pointers to blocks this thread freed
//!    pool ─> usable pool <─> usable pool    pools with free blocks (full ones leave)
//! ```
//!
//! - **Size classes.** A request of `n <= 512` bytes gets a block of class
//!   `(n - 1) / 16`, whose blocks are `16 * (class + 1)` bytes; every block
//!   is 16-byte aligned because pools are, the header is 64 bytes and every
//!   class size is a multiple of 16. `n == 0` is served from class 0, so it
//!   gets a unique pointer. Larger requests go to the C library.
//! - **Pools.** A pool serves one class. Its header holds a singly linked
//!   free list threaded through the free blocks themselves (`free`), the
//!   number of blocks handed out (`count`), and `next_offset`: blocks past it
//!   have never been used and are handed out by bumping it, so a fresh pool's
//!   pages are touched only by the program using them. A pool is full when
//!   its free list is empty and its never-used tail has no room for a block.
//! - **Heaps.** Each thread allocates from a heap of its own (`heap.rs`),
//!   reached through a thread-local pointer without any lock. For each class
//!   the heap keeps a small stack of blocks it freed (the block cache, 16 to
//!   64 pointers, about 8 KiB of blocks) and the list of its usable pools
//!   (some free blocks). `free` of an own block pushes it on the cache and
//!   `malloc` pops it: neither touches the block or its pool, which keeps a
//!   random mix of sizes in cache and spares the pool-list moves below. When
//!   the cache is full, a freed block goes straight back to its pool; when
//!   it is empty, allocation takes the first block of the first usable
//!   pool. A full pool leaves the list; the first block freed into it puts
//!   it back at the front; a pool whose last block comes back returns to its
//!   arena, unless it is the only usable pool of its class, which is kept so
//!   that a loop of `malloc` and `free` stays on the fast path.
//! - **Arenas.** A heap takes pools from the fullest of its arenas that has a
//!   free pool (buckets by free-pool count), so that the emptiest arenas drain
//!   and can be given back. A wholly free arena is kept for the next pools
//!   (up to eight per heap) and goes back to the OS once it has been free
//!   for [`PURGE_DELAY`](super::PURGE_DELAY) (90 ms), so that freeing and
//!   allocating in waves does not map and unmap over and over.
//! - **Ownership.** An arena belongs to one heap at a time (the heap that
//!   made it, until a thread reclaims it from an exited one); the arena map
//!   (`arena_map.rs`) says in O(1), without touching the block, whether a
//!   pointer lies in one of our arenas and which: "is this a pool block or a
//!   C library block". "Is this block mine" is answered by the arena's slot
//!   table, after the header of its first pool: for each pool in use, the
//!   owner's slot of its class, which names its heap. `free` reaches the
//!   entry from the block's address alone, so the slot it pushes to is one
//!   load away from the block.
//! - **Frees from other threads.** A block freed by a thread that does not own
//!   it is pushed onto its pool's atomic `thread_free` list. The first such
//!   push since the owner last looked also queues the pool on the owner's
//!   atomic `pending` list. The owner takes both lists whole, and frees the
//!   blocks as its own, in its slow paths. Until then they count as in use.
//! - **Threads that exit.** A thread's exit hook collects what it can, gives
//!   back what is empty, and puts a heap that still has live blocks on the
//!   orphan list. A running thread reclaims orphan heaps in its slow paths:
//!   their arenas, pools and live blocks become its own (the slot tables
//!   are rewritten to name its slots), and each orphan, empty now, is
//!   recycled. No block is lost: an orphan's blocks stay valid, and frees
//!   of them from other threads go through `thread_free` as before (a pool
//!   queued on the old owner is passed on to the new). An empty heap goes to the
//!   free list for the next thread, keeping its empty arena (at most four
//!   heaps do), so that threads started one after another do not map and
//!   unmap an arena each.
//!
//! Nothing here allocates through the global allocator (which may be
//! [`PyMalloc`](super::PyMalloc) itself): metadata comes from the C library,
//! arenas from `os.rs`, thread-local state has const initialisers.
//!
//! The fast paths come first below: [`malloc`] pops the class's cache, or
//! else the first block of the first usable pool; [`free`] asks the arena
//! map, reads the pool's slot in the arena's table, compares its heap with
//! the thread's and pushes the block on the slot's cache. Everything else
//! is in `heap.rs`, out of line, named `*_slow`.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::ALIGNMENT;
use super::arena::{Arena, pool_index};
use super::arena_map;
use super::asan;
use super::fatal::invariant;
use super::heap::{self, ClassSlot, Heap};
use super::size_class::{
    ARENA_SIZE, POOL_SIZE, POOLS_PER_ARENA, SMALL_REQUEST_THRESHOLD, class_of, class_size,
};
use super::system;

// ---------------------------------------------------------------------------
// Fast paths.
// ---------------------------------------------------------------------------

/// `malloc(size)`: a block of `size` bytes, 16-byte aligned; null if the
/// memory could not be had or `size > isize::MAX`.
#[inline]
pub(crate) fn malloc(size: usize) -> *mut u8 {
    if size <= SMALL_REQUEST_THRESHOLD {
        return malloc_in(class_of(size), size);
    }
    system::malloc(size)
}

/// A block of `class`, for a request of `size <= class_size(class)` bytes
/// (the C library serves `size` if the thread has no heap).
#[inline(always)]
pub(crate) fn malloc_in(class: usize, size: usize) -> *mut u8 {
    invariant!(
        size <= class_size(class),
        "{size} bytes asked of class {class}"
    );
    let heap = heap::current();
    if !heap.is_null() {
        // SAFETY: the thread-local heap is this thread's, alive while set.
        let cached = unsafe { Heap::pop_cached(heap, class) };
        if !cached.is_null() {
            return cached;
        }
        // SAFETY: as above.
        let pool = unsafe { Heap::usable_pool(heap, class) };
        if !pool.is_null() {
            // SAFETY: `pool` is on `heap`'s usable list of `class`, and
            // this thread services `heap`.
            return unsafe { heap::take_block(heap, pool, class) };
        }
    }
    heap::malloc_small_slow(class, size)
}

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
    // neither of which is its heap (see `heap::reclaim_orphans`).
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
        // SAFETY: `block` is live, so its pool's header is set.
        let class = unsafe { (*pool_of(block)).class } as usize;
        asan::poison(block, class_size(class));
    }
    // SAFETY: `block` is a live block of a pool of this thread's heap, of
    // the slot's class, with its arena's provenance.
    unsafe {
        if !ClassSlot::push_cached(slot, block) {
            heap::free_cache_full_slow(block);
        }
    }
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

/// The pool containing a block.
#[inline(always)]
pub(crate) fn pool_of(p: *mut u8) -> *mut Pool {
    p.map_addr(|a| a & !(POOL_SIZE - 1)).cast()
}

// ---------------------------------------------------------------------------
// The rest of the family, on top of the fast paths.
// ---------------------------------------------------------------------------

/// `calloc(n, size)`: `n * size` zeroed bytes; null on overflow.
#[inline]
pub(crate) fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        return ptr::null_mut();
    };
    if total > SMALL_REQUEST_THRESHOLD {
        return system::calloc(1, total);
    }
    let p = malloc(total);
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of at least `total` bytes.
        unsafe { p.write_bytes(0, total) };
    }
    p
}

/// `realloc(p, size)`. A pool block stays where it is when `size` still fits
/// its class well (more than 3/4 of the block, as obmalloc); otherwise the
/// contents move, up to the smaller size. A C library block stays one.
///
/// # Safety
///
/// - `p` is null or a live block of this module, not freed before; on
///   success it is no longer valid.
#[inline]
pub(crate) unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: as the caller guarantees; the block holds at most its class.
    unsafe { resize(p, usize::MAX, size) }
}

/// [`realloc`] of a block whose caller knows it holds at most `used` bytes
/// (a `Layout`'s size): only those move.
///
/// The contents move through the allocator's own pointer to the block (see
/// [`own`]), never through `p`: the caller's pointer may grant access to no
/// more than the bytes it asked for (a `Box<[u8]>` of 9 bytes in a 16-byte
/// block), and reading the block's class size through it was undefined
/// behaviour to Miri.
///
/// # Safety
///
/// - as [`realloc`].
#[inline]
pub(crate) unsafe fn resize(p: *mut u8, used: usize, size: usize) -> *mut u8 {
    if p.is_null() {
        return malloc(size);
    }
    let arena = arena_map::lookup(p);
    if arena.is_null() {
        // SAFETY: the caller gives a live block of this family, and those
        // outside our arenas came from `system`.
        return unsafe { system::realloc(p, size) };
    }
    // SAFETY: `p` is a live block of `arena`, which is therefore alive.
    let block = unsafe { own(arena, p) };
    // Its pool's class was set before the block was handed out, and does
    // not change while it lives.
    // SAFETY: as above.
    let old_size = class_size(unsafe { (*pool_of(block)).class } as usize);
    if size <= old_size && size * 4 > old_size * 3 {
        return block;
    }
    let q = malloc(size);
    if !q.is_null() {
        // SAFETY: both blocks are live and distinct; `block` covers all of
        // its `old_size` bytes, `q` at least `size`.
        unsafe { ptr::copy_nonoverlapping(block, q, used.min(old_size).min(size)) };
        // SAFETY: the caller gave `p` up; its contents are copied.
        unsafe { free(block) };
    }
    q
}

// ---------------------------------------------------------------------------
// The pool header.
// ---------------------------------------------------------------------------

/// A free block: the link of its pool's free list lives in the block.
#[repr(C)]
pub(crate) struct Block {
    pub(crate) next: *mut Block,
}

/// The header at the start of every pool. The atomic fields are the only
/// ones other threads touch.
#[repr(C)]
pub(crate) struct Pool {
    /// First free block (given back), or null.
    pub(crate) free: *mut Block,
    /// Blocks handed out and not yet back with the owner. Written by the
    /// owner alone, with a plain (Relaxed) load and store, which compile to
    /// the moves a `u32` would; atomic because the heap map
    /// (`heap_map.rs`) reads it from any thread.
    pub(crate) count: AtomicU32,
    /// The size class.
    pub(crate) class: u32,
    /// Offset of the first never-used block; those from here on are handed
    /// out by bumping it, untouched until then.
    pub(crate) next_offset: u32,
    /// The largest offset at which a whole block still fits.
    pub(crate) max_next_offset: u32,
    /// Links of the heap's usable list for the class (or, while the pool is
    /// free, of its arena's free pools, through `next`).
    pub(crate) next: *mut Pool,
    pub(crate) prev: *mut Pool,
    /// Blocks freed by other threads, linked through `Block::next`. Bit 0
    /// ([`QUEUED`]) says the pool is on its owner's `pending` list.
    pub(crate) thread_free: AtomicPtr<Block>,
    /// Link of the owner's `pending` list.
    pub(crate) pending_next: AtomicPtr<Pool>,
}

/// The tag bit of [`Pool::thread_free`]. Blocks are at least 8-byte
/// aligned, so the low bits of a block address are free.
pub(crate) const QUEUED: usize = 1;

/// Bytes of a pool before its first block: the header, rounded up to
/// [`ALIGNMENT`].
pub(crate) const POOL_OVERHEAD: usize = size_of::<Pool>().next_multiple_of(ALIGNMENT);

static_assertions::const_assert_eq!(POOL_OVERHEAD, 64);
// The tag must fit in the low bits that every block address leaves zero.
static_assertions::const_assert!(QUEUED < ALIGNMENT);

/// Bytes of the arena's slot table (see [`slot_entry`]), in its first pool.
const SLOT_TABLE_BYTES: usize = POOLS_PER_ARENA * size_of::<AtomicPtr<ClassSlot>>();

/// Bytes before the first block of pool `index` of an arena: its header,
/// and in the first pool the arena's slot table too.
pub(crate) const fn pool_overhead(index: usize) -> usize {
    if index == 0 {
        POOL_OVERHEAD + SLOT_TABLE_BYTES
    } else {
        POOL_OVERHEAD
    }
}

/// Blocks of class `class` in pool `index` of an arena.
pub(crate) const fn blocks_in_pool(index: usize, class: usize) -> usize {
    (POOL_SIZE - pool_overhead(index)) / class_size(class)
}

impl Pool {
    /// Makes `pool` a fresh pool of `class`, all of whose blocks are never
    /// used yet.
    ///
    /// Field by field, not as one `Pool` written whole: the heap map may be
    /// reading `count` (of the pool's previous life) right now, and a plain
    /// write racing with that atomic read would be a data race. The header's
    /// bytes are initialised already: zeroed by the OS, or a former header.
    ///
    /// # Safety
    ///
    /// - `pool` is a pool of an arena serviced by the calling thread, holding
    ///   no live block and on no list.
    pub(crate) unsafe fn init(pool: *mut Pool, class: usize) {
        let size = class_size(class);
        // SAFETY: the pool's non-atomic fields are ours alone to write; the
        // atomic ones are written atomically, as everyone accesses them.
        unsafe {
            (&raw mut (*pool).free).write(ptr::null_mut());
            (*pool).count.store(0, Ordering::Relaxed);
            (&raw mut (*pool).class).write(class as u32);
            let first = pool_overhead(pool_index(pool.cast()));
            (&raw mut (*pool).next_offset).write(first as u32);
            (&raw mut (*pool).max_next_offset).write((POOL_SIZE - size) as u32);
            (&raw mut (*pool).next).write(ptr::null_mut());
            (&raw mut (*pool).prev).write(ptr::null_mut());
            (*pool)
                .thread_free
                .store(ptr::null_mut(), Ordering::Relaxed);
            (*pool)
                .pending_next
                .store(ptr::null_mut(), Ordering::Relaxed);
            asan::poison(pool.cast::<u8>().add(first), POOL_SIZE - first);
        }
    }
}

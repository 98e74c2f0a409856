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
//!   gets a unique pointer. The families send larger requests to the C
//!   library; [`PyMalloc`](super::PyMalloc) sends those of up to 64 KiB to
//!   the medium classes (576 bytes to 64 KiB, eight to each doubling), whose
//!   pools span 1 to 32 slots of 16 KiB, aligned to their size, so that
//!   each holds at least 7 blocks (`size_class.rs`).
//! - **Pools.** A pool serves one class. Its header holds a singly linked
//!   free list threaded through the free blocks themselves (`free`), the
//!   number of blocks handed out (`count`), and `next_offset`: blocks past it
//!   have never been used and are handed out by bumping it, so a fresh pool's
//!   pages are touched only by the program using them. A pool is full when
//!   its free list is empty and its never-used tail has no room for a block.
//! - **Heaps.** Each thread allocates from a heap of its own (`heap/`),
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
//!   that a loop of `malloc` and `free` stays on the fast path (a pool of
//!   one slot: one of several, up to half an arena, goes back, for the
//!   purger to find; the block cache keeps such a loop fast).
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
//! This file holds the picture and the pool header. The fast paths are in
//! `malloc.rs` (the class's cache, or else the first block of the first
//! usable pool) and `free.rs` (the arena map, the pool's slot in the
//! arena's table, the slot's cache); taking a block from a pool and giving
//! one back are in `heap/pools.rs`, beside the list moves they call;
//! everything else is in `heap/`, out of line, named `*_slow`.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::asan;
use super::size_class::{ALIGNMENT, POOL_SIZE, POOLS_PER_ARENA, class_size, pool_bytes};

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
/// [`ALIGNMENT`] (`size_class.rs` counts on 64 for the medium pools' spans).
pub(crate) const POOL_OVERHEAD: usize = size_of::<Pool>().next_multiple_of(ALIGNMENT);

static_assertions::const_assert_eq!(POOL_OVERHEAD, 64);
// The tag must fit in the low bits that every block address leaves zero.
static_assertions::const_assert!(QUEUED < ALIGNMENT);

/// Bytes of the arena's slot table (`arena::slot_entry`: one pointer per
/// pool), in its first pool.
pub(crate) const SLOT_TABLE_BYTES: usize = POOLS_PER_ARENA * size_of::<*const ()>();

/// Bytes before the first block of the pool at slot `index` of an arena:
/// its header, and at slot 0 the arena's slot table too.
pub(crate) const fn pool_overhead(index: usize) -> usize {
    if index == 0 {
        POOL_OVERHEAD + SLOT_TABLE_BYTES
    } else {
        POOL_OVERHEAD
    }
}

/// Blocks of a pool of class `class` at slot `index` of an arena.
pub(crate) const fn blocks_in_pool(index: usize, class: usize) -> usize {
    (pool_bytes(class) - pool_overhead(index)) / class_size(class)
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
        // The header may lie where a pool of several slots had its free
        // blocks, which AddressSanitizer was told of.
        asan::unpoison(pool.cast(), POOL_OVERHEAD);
        // SAFETY: the pool's non-atomic fields are ours alone to write; the
        // atomic ones are written atomically, as everyone accesses them.
        unsafe {
            (&raw mut (*pool).free).write(ptr::null_mut());
            (*pool).count.store(0, Ordering::Relaxed);
            (&raw mut (*pool).class).write(class as u32);
            let first = pool_overhead(pool_index(pool.cast()));
            (&raw mut (*pool).next_offset).write(first as u32);
            (&raw mut (*pool).max_next_offset).write((pool_bytes(class) - size) as u32);
            (&raw mut (*pool).next).write(ptr::null_mut());
            (&raw mut (*pool).prev).write(ptr::null_mut());
            (*pool)
                .thread_free
                .store(ptr::null_mut(), Ordering::Relaxed);
            (*pool)
                .pending_next
                .store(ptr::null_mut(), Ordering::Relaxed);
            asan::poison(pool.cast::<u8>().add(first), pool_bytes(class) - first);
        }
    }
}

/// The pool holding a block of class `class`: pools are aligned to their
/// size.
#[inline(always)]
pub(crate) fn pool_of(p: *mut u8, class: usize) -> *mut Pool {
    p.map_addr(|a| a & !(pool_bytes(class) - 1)).cast()
}

/// The index in its arena of the pool slot holding `p`.
#[inline(always)]
pub(crate) fn pool_index(p: *const u8) -> usize {
    (p.addr() / POOL_SIZE) % POOLS_PER_ARENA
}

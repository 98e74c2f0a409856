//! Memory: the three allocation families of CPython's `Include/pymem.h` and
//! `Include/objimpl.h`.
//!
//! | family | CPython | serves |
//! | --- | --- | --- |
//! | `raw_*` | `PyMem_RawMalloc` | the system allocator, thread-safe, any size |
//! | `mem_*` | `PyMem_Malloc` | general buffers |
//! | `object_*` | `PyObject_Malloc` | objects |
//!
//! Every function returns null on failure and never panics. A pointer must be
//! given back to the family that handed it out: "never mix calls to
//! `PyObject_` memory functions with calls to the platform malloc or with
//! `PyMem_`".
//!
//! Every block is aligned to [`ALIGNMENT`] (16 bytes). A request of 0 bytes
//! returns a unique pointer (which must still be freed); a request past
//! `isize::MAX`, or a `calloc` whose `n * size` overflows, returns null.
//!
//! `object_*` and `mem_*` are served by the pool allocator (CPython's
//! pymalloc): requests of at most 512 bytes from 16 KiB pools in 32 size
//! classes, carved from 1 MiB arenas, each thread allocating from a heap of
//! its own; larger ones by the C library, which also serves small ones
//! when no arena can be mapped (as CPython's pymalloc falls back to
//! `PyMem_RawMalloc`); a [`SerializedHeap`] is one heap for all the threads
//! that hold a lock (CPython's GIL). `raw_*` is the C library's
//! allocator. [`stats`] and [`debug_malloc_stats`] report on the pools, and
//! [`PyMalloc`] makes them the global allocator, serving from them requests
//! of up to 64 KiB as well, in 56 medium classes. The module `pool` explains
//! the design.
//!
//! # Domains
//!
//! Each family is a [`Domain`] with an installed [`Allocator`], as in
//! CPython's `PyMem_SetAllocator`: [`get_allocator`] gives the one in place,
//! [`set_allocator`] puts another (a wrapper that counts, or fails on
//! purpose) behind a family. While a domain has its default, the family
//! calls it directly: one load and a predictable branch more than calling
//! the pool itself. `OBJIMPL_MALLOC` chooses at the first allocation, as
//! `PYTHONMALLOC` does: `pymalloc`, `malloc` (the C library for every
//! family), `debug` or `pymalloc_debug` (the hooks over the pool),
//! `malloc_debug`, or `default`. [`PyMalloc`] is always the pool itself.
//!
//! # When memory goes wrong
//!
//! The debug hooks ([`setup_debug_hooks`], `OBJIMPL_MALLOC=debug`, and the
//! default in builds with `debug_assertions`) surround each block with
//! forbidden bytes, fill fresh memory with [`CLEAN_BYTE`] and freed memory
//! with [`DEAD_BYTE`], number every allocation, and know every block they
//! handed out (a pool block by two bits beside its arena). They find a buffer overflow or underflow, a block given back
//! to the wrong family, a double free, a free of a pointer they never handed
//! out, and a write after free (freed blocks wait in a quarantine of up to
//! [`QUARANTINE_BLOCKS`] blocks and [`QUARANTINE_BYTES`] bytes, checked when
//! they leave it, or by [`check_memory`]). Each error is a [`Report`]: printed
//! before the process aborts, or handed to the handler set with
//! [`set_error_handler`]. With [`set_trace`] (`OBJIMPL_MALLOC_TRACE=1`) a
//! report shows the stacks that allocated and freed the block.
//!
//! # Debug builds
//!
//! In a build with `debug_assertions` (cargo's `dev` and `test` profiles),
//! the three families run under the debug hooks unless `OBJIMPL_MALLOC`
//! says otherwise, as CPython's debug build does: every object, every
//! `mem_*` and `raw_*` block is checked, at a cost (about five times the
//! time of an allocation and a free, and 32 bytes a block). Freed blocks wait
//! in the quarantine, so the pool counts them in use: [`Stats`] reports them
//! apart ([`quarantined_blocks`](Stats::quarantined_blocks)). For figures of
//! the pool alone, or a debug build's speed, set `OBJIMPL_MALLOC=pymalloc` or
//! build with `--release`. [`PyMalloc`], the global allocator, is the pool
//! itself, never under the hooks.
//!
//! ```
//! let hooks_on = objimpl::alloc::debug_hooks_on(objimpl::alloc::Domain::Object);
//! assert_eq!(hooks_on, cfg!(debug_assertions) && std::env::var_os("OBJIMPL_MALLOC").is_none());
//! ```
//!
//! # `fork()`
//!
//! A process may fork while other threads allocate: `pthread_atfork`
//! handlers hold every lock of the allocator across the fork (the debug
//! hooks' too, and the one under which they capture stacks, so that no
//! thread is inside `std::backtrace` at that moment), and the child
//! allocates and frees as usual. The other threads' heaps stay in the child
//! as they were, with their blocks: a block of theirs that the child frees
//! is never reused in the child, whose arenas then grow for what it
//! allocates again. The child does not reclaim those heaps, as a thread
//! reclaims an exited thread's: their threads change them without a lock, and
//! may have been half-way through a change at the fork, which would leave
//! them torn in the child.
//!
//! # How the allocator is built
//!
//! In floors, from the bottom up. A room calls only rooms of the floors
//! below it (and in `heap/` and `debug/`, the rooms listed before it), as
//! mimalloc's `src/` does, one file per concept:
//!
//! - `size_class`: the geometry: size classes, pools, arenas, [`ALIGNMENT`].
//! - `fatal`: a broken invariant: report and abort, never a panic.
//! - `fork`: the `pthread_atfork` handlers; each lock's owner registers its
//!   step, by rank, which keeps the one lock order.
//! - `asan`: which pool blocks are free, told to AddressSanitizer.
//! - `os`: where arenas come from: `mmap` (`std::alloc` under Miri).
//! - `system`: the C library: `raw_*`, requests past 512 bytes (past 64 KiB
//!   for [`PyMalloc`]), records.
//! - `pool`: the picture of the design, and the pool header.
//! - `arena_map`: the radix map: is this pointer ours, and in which arena.
//! - `arena`: arenas, their free pools, the registry, the slot table.
//! - `purge/`: kept arenas' pages given back while their threads idle
//!   (`mod`), by the purger thread (`thread`).
//! - `heap/mod`: the heap record, its class slots and block caches.
//! - `heap/housekeeping`: the quiet marks the statistics read across it.
//! - `heap/kept`: the empty arenas a heap keeps, and their purge clock.
//! - `heap/pools`: taking and giving blocks; usable pools, arena buckets.
//! - `heap/remote`: frees from other threads, and the pending queue.
//! - `heap/lists`: every heap, the free heaps, the orphans reclaimed.
//! - `heap/thread`: each thread's heap, and the slow path that makes it.
//! - `free`: the fast path of `free`.
//! - `malloc`: the fast path of `malloc`; `calloc` and `realloc` on top.
//! - `domain`: [`Domain`], [`Allocator`], each domain's slot, the built-ins.
//! - `debug/own_code`: whether the hooks' own code runs on this thread.
//! - `debug/spin`: the quarantine shards' lock, let go by a store.
//! - `debug/block`: a block's head and tail.
//! - `debug/marks`: which pool blocks the hooks handed out, two bits each.
//! - `debug/registry`: the hooks' other blocks, the quarantine, the stacks.
//! - `debug/report`: reports, the error handler, stacks.
//! - `debug/known`: what the hooks know of a block, however they know it.
//! - `debug/checks`: the checks of a block's guards, and the reports' text.
//! - `debug/inspect`: `check_memory` and `block_info`.
//! - `debug/mod`: the debug hooks, an [`Allocator`] over another.
//! - `config`: `OBJIMPL_MALLOC`: what each domain's slot holds.
//! - `stats`: [`stats`] and [`debug_malloc_stats`].
//! - `heap_map/`: [`heap_map_svg`]: every arena and pool, as a picture.
//! - `global`: [`PyMalloc`], the `GlobalAlloc`.
//! - this file: the families, [`release_free_memory`], [`PURGE_DELAY`].
//!
//! Two names go up a floor, as types only, since the records point at one
//! another: `arena_map` holds pointers to `arena`'s records, and an arena
//! names its owning heap and, per pool in use, the owner's class slot.
//! Neither floor reads through them or calls the heap. The freelists of the
//! object layer report to `stats` through a function they register.

mod arena;
mod arena_map;
mod asan;
mod config;
mod debug;
mod domain;
mod fatal;
mod fork;
mod free;
mod global;
mod heap;
mod heap_map;
mod malloc;
mod os;
mod pool;
mod purge;
mod serialized;
mod size_class;
mod stats;
mod system;

pub use config::{debug_hooks_on, get_allocator, set_allocator, setup_debug_hooks};
pub use debug::{
    BlockInfo, CLEAN_BYTE, DEAD_BYTE, ErrorKind, FORBIDDEN_BYTE, QUARANTINE_BLOCKS,
    QUARANTINE_BYTES, Report, block_info, check_memory, set_error_handler, set_trace,
};
pub use domain::{Allocator, Domain};
pub use global::PyMalloc;
pub use heap_map::heap_map_svg;
pub use serialized::SerializedHeap;
pub use size_class::ALIGNMENT;
pub use stats::{ClassStats, Stats, debug_malloc_stats, stats};
pub(crate) use stats::{FreeObjects, FreeObjectsReporter, report_free_objects_with};

/// The pool allocator itself, as [`Allocator::pymalloc`] serves the mem and
/// object families by default (CPython's `_PyObject_Malloc` and company):
/// no domain is looked up, and the functions inline into the caller. For a
/// program that puts the pools under an interface of its own, as
/// `objimpl-python` puts them under CPython's domains; the families'
/// functions ([`object_malloc`] and the rest) follow what each domain holds
/// instead.
///
/// ```
/// use objimpl::alloc::pymalloc;
/// let p = pymalloc::malloc(100);
/// assert!(!p.is_null());
/// // SAFETY: `p` came from `pymalloc::malloc` and is live.
/// let p = unsafe { pymalloc::realloc(p, 200) };
/// // SAFETY: `p` came from `pymalloc::realloc` and is freed once.
/// unsafe { pymalloc::free(p) };
/// ```
pub mod pymalloc {
    use super::{free as free_, malloc as malloc_};

    /// A block of `size` bytes aligned to [`ALIGNMENT`](super::ALIGNMENT):
    /// from the pools up to 512 bytes, past that from the C library; null
    /// if the memory could not be had or `size > isize::MAX`.
    #[inline]
    #[must_use = "the memory leaks unless it is freed"]
    pub fn malloc(size: usize) -> *mut u8 {
        malloc_::malloc(size)
    }

    /// `n * size` zeroed bytes, as [`malloc`] gives them; null on overflow.
    #[inline]
    #[must_use = "the memory leaks unless it is freed"]
    pub fn calloc(n: usize, size: usize) -> *mut u8 {
        malloc_::calloc(n, size)
    }

    /// Resizes a block of these functions (a null `p` is [`malloc`]),
    /// keeping its contents up to the smaller size: in place while the new
    /// size fills more than three quarters of its pool block. Null on
    /// failure, and `p` stays valid.
    ///
    /// # Safety
    ///
    /// - `p` is null or a live block of these functions; on success it is
    ///   no longer valid.
    #[inline]
    #[must_use = "on success the old pointer is dangling: use the returned one"]
    pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees.
        unsafe { malloc_::realloc(p, size) }
    }

    /// Gives a block back; null does nothing.
    ///
    /// # Safety
    ///
    /// - `p` is null or a live block of these functions, not freed before.
    #[inline]
    pub unsafe fn free(p: *mut u8) {
        // SAFETY: as the caller guarantees.
        unsafe { free_::free(p) }
    }
}

/// [`object_malloc`], inlined into the object constructors, where the size
/// is a constant: its size class is then known at compile time.
#[inline(always)]
pub(crate) fn object_malloc_inlined(size: usize) -> *mut u8 {
    if domain::is_default(Domain::Object) {
        malloc::malloc(size)
    } else {
        config::malloc(size, Domain::Object)
    }
}

/// [`object_free`] of a block of `size` bytes, inlined into the object
/// destructors, where the size is a constant: the class is then known, and
/// `free` finds the thread's slot of it without waiting for the block's
/// (see [`free::free_in`]). A block of another size, heap or allocator is
/// freed as [`object_free`] frees it.
///
/// # Safety
///
/// As [`object_free`]; `size` may be any size.
#[inline(always)]
pub(crate) unsafe fn object_free_sized(p: *mut u8, size: usize) {
    if domain::is_default(Domain::Object) && size <= malloc::SMALL {
        // SAFETY: as the caller guarantees; a block of the family's own
        // allocator.
        unsafe { free::free_in(p, size_class::class_of(size)) }
    } else {
        // SAFETY: as the caller guarantees.
        unsafe { object_free(p) }
    }
}

/// How long the pool allocator keeps a wholly free arena for reuse before its
/// memory goes back to the OS: 90 ms, so that memory freed for good is back
/// with the OS within 100 ms.
///
/// A thread keeps at most eight such arenas (8 MiB), so that a program that
/// frees and allocates in waves reuses its memory instead of faulting it in
/// again each time. Once an arena has been free for the delay, the thread
/// unmaps it on its next slow path (when it takes a new pool or empties an
/// arena); if the thread idles instead, a purger thread of the allocator's
/// gives the arena's pages back (`madvise(MADV_DONTNEED)`), leaving the
/// address space mapped for the thread's next allocations. The purger does
/// the same for the free pools of an arena in use once no pool of it has
/// been given back for the delay.
/// [`release_free_memory`] gives the calling thread's back at once.
///
/// The purger starts when the first arena is kept, and ends after a second
/// with nothing to purge (the next kept arena starts it again): an idle
/// process keeps no thread of the allocator's, and a process whose last
/// thread ends by `pthread_exit` ends. `OBJIMPL_PURGE_THREAD=0`
/// in the environment keeps it from starting, for a program that wants no
/// thread but its own: then an idle thread's kept arenas stay until it
/// allocates again, calls [`release_free_memory`], or exits.
/// [`Stats::arenas_purged`] and [`Stats::pools_purged`] count its work.
///
/// ```
/// use objimpl::alloc;
/// assert_eq!(alloc::PURGE_DELAY.as_millis(), 90);
/// ```
pub const PURGE_DELAY: core::time::Duration =
    core::time::Duration::from_millis(purge::PURGE_DELAY_MS);

/// Gives back to the OS, now, the memory the calling thread's pools keep for
/// reuse (glibc's `malloc_trim`, mimalloc's `mi_collect`): the blocks in its
/// caches go back to their pools, empty pools to their arenas, and every
/// wholly free arena to the OS, without waiting for [`PURGE_DELAY`].
///
/// ```
/// use objimpl::alloc;
/// let blocks: Vec<*mut u8> = (0..1000).map(|_| alloc::object_malloc(32)).collect();
/// for p in blocks {
///     // SAFETY: each came from `object_malloc` and is freed once.
///     unsafe { alloc::object_free(p) };
/// }
/// alloc::release_free_memory();
/// ```
pub fn release_free_memory() {
    heap::release_free_memory();
}

macro_rules! family {
    (
        $family:literal, $cpython:literal,
        $malloc:ident, $calloc:ident, $realloc:ident, $free:ident,
        $domain:ident, $alloc:ident, $dealloc:ident
    ) => {
        #[doc = concat!("Allocates `size` bytes from the ", $family, " family (`", $cpython, "_Malloc`).")]
        ///
        /// Returns a pointer aligned to [`ALIGNMENT`], or null if the memory could not be
        /// had or `size` exceeds `isize::MAX`. The bytes are uninitialised. `size == 0`
        /// returns a unique non-null pointer.
        ///
        /// ```
        #[doc = concat!("use objimpl_core::alloc::{", stringify!($malloc), ", ", stringify!($free), "};")]
        #[doc = concat!("let p = ", stringify!($malloc), "(100);")]
        /// assert!(!p.is_null());
        #[doc = concat!("// SAFETY: `p` came from `", stringify!($malloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(p) };")]
        /// ```
        #[inline]
        #[must_use = "the memory leaks unless it is freed"]
        pub fn $malloc(size: usize) -> *mut u8 {
            if domain::is_default(Domain::$domain) {
                $alloc::malloc(size)
            } else {
                config::malloc(size, Domain::$domain)
            }
        }

        #[doc = concat!("Allocates `n * size` zeroed bytes from the ", $family, " family (`", $cpython, "_Calloc`).")]
        ///
        /// Returns null if `n * size` overflows or exceeds `isize::MAX`, or if the memory
        /// could not be had.
        ///
        /// ```
        #[doc = concat!("use objimpl_core::alloc::{", stringify!($calloc), ", ", stringify!($free), "};")]
        #[doc = concat!("let p = ", stringify!($calloc), "(4, 8);")]
        #[doc = concat!("// SAFETY: `", stringify!($calloc), "` returned 32 zeroed bytes.")]
        /// assert_eq!(unsafe { std::slice::from_raw_parts(p, 32) }, &[0; 32]);
        #[doc = concat!("assert!(", stringify!($calloc), "(usize::MAX, 2).is_null());")]
        #[doc = concat!("// SAFETY: `p` came from `", stringify!($calloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(p) };")]
        /// ```
        #[inline]
        #[must_use = "the memory leaks unless it is freed"]
        pub fn $calloc(n: usize, size: usize) -> *mut u8 {
            if domain::is_default(Domain::$domain) {
                $alloc::calloc(n, size)
            } else {
                config::calloc(n, size, Domain::$domain)
            }
        }

        #[doc = concat!("Resizes a block of the ", $family, " family to `size` bytes (`", $cpython, "_Realloc`).")]
        ///
        /// The contents up to the smaller of the old and new sizes are kept. A null `p`
        /// makes this a `malloc`. On failure it returns null and `p` stays valid.
        ///
        /// # Safety
        ///
        #[doc = concat!("- `p` is null or a live pointer returned by this family (`", stringify!($malloc), "`,")]
        #[doc = concat!("  `", stringify!($calloc), "` or `", stringify!($realloc), "`);")]
        /// - on success `p` is no longer valid: use the returned pointer.
        ///
        /// ```
        #[doc = concat!("use objimpl_core::alloc::{", stringify!($malloc), ", ", stringify!($realloc), ", ", stringify!($free), "};")]
        #[doc = concat!("let p = ", stringify!($malloc), "(8);")]
        /// // SAFETY: `p` is a live block of at least 8 bytes.
        /// unsafe { p.write_bytes(7, 8) };
        #[doc = concat!("// SAFETY: `p` is live and from this family; we use only `q` afterwards.")]
        #[doc = concat!("let q = unsafe { ", stringify!($realloc), "(p, 1000) };")]
        /// // SAFETY: the first 8 bytes were kept.
        /// assert_eq!(unsafe { *q.add(7) }, 7);
        #[doc = concat!("// SAFETY: `q` came from `", stringify!($realloc), "` and is freed once.")]
        #[doc = concat!("unsafe { ", stringify!($free), "(q) };")]
        /// ```
        #[inline]
        #[must_use = "on success the old pointer is dangling: use the returned one"]
        pub unsafe fn $realloc(p: *mut u8, size: usize) -> *mut u8 {
            if domain::is_default(Domain::$domain) {
                // SAFETY: the caller gives a block of this family, whose
                // allocator has been the default since it was made.
                unsafe { $alloc::realloc(p, size) }
            } else {
                // SAFETY: the caller gives a block of this family.
                unsafe { config::realloc(p, size, Domain::$domain) }
            }
        }

        #[doc = concat!("Frees a block of the ", $family, " family (`", $cpython, "_Free`). Null does nothing.")]
        ///
        /// # Safety
        ///
        #[doc = concat!("- `p` is null or a live pointer returned by this family (`", stringify!($malloc), "`,")]
        #[doc = concat!("  `", stringify!($calloc), "` or `", stringify!($realloc), "`), not freed before.")]
        ///
        /// ```
        #[doc = concat!("use objimpl_core::alloc::", stringify!($free), ";")]
        /// // SAFETY: freeing null is allowed and does nothing.
        #[doc = concat!("unsafe { ", stringify!($free), "(std::ptr::null_mut()) };")]
        /// ```
        #[inline]
        pub unsafe fn $free(p: *mut u8) {
            if domain::is_default(Domain::$domain) {
                // SAFETY: as in `realloc`.
                unsafe { $dealloc::free(p) }
            } else {
                // SAFETY: the caller gives a block of this family.
                unsafe { config::free(p, Domain::$domain) }
            }
        }
    };
}

family!(
    "raw",
    "PyMem_Raw",
    raw_malloc,
    raw_calloc,
    raw_realloc,
    raw_free,
    Raw,
    system,
    system
);
family!(
    "mem",
    "PyMem",
    mem_malloc,
    mem_calloc,
    mem_realloc,
    mem_free,
    Mem,
    malloc,
    free
);
family!(
    "object",
    "PyObject",
    object_malloc,
    object_calloc,
    object_realloc,
    object_free,
    Object,
    malloc,
    free
);

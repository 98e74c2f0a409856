//! The heap map: a picture of the pool allocator, as SVG.
//!
//! ```text
//!  Heap map · 3 arenas (3 MiB) · 130 pools in use · ...     title: the totals in one line
//!  ┌ Totals ───────────────┐  ┌ Pools per size class ──────────────────┐
//!  │ [alloc|avail|unused|…]│  │  ▆ ▂ █ ▁ ▃          bars: pools,        │
//!  │ arenas, bytes, blocks │  │  16 32 48 ... 512   filled: handed out  │
//!  └───────────────────────┘  └─────────────────────────────────────────┘
//!  Pool cells: [0%] [25%] ... [100%] [free] [never used]
//!  heap 1 (this thread) · 2 arenas
//!   0x7f..00000  ■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■ ... (64 cells)   64/64 · 97%
//!   0x7f..00000  ■■■■■■■■□□□□..................                              12/64 · 15%
//!  heap 2 · 1 arena
//!   ...
//! ```
//!
//! Every arena is a row and every pool a cell: coloured by its size class
//! (eight hues in turn, so that neighbouring classes differ, in a shade for
//! each 128 bytes of block size), filled from the bottom in proportion to
//! the blocks it has handed out, on a pale tint of the same colour. A pool given back to its arena is grey; a
//! pool never carved is white. Rows are grouped by the heap (the thread)
//! owning the arena, and end with the pools in use and the share of the
//! arena's bytes in handed-out blocks. Elements carry the figures as
//! `data-*` attributes, for tests and tools.
//!
//! # Reading other threads' arenas
//!
//! Each arena's owner changes its pools with plain, unsynchronised stores,
//! and may unmap an empty arena at any time. The picture reads them anyway,
//! soundly:
//!
//! - **Nothing is unmapped under it.** Arenas are linked into the registry
//!   of arenas (`arena.rs`) when created and out of it before they are
//!   unmapped, under its lock; the picture holds that lock
//!   ([`Held`](arena::Held)) while it walks the registry. Creating and
//!   destroying arenas is rare (an `mmap` each), and the fast paths never
//!   take the lock.
//! - **Everything read is an atomic.** A pool's state is the arena's class
//!   byte for it (a class, or free, or never used), and its fill is its
//!   header's `count`: both atomics, written by the owner alone with Relaxed
//!   loads and stores that compile to the plain moves they replaced. The
//!   header of a pool not in use is never read: never-used pages stay
//!   untouched, and a free pool's header is stale.
//! - **Nothing is allocated under the lock.** A thread waiting for a new
//!   arena waits for the lock, and the global allocator may be
//!   [`PyMalloc`](super::PyMalloc): an allocation under the lock, on this
//!   thread, could wait for itself. The rows are reserved before the lock
//!   (as many as there are arenas, which cannot change while it is held;
//!   if more arenas appeared meanwhile, it lets go and reserves again), and
//!   all writing happens after it.
//!
//! While other threads allocate, each figure is one they held, not all from
//! one instant, as with [`stats`](super::stats). The arenas and the arena
//! counts are from one instant: both change only under the lock.

use std::io::{self, BufWriter, Write};

mod snapshot;
mod svg;

use snapshot::Snapshot;

/// Writes a picture of the pool allocator as an SVG document: every arena a
/// row, every pool a cell, coloured by size class and filled in proportion
/// to the blocks it has handed out, with a legend and the figures of
/// [`stats`](super::stats).
///
/// It covers every thread's heap. Like [`stats`](super::stats), it first
/// does the calling thread's deferred work (blocks other threads freed into
/// its heap, heaps of exited threads). While it reads the arenas, no arena
/// is created or destroyed: a thread that needs a new arena meanwhile waits
/// (about 100 µs per hundred arenas, measured on x86-64); allocations that
/// need no new arena do not.
///
/// Like [`stats`](super::stats()), it reads when no thread is giving blocks,
/// pools or arenas back (at its exit, or in
/// [`release_free_memory`](super::release_free_memory)), and reads again if
/// such work began meanwhile. If that work never pauses (threads exiting
/// or calling `release_free_memory` one after another), it stops trying
/// after about a quarter of a second and draws what it read last, whose
/// figures may count what the work moved twice or not at all.
///
/// The elements carry their figures for tools: each arena row is a `<g>`
/// with `data-arena` (its address) and `data-heap` (a number per heap);
/// each pool cell a `<rect>` with `data-state` (`used`, `free` or
/// `untouched`) and, in use, `data-class`, `data-size`, `data-used` (blocks
/// handed out) and `data-capacity` (blocks per pool); each size class a
/// `<g>` with `data-size-class`, `data-pools`, `data-blocks-in-use` and
/// `data-blocks-cached`; and `<g id="totals">` the [`Stats`](super::Stats) totals, as
/// `data-arenas-current` and so on.
///
/// ```
/// use objimpl::alloc;
///
/// let blocks: Vec<*mut u8> = (1..=512).map(alloc::object_malloc).collect();
/// let mut svg = Vec::new();
/// alloc::heap_map_svg(&mut svg)?;
/// let svg = String::from_utf8(svg).unwrap();
/// assert!(svg.starts_with("<?xml"));
/// assert!(svg.contains(r#"data-state="used""#));
/// // Open it in a browser:
/// // std::fs::write(std::env::temp_dir().join("heap-map.svg"), &svg)?;
/// for p in blocks {
///     // SAFETY: `p` came from `object_malloc` and is freed once.
///     unsafe { alloc::object_free(p) };
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn heap_map_svg(out: &mut impl io::Write) -> io::Result<()> {
    let snapshot = Snapshot::take();
    let mut out = BufWriter::new(out);
    snapshot.write_svg(&mut out)?;
    out.flush()
}

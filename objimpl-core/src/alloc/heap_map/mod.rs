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

use super::arena::{self, ArenaView, PoolState};
use super::heap::{self, Heap};
use super::size_class::{NUM_CLASSES, POOLS_PER_ARENA, class_size};
use super::stats::{self, Stats};

mod svg;

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
/// `data-blocks-cached`; and `<g id="totals">` the [`Stats`] totals, as
/// `data-arenas-current` and so on.
///
/// ```
/// use objimpl_core::alloc;
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

// ---------------------------------------------------------------------------
// The snapshot: read under the lock, without allocating.
// ---------------------------------------------------------------------------

/// Rows reserved beyond the arenas counted before the lock, so that a few
/// arenas made meanwhile need no second try.
const SPARE_ROWS: usize = 8;

/// What the picture shows, read in one go.
struct Snapshot {
    /// The figures of `stats()`, read with the arenas held.
    stats: Stats,
    /// Per class, blocks in the heaps' block caches: handed out to their
    /// pools, not in use to the statistics.
    cached: [usize; NUM_CLASSES],
    /// Every arena, grouped by heap (in [`Snapshot::heaps`] order), then by
    /// address.
    arenas: Vec<ArenaRow>,
    /// Every heap ever made, oldest first: heap `n` in the picture is
    /// `heaps[n - 1]`.
    heaps: Vec<*const Heap>,
    /// The calling thread's heap, or null.
    current: *const Heap,
}

/// One arena, as read.
struct ArenaRow {
    base: usize,
    heap: *const Heap,
    pools: [PoolState; POOLS_PER_ARENA],
}

impl ArenaRow {
    fn read(view: ArenaView<'_>) -> ArenaRow {
        ArenaRow {
            base: view.base(),
            heap: view.heap(),
            pools: core::array::from_fn(|index| view.pool(index)),
        }
    }

    fn pools_in_use(&self) -> usize {
        self.pools
            .iter()
            .filter(|p| matches!(p, PoolState::InUse { .. }))
            .count()
    }

    /// Bytes in the blocks its pools have handed out.
    fn bytes_handed_out(&self) -> usize {
        self.pools
            .iter()
            .map(|p| match *p {
                PoolState::InUse { class, used } => used as usize * class_size(class as usize),
                _ => 0,
            })
            .sum()
    }
}

impl Snapshot {
    fn take() -> Snapshot {
        // The deferred work first, as `stats()` does; it may give arenas
        // back, which takes the lock, so it cannot run under it.
        heap::collect_current();
        let mut arenas: Vec<ArenaRow> = Vec::new();
        // As `stats()`: not across a heap's housekeeping, if that comes
        // within its bound of tries; else what it read after them.
        let mut tries = stats::QuietReads::new();
        // The most arenas a reading found, when more than the rows reserved.
        let mut seen = 0;
        let (stats, cached) = loop {
            // A reading that found more arenas than rows is taken again,
            // even once the tries are used up: the rows reserved then
            // exceed the most arenas any reading found, so each such
            // reading found more than all before, and arenas cannot grow
            // for ever.
            arenas.reserve(arena::current_arenas().max(seen) + SPARE_ROWS);
            let read = tries.read(|held| {
                if held.count() > arenas.capacity() {
                    // Arenas were made since we counted: reserve again, unlocked.
                    seen = held.count();
                    return None;
                }
                // From here until the lock goes, nothing allocates:
                // `stats::snapshot` and `for_each_heap` only read counters,
                // and `push` stays within the capacity, which covers every
                // arena held.
                let stats = stats::snapshot(held);
                let mut cached = [0; NUM_CLASSES];
                heap::for_each_heap(|h| {
                    for (class, n) in cached.iter_mut().enumerate() {
                        *n += h.cached(class);
                    }
                });
                held.for_each(|view| {
                    if arenas.len() < arenas.capacity() {
                        arenas.push(ArenaRow::read(view));
                    }
                });
                Some((stats, cached))
            });
            match read {
                Some(Some(read)) => break read,
                _ => arenas.clear(),
            }
        };
        let mut heaps = Vec::new();
        heap::for_each_heap(|h| heaps.push(core::ptr::from_ref(h)));
        // The registry lists the newest first; number the oldest 1.
        heaps.reverse();
        let number = |heap: *const Heap| heaps.iter().position(|&h| h == heap);
        arenas.sort_by_key(|row| (number(row.heap), row.base));
        Snapshot {
            stats,
            cached,
            arenas,
            heaps,
            current: heap::current(),
        }
    }

    /// The number of `heap` in the picture, from 1.
    fn heap_number(&self, heap: *const Heap) -> usize {
        // Heaps are never freed and the registry only grows, so every
        // arena's owner is listed.
        self.heaps
            .iter()
            .position(|&h| h == heap)
            .map_or(0, |i| i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::pool::blocks_in_pool;
    use crate::alloc::size_class::ARENA_SIZE;
    use crate::alloc::{object_free, object_malloc};

    /// A thread's life: a heap, an arena, pools of a few classes filled and
    /// emptied; at exit its heap gives the arena back to the OS.
    fn churn(blocks: usize) {
        let held: Vec<*mut u8> = (0..blocks)
            .map(|i| object_malloc(8 + i % 5 * 100))
            .collect();
        for p in held {
            // SAFETY: from `object_malloc`, freed once.
            unsafe { object_free(p) };
        }
    }

    /// Takes a snapshot, as the picture does, and checks it against
    /// itself: rows and arena counts are both read with the arenas held, so
    /// they agree whatever other threads do.
    fn check_a_snapshot() {
        let snapshot = Snapshot::take();
        assert_eq!(snapshot.arenas.len(), snapshot.stats.arenas_current);
        for row in &snapshot.arenas {
            assert_eq!(row.base % ARENA_SIZE, 0);
            assert!(
                snapshot.heap_number(row.heap) > 0,
                "its owner is a known heap"
            );
            for (index, pool) in row.pools.into_iter().enumerate() {
                if let PoolState::InUse { class, used } = pool {
                    assert!((class as usize) < NUM_CLASSES);
                    assert!(used as usize <= blocks_in_pool(index, class as usize));
                }
            }
        }
    }

    /// Housekeeping that never ends while the picture is taken (a thread
    /// suspended in the middle of its exit, or threads that exit or call
    /// `release_free_memory` one after another without a pause) overlaps
    /// every try: after its bound of tries, the snapshot reads anyway.
    /// Without the bound it tried for ever.
    #[test]
    fn a_snapshot_across_housekeeping_that_never_ends_comes_back() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            heap::as_housekeeping(|| {
                let snapshot = Snapshot::take();
                let _ = tx.send(snapshot.arenas.len() == snapshot.stats.arenas_current);
            });
        });
        // About a quarter of a second; generous for a loaded machine and Miri.
        let rows_match = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the snapshot did not come back within 20 s");
        assert!(rows_match, "rows and arenas are read together");
    }

    /// Under Miri this is the soundness check of the picture's reads (the
    /// rest of the picture is safe code): the owners' stores to pool
    /// headers and class bytes race with the snapshot's reads (a plain store
    /// among them would be reported as a data race), and arenas are given
    /// back while snapshots are taken (a read after that would be a
    /// use-after-free).
    #[test]
    fn snapshots_taken_while_threads_take_and_give_back_arenas_read_only_live_ones() {
        let (threads, blocks) = if cfg!(miri) { (3, 60) } else { (40, 2000) };
        std::thread::scope(|s| {
            let worker = s.spawn(move || {
                for _ in 0..threads {
                    std::thread::spawn(move || churn(blocks)).join().unwrap();
                }
            });
            let mut snapshots = 0;
            while !worker.is_finished() || snapshots == 0 {
                check_a_snapshot();
                snapshots += 1;
            }
        });
    }
}

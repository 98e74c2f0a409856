//! What the heap map shows, read in one go: every arena's pools, under the
//! arena registry's lock and without allocating, with the figures of
//! `stats()`.

use super::super::arena::{self, ArenaView, PoolState};
use super::super::heap::{self, Heap};
use super::super::size_class::{NUM_CLASSES, POOLS_PER_ARENA, class_size};
use super::super::stats::{self, Stats};

/// Rows reserved beyond the arenas counted before the lock, so that a few
/// arenas made meanwhile need no second try.
const SPARE_ROWS: usize = 8;

/// What the picture shows, read in one go.
pub(super) struct Snapshot {
    /// The figures of `stats()`, read with the arenas held.
    pub(super) stats: Stats,
    /// Per class, blocks in the heaps' block caches: handed out to their
    /// pools, not in use to the statistics.
    pub(super) cached: [usize; NUM_CLASSES],
    /// Every arena, grouped by heap (in [`Snapshot::heaps`] order), then by
    /// address.
    pub(super) arenas: Vec<ArenaRow>,
    /// Every heap ever made, oldest first: heap `n` in the picture is
    /// `heaps[n - 1]`.
    pub(super) heaps: Vec<*const Heap>,
    /// The calling thread's heap, or null.
    pub(super) current: *const Heap,
}

/// One arena, as read.
pub(super) struct ArenaRow {
    pub(super) base: usize,
    pub(super) heap: *const Heap,
    pub(super) pools: [PoolState; POOLS_PER_ARENA],
}

impl ArenaRow {
    pub(super) fn read(view: ArenaView<'_>) -> ArenaRow {
        ArenaRow {
            base: view.base(),
            heap: view.heap(),
            pools: core::array::from_fn(|index| view.pool(index)),
        }
    }

    pub(super) fn pools_in_use(&self) -> usize {
        self.pools
            .iter()
            .filter(|p| matches!(p, PoolState::InUse { .. }))
            .count()
    }

    /// Bytes in the blocks its pools have handed out.
    pub(super) fn bytes_handed_out(&self) -> usize {
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
    pub(super) fn take() -> Snapshot {
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
    pub(super) fn heap_number(&self, heap: *const Heap) -> usize {
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
                match pool {
                    PoolState::InUse { class, used } => {
                        assert!((class as usize) < NUM_CLASSES);
                        assert!(used as usize <= blocks_in_pool(index, class as usize));
                    }
                    PoolState::Spanned { class } => {
                        assert!((class as usize) < NUM_CLASSES);
                        assert!(index > 0, "slot 0 starts a pool");
                    }
                    PoolState::Free | PoolState::Untouched => {}
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

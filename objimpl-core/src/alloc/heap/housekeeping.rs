//! Housekeeping, as the statistics see it: a seqlock-fashion count of the
//! work that moves blocks, pools and arenas between two places a snapshot
//! reads apart, so that [`stats`](crate::alloc::stats()) and the heap map can
//! tell that a snapshot overlapped some and take it again.

use core::sync::atomic::{AtomicUsize, Ordering, fence};

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
pub(super) fn housekeeping<R>(work: impl FnOnce() -> R) -> R {
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
pub(super) fn forget_housekeeping() {
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

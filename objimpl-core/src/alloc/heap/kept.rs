//! Empty arenas: a heap keeps the arenas it empties a while (at most
//! [`KEPT_EMPTY_MAX`]), for its next pools, and unmaps each once it has been
//! free for [`PURGE_DELAY_MS`], by a clock checked on the slow paths that
//! take a pool or empty an arena. Meanwhile the purger gives their pages
//! back, when they are due, if the heap's thread idles (`purge/`).

use super::super::arena::Arena;
use super::super::fatal::invariant;
use super::super::purge::{self, PURGE_DELAY_MS, now_ms};
use super::super::size_class::POOLS_PER_ARENA;
use super::{Heap, KEPT_EMPTY_MAX, local, sub};

/// Keeps `arena`, just emptied, for the next pools; the oldest kept one goes
/// back to the OS if there is no room, and those past their delay.
///
/// # Safety
///
/// - the calling thread services `heap`, which owns the wholly free `arena`,
///   on no list.
pub(super) unsafe fn keep_empty(heap: *const Heap, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let l = local(heap);
        if (*l).nempty == KEPT_EMPTY_MAX {
            destroy_oldest_empty(heap);
        }
        let now = now_ms();
        (*l).empties[(*l).nempty] = arena;
        (*l).nempty += 1;
        purge::keep(arena, now);
        release_expired_at(heap, now);
    }
}

/// Gives back the kept empty arenas that have waited [`PURGE_DELAY_MS`].
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn release_expired(heap: *const Heap) {
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
        while (*l).nempty != 0
            && now.saturating_sub(purge::emptied_at((*l).empties[0])) >= PURGE_DELAY_MS
        {
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
        (*l).nempty = n - 1;
        destroy_arena(heap, arena);
    }
}

/// Gives every kept empty arena of the heap but the `keep` newest back to the OS.
///
/// # Safety
///
/// - the calling thread services `heap`.
pub(super) unsafe fn release_empty_arenas(heap: *const Heap, keep: usize) {
    // SAFETY: as the caller guarantees.
    unsafe {
        while (*local(heap)).nempty > keep {
            destroy_oldest_empty(heap);
        }
    }
}

/// # Safety
///
/// - the calling thread services `heap`, which owns the wholly free `arena`,
///   kept until now and on no list.
unsafe fn destroy_arena(heap: *const Heap, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        purge::unkeep(arena);
        sub(&(*heap).unused_pools, POOLS_PER_ARENA);
        (*local(heap)).arenas_returned += 1;
        Arena::destroy(arena);
    }
}

//! Empty arenas: a heap keeps the arenas it empties a while (at most
//! [`KEPT_EMPTY_MAX`]), for its next pools, and gives each back to the OS
//! once it has been free for [`PURGE_DELAY_MS`], by a clock checked on the
//! slow paths that take a pool or empty an arena.

use super::super::arena::Arena;
use super::super::fatal::invariant;
use super::super::size_class::POOLS_PER_ARENA;
use super::{Heap, KEPT_EMPTY_MAX, local, sub};

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
pub(super) unsafe fn keep_empty(heap: *const Heap, arena: *mut Arena) {
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
///   on no list.
unsafe fn destroy_arena(heap: *const Heap, arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    unsafe {
        sub(&(*heap).unused_pools, POOLS_PER_ARENA);
        (*local(heap)).arenas_returned += 1;
        Arena::destroy(arena);
    }
}

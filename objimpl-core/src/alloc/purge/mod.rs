//! Idle memory: the pages of the wholly free arenas that heaps keep for reuse
//! go back to the OS once free for [`PURGE_DELAY_MS`], whether or not their
//! threads ever call again.
//!
//! A heap keeps up to eight empty arenas (`heap/kept.rs`) and unmaps those
//! past their delay on its own slow paths; a thread that goes idle takes no
//! slow path, and kept its 8 MiB for as long as it idled (64 idle threads
//! held 555 MiB). So a purger thread, started when the first arena is kept,
//! sleeps until the oldest kept arena is due and then decommits it
//! (`madvise(MADV_DONTNEED)`, [`os::decommit_arena`]), as jemalloc's
//! background threads do. The arena stays mapped and kept by its heap; if
//! the heap reuses it, its pages fault in again, zeroed, and it is carved
//! afresh ([`Arena::forget_pools`]).
//!
//! The purger never takes an arena off its heap's lists, which only the
//! heap's thread touches: it claims the arena in place, by its
//! `purge_state`, which only the heap's servicing thread and the purger
//! change:
//!
//! ```text
//!            keep (heap)            claim (purger)          done (purger)
//!   IN_USE ──────────────▶ KEPT ─────────────────▶ PURGING ─────────────▶ PURGED
//!     ▲                     │                                              │
//!     └─────────────────────┴────────── unkeep (heap) ─────────────────────┘
//! ```
//!
//! A heap that wants back an arena being purged (to reuse or unmap it) waits
//! on the purge lock, which the purger holds across each batch; the purger
//! holds the arena registry's lock only while it picks the batch, so the
//! arenas it claimed stay live (a heap unmaps only arenas it took back).
//!
//! Under Miri, which runs no foreign thread, nothing starts the purger: the
//! tests call [`purge_expired`] themselves. `OBJIMPL_PURGE_THREAD=0` keeps
//! it from starting for a program that wants no thread of the allocator's;
//! kept arenas then go back only on their heaps' slow paths, as before.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::arena::{self, Arena, KEPT, PURGED, PURGING};
use super::fatal::invariant;
use super::{fork, os};

/// How long a wholly free arena is kept before its memory goes back to the
/// OS, in milliseconds: long enough that a program freeing and allocating in
/// waves (W2 of issue 8: 3 MiB of 32-byte blocks, then all freed, again and
/// again) reuses its arenas instead of faulting them in each time; short
/// enough that memory freed for good leaves within 100 ms (W4), with 10 ms
/// to spare. 50 ms was too short for waves that come 60-70 ms apart, as
/// W2's do in the interleaved bench: each wave then faulted its 3 MiB in
/// again, a fifth of W2's time. mimalloc and jemalloc purge on a delay too.
pub(crate) const PURGE_DELAY_MS: u64 = 90;

/// Arenas in state `KEPT`: while there are none, the purger sleeps until
/// one is kept.
static RESIDENT_KEPT: AtomicUsize = AtomicUsize::new(0);

/// Kept arenas decommitted so far (`# arenas purged`).
pub(crate) static PURGED_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Held by the purger across a batch, from the claims to the last
/// `PURGED`: a heap waits on it for an arena being purged, and `fork()`
/// happens with it held, so that no arena is `PURGING` in the child.
static PURGE_LOCK: Mutex<()> = Mutex::new(());

fn lock_purge() -> MutexGuard<'static, ()> {
    fork::register(&PURGE_FORK_STEP);
    // Nothing under the lock panics half-way; a poisoned lock is fine.
    PURGE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The purge lock across `fork()`; in the child, the purger is not running.
static PURGE_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::Purge,
    prepare: || fork::hold(&PURGE_HELD, lock_purge()),
    release: || fork::let_go(&PURGE_HELD),
    child: Some(thread::forget),
};

thread_local! {
    static PURGE_HELD: fork::Held<MutexGuard<'static, ()>> = const { fork::Held::new() };
}

/// A monotonic clock in milliseconds (the vDSO's: no system call).
pub(crate) fn now_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000
}

/// Marks `arena`, which its heap has just emptied and keeps, as free since
/// `now`, for the purger.
///
/// # Safety
///
/// - the calling thread services the heap owning `arena`, which is live,
///   wholly free, and `IN_USE`.
pub(crate) unsafe fn keep(arena: *mut Arena, now: u64) {
    // SAFETY: as the caller guarantees.
    let state = unsafe { &(*arena).purge_state };
    invariant!(
        state.load(Ordering::Relaxed) == arena::IN_USE,
        "an arena kept twice"
    );
    // SAFETY: as above.
    unsafe { (*arena).emptied_at.store(now, Ordering::Relaxed) };
    // Release: the purger that claims it sees the bookkeeping as the heap
    // left it, and the time above.
    state.store(KEPT, Ordering::Release);
    // SeqCst, against the purger's reads of the count: see `thread::run`.
    let first = RESIDENT_KEPT.fetch_add(1, Ordering::SeqCst) == 0;
    thread::kept(first);
}

/// When `arena`, kept, was emptied, in [`now_ms`].
///
/// # Safety
///
/// - `arena` is live.
pub(crate) unsafe fn emptied_at(arena: *const Arena) -> u64 {
    // SAFETY: as the caller guarantees.
    unsafe { (*arena).emptied_at.load(Ordering::Relaxed) }
}

/// Takes `arena`, kept, back from the purger, to reuse it or unmap it:
/// waits if it is being purged.
///
/// # Safety
///
/// - the calling thread services the heap owning `arena`, which is live and
///   was kept ([`keep`]), and not taken back since.
pub(crate) unsafe fn unkeep(arena: *mut Arena) {
    // SAFETY: as the caller guarantees.
    let state = unsafe { &(*arena).purge_state };
    loop {
        // Acquire: after a purge, the heap sees the arena as the purger
        // left it (`forget_pools`), its pages given back.
        match state.compare_exchange(KEPT, arena::IN_USE, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                RESIDENT_KEPT.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            // Only the heap leaves `PURGED`.
            Err(PURGED) => return state.store(arena::IN_USE, Ordering::Relaxed),
            // The purger holds its lock until the arena is `PURGED`.
            Err(PURGING) => drop(lock_purge()),
            Err(other) => invariant!(false, "a kept arena in purge state {other}"),
        }
    }
}

/// Arenas decommitted under one hold of the purge lock, at most: a heap
/// waiting for one of them waits for no more than these `madvise`s.
const BATCH: usize = 16;

/// Gives back the pages of every kept arena free since `now -
/// PURGE_DELAY_MS` or before. Returns when the next kept arena is due, if
/// one may be.
pub(crate) fn purge_expired(now: u64) -> Option<u64> {
    if RESIDENT_KEPT.load(Ordering::SeqCst) == 0 {
        return None;
    }
    let _purging = lock_purge();
    let mut batch = [ptr::null_mut::<Arena>(); BATCH];
    let mut claimed = 0;
    let mut next_due: Option<u64> = None;
    arena::for_each_owned_by(
        |_| true,
        |arena| {
            // SAFETY: arenas on the registry are live while it is held.
            let state = unsafe { &(*arena).purge_state };
            if state.load(Ordering::Acquire) != KEPT {
                return;
            }
            // SAFETY: as above.
            let due = unsafe { emptied_at(arena) } + PURGE_DELAY_MS;
            let claims = due <= now
                && claimed < BATCH
                && state
                    .compare_exchange(KEPT, PURGING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok();
            if claims {
                batch[claimed] = arena;
                claimed += 1;
            } else {
                // Due later, or now but past this batch, or just taken back.
                next_due = Some(next_due.map_or(due, |next| next.min(due)));
            }
        },
    );
    for &arena in &batch[..claimed] {
        // SAFETY: the arena is `PURGING`: its heap does not touch it until
        // the `PURGED` below (it waits on the lock held here), nor unmaps it,
        // so it stays live though the registry's lock is let go.
        unsafe {
            os::decommit_arena((*arena).base);
            Arena::forget_pools(arena);
            (*arena).purge_state.store(PURGED, Ordering::Release);
        }
        RESIDENT_KEPT.fetch_sub(1, Ordering::Relaxed);
        PURGED_TOTAL.fetch_add(1, Ordering::Relaxed);
    }
    // A kept arena the walk did not see as `KEPT`, being taken back, may
    // leave the count above zero with nothing due: look again later rather
    // than sleep until the next first kept arena.
    if next_due.is_none() && RESIDENT_KEPT.load(Ordering::SeqCst) != 0 {
        next_due = Some(now + PURGE_DELAY_MS);
    }
    next_due
}

/// The purger thread; under Miri, which runs no foreign thread, none.
#[cfg(not(miri))]
mod thread;
#[cfg(miri)]
#[path = "no_thread.rs"]
mod thread;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{free, malloc};

    /// Blocks of 512 bytes (the largest class) making about three arenas:
    /// freed, at least two are wholly free and kept by this thread.
    const BLOCKS: usize = 3 * 2048;

    /// Allocates [`BLOCKS`] blocks, writes each with `byte`, and checks that
    /// every one reads back as written.
    fn wave(byte: u8) -> Vec<*mut u8> {
        let blocks: Vec<*mut u8> = (0..BLOCKS)
            .map(|_| {
                let p = malloc::malloc(512);
                assert!(!p.is_null());
                // SAFETY: a fresh block of 512 bytes.
                unsafe { p.write_bytes(byte, 512) };
                p
            })
            .collect();
        for &p in &blocks {
            // SAFETY: each block is live and was written whole above.
            let (first, last) = unsafe { (p.read(), p.add(511).read()) };
            assert_eq!((first, last), (byte, byte), "block {p:p} changed");
        }
        blocks
    }

    fn free_all(blocks: Vec<*mut u8>) {
        for p in blocks {
            // SAFETY: each came from `malloc` and is freed once.
            unsafe { free::free(p) };
        }
    }

    #[test]
    fn kept_arenas_are_purged_when_due_and_reused_afresh() {
        free_all(wave(0xA5));
        // Not due yet: nothing of this thread's is purged (another test's
        // arenas may be, if theirs are).
        let purged = PURGED_TOTAL.load(Ordering::Relaxed);
        let due = purge_expired(now_ms());
        assert!(due.is_some(), "kept arenas, and none said when due");
        // Due: this thread's kept arenas go, whoever else's do too.
        purge_expired(now_ms() + PURGE_DELAY_MS);
        let purged_now = PURGED_TOTAL.load(Ordering::Relaxed);
        // Two or three of the wave's arenas were kept; under Miri, whose
        // clock runs with what it interprets, the heap may have unmapped the
        // first emptied already, its delay past before the wave ended.
        let kept = if cfg!(miri) { 1 } else { 2 };
        assert!(
            purged_now >= purged + kept,
            "{purged} -> {purged_now} arenas purged"
        );
        // The heap takes its purged arenas back and carves them afresh; a
        // stale free list through their zeroed pools would show here.
        let blocks = wave(0x3C);
        free_all(blocks);
    }

    /// The purger and a heap contend for the same kept arenas: the heap
    /// takes back arenas being purged, and those purged. (Under Miri, a few
    /// purges across one wave: each of its steps is slow there.)
    #[test]
    fn a_heap_reuses_its_kept_arenas_while_the_purger_works() {
        let (rounds, purges) = if cfg!(miri) { (1, 3) } else { (50, usize::MAX) };
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..purges {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    purge_expired(u64::MAX / 2);
                    std::thread::yield_now();
                }
            });
            for round in 0..rounds {
                free_all(wave(round as u8));
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
}

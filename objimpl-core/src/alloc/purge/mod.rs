//! Idle memory: pages that a heap keeps for reuse go back to the OS once
//! idle for [`PURGE_DELAY_MS`], whether or not their threads ever call again.
//!
//! A heap keeps up to eight empty arenas (`heap/kept.rs`) and unmaps those
//! past their delay on its own slow paths; and the free pools of its arenas
//! in use stay resident for the pools it takes next. A thread that goes
//! idle takes no slow path: it kept its 8 MiB of empty arenas and the free
//! pools around its last blocks for as long as it idled (64 idle threads
//! held 555 MiB). So a purger thread, started when the first arena is kept
//! or pool given back, sleeps until the next idle pages are due and then
//! decommits them (`madvise(MADV_DONTNEED)`, [`os::decommit`]), as
//! jemalloc's background threads do:
//!
//! - a kept arena, once free for the delay: it stays mapped and kept by its
//!   heap; if the heap reuses it, its pages fault in again, zeroed, and it is
//!   carved afresh ([`Arena::forget_pools`]);
//! - the free pools of an arena in use, once no pool of it was given back
//!   for the delay ([`Arena::claim_idle_pools`]): they stay free, and are
//!   the last the heap takes.
//!
//! The purger never takes anything off a heap's lists, which only the
//! heap's thread touches: it claims in place, a kept arena by its
//! `purge_state`, which only the heap's servicing thread and the purger
//! change,
//!
//! ```text
//!            keep (heap)            claim (purger)          done (purger)
//!   IN_USE ──────────────▶ KEPT ─────────────────▶ PURGING ─────────────▶ PURGED
//!     ▲                     │                                              │
//!     └─────────────────────┴────────── unkeep (heap) ─────────────────────┘
//! ```
//!
//! and free pools by the arena's `purging` mask. A heap that wants back an
//! arena being purged (to reuse or unmap it) waits on the purge lock, which
//! the purger holds across each batch; one that takes a pool being purged
//! waits for its mark to clear. The purger holds the arena registry's lock
//! only while it claims, so what it claimed stays live: a heap unmaps only
//! an arena it took back, and `Arena::destroy` waits for a pool claim.
//!
//! Under Miri, which runs no foreign thread, nothing starts the purger: the
//! tests call [`purge_expired`] themselves. `OBJIMPL_PURGE_THREAD=0` keeps
//! it from starting for a program that wants no thread of the allocator's;
//! kept arenas then go back only on their heaps' slow paths, as before, and
//! free pools of arenas in use only with their arenas.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::arena::{self, Arena, IdlePools, KEPT, PURGED, PURGING};
use super::fatal::invariant;
use super::size_class::ARENA_SIZE;
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

/// Arenas in state `KEPT`: while there are none, and no arena has resident
/// free pools (`arena::RESIDENT_FREE_ARENAS`), the purger sleeps until a
/// heap keeps an arena or gives a pool back.
static RESIDENT_KEPT: AtomicUsize = AtomicUsize::new(0);

/// Kept arenas decommitted so far (`# arenas purged`).
pub(crate) static PURGED_TOTAL: AtomicUsize = AtomicUsize::new(0);
/// Free pools of arenas in use decommitted so far (`# pools purged`).
pub(crate) static POOLS_PURGED: AtomicUsize = AtomicUsize::new(0);

/// Held by the purger across a batch, from the claims to the last
/// `PURGED` and the last pool claim released: a heap waits on it for an
/// arena being purged, and `fork()` happens with it held, so that no arena
/// is `PURGING`, and no pool marked, in the child.
static PURGE_LOCK: Mutex<()> = Mutex::new(());

fn lock_purge() -> MutexGuard<'static, ()> {
    fork::lock(&PURGE_FORK_STEP, &PURGE_LOCK)
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
    thread::work(first);
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

/// Arenas, and arenas' idle pools, decommitted under one hold of the purge
/// lock, at most: a heap waiting for one of them waits for no more than
/// these `madvise`s.
const BATCH: usize = 16;

/// Gives back the pages that have been idle for [`PURGE_DELAY_MS`] by
/// `now`: kept arenas free since `now - PURGE_DELAY_MS` or before, and the
/// resident free pools of arenas in use in which no pool was given back
/// since then. Returns when the next may be due, if any may be.
pub(crate) fn purge_expired(now: u64) -> Option<u64> {
    if RESIDENT_KEPT.load(Ordering::SeqCst) == 0
        && arena::RESIDENT_FREE_ARENAS.load(Ordering::SeqCst) == 0
    {
        return None;
    }
    let _purging = lock_purge();
    let mut arenas = [ptr::null_mut::<Arena>(); BATCH];
    let mut narenas = 0;
    let mut pools = [(ptr::null_mut::<Arena>(), 0u64); BATCH];
    let mut npools = 0;
    let mut next_due: Option<u64> = None;
    let mut due_at = |due: u64| next_due = Some(next_due.map_or(due, |next| next.min(due)));
    arena::for_each_owned_by(
        |_| true,
        |arena| {
            // SAFETY: arenas on the registry are live while it is held.
            let state = unsafe { &(*arena).purge_state };
            match state.load(Ordering::Acquire) {
                KEPT => {
                    // SAFETY: as above.
                    let due = unsafe { emptied_at(arena) } + PURGE_DELAY_MS;
                    let claims = due <= now
                        && narenas < BATCH
                        && state
                            .compare_exchange(KEPT, PURGING, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok();
                    if claims {
                        arenas[narenas] = arena;
                        narenas += 1;
                    } else {
                        // Due later, or now but past this batch, or just
                        // taken back.
                        due_at(due);
                    }
                }
                arena::IN_USE if npools == BATCH => due_at(now),
                arena::IN_USE => {
                    // SAFETY: on the registry, under its lock and ours.
                    match unsafe { Arena::claim_idle_pools(arena, now, PURGE_DELAY_MS) } {
                        IdlePools::None => {}
                        IdlePools::Since(at) => due_at(at + PURGE_DELAY_MS),
                        IdlePools::Claimed(claimed) => {
                            pools[npools] = (arena, claimed);
                            npools += 1;
                        }
                    }
                }
                _ => {}
            }
        },
    );
    for &arena in &arenas[..narenas] {
        // Its heap waits on the lock held here until the `PURGED` below, and
        // does not unmap it: it stays live though the registry's lock is gone.
        // SAFETY: the arena is `PURGING`, ours until `PURGED`, and live.
        unsafe {
            os::decommit((*arena).base, ARENA_SIZE);
            Arena::forget_pools(arena);
            (*arena).purge_state.store(PURGED, Ordering::Release);
        }
        RESIDENT_KEPT.fetch_sub(1, Ordering::Relaxed);
        PURGED_TOTAL.fetch_add(1, Ordering::Relaxed);
    }
    for &(arena, claimed) in &pools[..npools] {
        for (start, len) in Arena::claimed_ranges(arena, claimed) {
            // Their heap, and `Arena::destroy`, wait for the claim's end.
            // SAFETY: the pools are claimed: unused, in a live arena.
            unsafe { os::decommit(start, len) };
        }
        // SAFETY: claimed above, released once.
        unsafe { Arena::release_claim(arena, claimed) };
        POOLS_PURGED.fetch_add(claimed.count_ones() as usize, Ordering::Relaxed);
    }
    // A kept arena the walk did not see as `KEPT`, being taken back, may
    // leave the count above zero with nothing due: look again later rather
    // than sleep until the next first kept arena.
    let resident = RESIDENT_KEPT.load(Ordering::SeqCst) != 0
        || arena::RESIDENT_FREE_ARENAS.load(Ordering::SeqCst) != 0;
    if next_due.is_none() && resident {
        next_due = Some(now + PURGE_DELAY_MS);
    }
    next_due
}

/// A heap gave a pool back to an arena ([`Arena::give_pool`]), the `first`
/// arena with resident free pools: the purger may be asleep for want of
/// work, or not started.
pub(crate) fn pool_given_back(first: bool) {
    thread::work(first);
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
    use crate::alloc::{arena_map, free, malloc};

    /// Blocks of 512 bytes (the largest class) in an arena: 31 a pool.
    const BLOCKS_PER_ARENA: usize = 64 * 31;

    /// Allocates `n` blocks of 512 bytes, writes each with `byte`, and
    /// checks that every one reads back as written.
    fn wave(n: usize, byte: u8) -> Vec<*mut u8> {
        let blocks: Vec<*mut u8> = (0..n)
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

    /// The purge tests call `purge_expired` with clocks of their own.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[test]
    fn idle_free_pools_of_an_arena_in_use_are_purged_and_reused() {
        let _serial = serial();
        // A block keeps the arena in use; ten pools of blocks of 512 bytes
        // beside it, freed, go back to it but for those the heap keeps (its
        // cache's 64 blocks, one empty pool).
        let pin = malloc::malloc(16);
        let blocks: Vec<*mut u8> = (0..10 * 32).map(|_| malloc::malloc(512)).collect();
        for &p in &blocks {
            // SAFETY: fresh blocks of 512 bytes.
            unsafe { p.write_bytes(0x5A, 512) };
        }
        free_all(blocks);
        let purged = POOLS_PURGED.load(Ordering::Relaxed);
        let now = now_ms();
        // Seen idle now; due a delay later, not before.
        purge_expired(now);
        purge_expired(now + PURGE_DELAY_MS);
        let purged_now = POOLS_PURGED.load(Ordering::Relaxed);
        assert!(
            purged_now >= purged + 5,
            "{purged} -> {purged_now} pools purged"
        );
        // The heap takes the purged pools again: their headers are written
        // afresh on zeroed pages.
        let blocks: Vec<*mut u8> = (0..10 * 32).map(|_| malloc::malloc(512)).collect();
        for &p in &blocks {
            // SAFETY: fresh blocks of 512 bytes; each is read back as written.
            unsafe {
                p.write_bytes(0xC3, 512);
                assert_eq!((p.read(), p.add(511).read()), (0xC3, 0xC3));
            }
        }
        free_all(blocks);
        free_all(vec![pin]);
    }

    #[test]
    fn kept_arenas_are_purged_when_due_and_reused_afresh() {
        let _serial = serial();
        // An orphan's arenas (of a test's thread that exited with blocks
        // live), reclaimed by this thread, take the wave's first pools: the
        // wave is large enough to fill arenas of its own as well.
        let arenas = if cfg!(miri) { 2 } else { 6 };
        let blocks = wave(arenas * BLOCKS_PER_ARENA, 0xA5);
        // A block of each arena of the wave, to find the arena by.
        let mut ours: Vec<*mut u8> = Vec::new();
        for &p in &blocks {
            if !ours.iter().any(|q| q.addr() >> 20 == p.addr() >> 20) {
                ours.push(p);
            }
        }
        free_all(blocks);
        let state = |arena: *mut Arena| {
            // SAFETY: the arena is this thread's, which does not unmap it
            // while it does not allocate.
            unsafe { (*arena).purge_state.load(Ordering::SeqCst) }
        };
        // Those this thread emptied first may be unmapped already, if
        // freeing took it past the delay (a loaded machine, Miri's clock).
        let kept: Vec<*mut Arena> = ours
            .iter()
            .map(|&p| arena_map::lookup(p))
            .filter(|&arena| !arena.is_null() && state(arena) == KEPT)
            .collect();
        assert!(!kept.is_empty(), "the wave left no arena kept");
        assert!(purge_expired(now_ms()).is_some(), "kept arenas, none due");
        assert!(
            kept.iter().all(|&arena| state(arena) == KEPT),
            "purged before due"
        );
        let later = now_ms() + PURGE_DELAY_MS;
        while purge_expired(later).is_some_and(|due| due <= later) {}
        assert!(
            kept.iter().all(|&arena| state(arena) == PURGED),
            "not purged when due"
        );
        // The heap takes its purged arenas back and carves them afresh; a
        // stale free list through their zeroed pools would show here.
        free_all(wave(BLOCKS_PER_ARENA, 0x3C));
    }

    /// The purger and a heap contend for the same kept arenas: the heap
    /// takes back arenas being purged, and those purged. (Under Miri, a few
    /// purges across one wave: each of its steps is slow there.)
    #[test]
    fn a_heap_reuses_its_kept_arenas_while_the_purger_works() {
        let _serial = serial();
        let (rounds, purges, arenas) = if cfg!(miri) {
            (1, 3, 2)
        } else {
            (50, usize::MAX, 3)
        };
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
                free_all(wave(arenas * BLOCKS_PER_ARENA, round as u8));
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
}

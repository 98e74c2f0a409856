//! Blocks allocated on one thread and freed on another.

use std::sync::mpsc;
use std::thread;

use objimpl_core::alloc;

use crate::serial;

const BLOCKS: usize = if cfg!(miri) { 3_000 } else { 1_000_000 };
const BATCH: usize = if cfg!(miri) { 100 } else { 1_000 };

/// A block address that may cross threads.
struct Block(*mut u8);
// SAFETY: a block is plain memory; whoever holds the `Block` owns it.
unsafe impl Send for Block {}

/// Allocates `BLOCKS` blocks of varied small sizes, stamping each, and
/// sends them in batches.
fn allocate_into(tx: mpsc::SyncSender<Vec<Block>>) {
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..BLOCKS {
        let size = 16 + (i % 7) * 8;
        let p = alloc::object_malloc(size);
        assert!(!p.is_null());
        // SAFETY: `p` holds at least 16 bytes.
        unsafe { p.cast::<usize>().write(i) };
        batch.push(Block(p));
        if batch.len() == BATCH {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .unwrap();
        }
    }
    tx.send(batch).unwrap();
}

/// Frees up to `limit` blocks from `rx`, checking their stamps; returns how
/// many it freed.
fn free_from(rx: &mpsc::Receiver<Vec<Block>>, limit: usize) -> usize {
    let mut freed = 0;
    while freed < limit {
        let Ok(batch) = rx.recv() else { break };
        for Block(p) in batch {
            // SAFETY: `p` is a live block stamped by its allocator.
            let _stamp = unsafe { p.cast::<usize>().read() };
            // SAFETY: the block came from `object_malloc` and is freed once.
            unsafe { alloc::object_free(p) };
            freed += 1;
        }
    }
    freed
}

#[test]
fn blocks_freed_on_another_thread_all_come_back_and_arenas_are_released() {
    let _serial = serial();
    let before = alloc::stats();
    let (tx, rx) = mpsc::sync_channel(64);
    let producer = thread::spawn(move || allocate_into(tx));
    let consumer = thread::spawn(move || free_from(&rx, usize::MAX));
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), BLOCKS);
    let after = alloc::stats();
    assert_eq!(after.blocks_in_use(), before.blocks_in_use());
    assert_only_parked_arenas_stay(&before, &after);
}

#[test]
fn no_block_is_lost_when_the_freeing_thread_exits_half_way() {
    let _serial = serial();
    let before = alloc::stats();
    let (tx, rx) = mpsc::sync_channel(64);
    let producer = thread::spawn(move || allocate_into(tx));
    // The first consumer frees about half, allocating too (so it has a heap
    // of its own with live blocks when it exits), then exits.
    let (rx, first, kept) = thread::spawn(move || {
        let freed = free_from(&rx, BLOCKS / 2);
        let kept: Vec<Block> = (0..BATCH).map(|_| Block(alloc::mem_malloc(40))).collect();
        (rx, freed, kept)
    })
    .join()
    .unwrap();
    // The second frees the rest, and the blocks the first left behind.
    let second = thread::spawn(move || {
        let freed = free_from(&rx, usize::MAX);
        for Block(p) in kept {
            // SAFETY: from `mem_malloc`, freed once, by a thread that did not
            // allocate it, after its allocating thread exited.
            unsafe { alloc::mem_free(p) };
        }
        freed
    })
    .join()
    .unwrap();
    producer.join().unwrap();
    assert_eq!(first + second, BLOCKS);
    let after = alloc::stats();
    assert_eq!(after.blocks_in_use(), before.blocks_in_use());
    assert_only_parked_arenas_stay(&before, &after);
}

#[test]
fn threads_that_allocate_and_free_their_own_blocks_leave_nothing_behind() {
    let _serial = serial();
    let before = alloc::stats();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..BLOCKS / 10 {
                    live.push(Block(alloc::object_malloc((i + t) % 600)));
                    if i % 3 == 0 {
                        let Block(p) = live.swap_remove(i % live.len());
                        // SAFETY: from `object_malloc`, freed once.
                        unsafe { alloc::object_free(p) };
                    }
                }
                for Block(p) in live {
                    // SAFETY: from `object_malloc`, freed once.
                    unsafe { alloc::object_free(p) };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let after = alloc::stats();
    assert_eq!(after.blocks_in_use(), before.blocks_in_use());
    assert_only_parked_arenas_stay(&before, &after);
}

/// The arenas the exited threads used went back to the OS, but for the
/// empty ones their heaps keep for the next threads (at most 4 in all).
fn assert_only_parked_arenas_stay(before: &alloc::Stats, after: &alloc::Stats) {
    let kept = after.arenas_current.saturating_sub(before.arenas_current);
    assert!(kept <= 4, "{kept} arenas more than before");
}

/// Finding "thread-churn": each short-lived thread mapped and unmapped an
/// arena of its own, because the exiting thread's heap gave its empty arena
/// back and the next thread, handed that heap, mapped a new one.
#[test]
fn threads_started_one_after_another_reuse_an_arena_instead_of_mapping_one_each() {
    let _serial = serial();
    let threads = if cfg!(miri) { 12 } else { 500 };
    let before = alloc::stats().arenas_allocated_total;
    for i in 0..threads {
        std::thread::spawn(move || {
            let p = alloc::object_malloc(100 + i % 7);
            // SAFETY: `p` came from `object_malloc` and is freed once.
            unsafe { alloc::object_free(p) };
        })
        .join()
        .unwrap();
    }
    let mapped = alloc::stats().arenas_allocated_total - before;
    assert!(
        mapped <= 2,
        "{threads} threads in turn mapped {mapped} arenas"
    );
}

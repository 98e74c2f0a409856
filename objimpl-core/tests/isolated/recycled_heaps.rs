//! A thread that takes a recycled heap maps its first arena as a fresh
//! thread does, lazily: the heap's record of arenas it gave back (which
//! makes a heap that reuses memory map its arenas populated) belongs to
//! the thread that gave them back, not to the next one.

use std::sync::{Arc, Barrier};

use objimpl_core::alloc::{self, Allocator, Domain};

/// `n` threads that each allocate one 32-byte block and wait: the growth
/// of anonymous memory while all of them hold theirs, in KiB.
fn one_block_each(n: usize) -> i64 {
    let ready = Arc::new(Barrier::new(n + 1));
    let done = Arc::new(Barrier::new(n + 1));
    let before = super::anonymous_kib();
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (ready, done) = (ready.clone(), done.clone());
            std::thread::spawn(move || {
                let p = alloc::object_malloc(32);
                // SAFETY: a fresh block of 32 bytes.
                unsafe { p.write_bytes(1, 32) };
                ready.wait();
                done.wait();
                // SAFETY: `p` came from `object_malloc` and is freed once.
                unsafe { alloc::object_free(p) };
            })
        })
        .collect();
    ready.wait();
    let grown = super::anonymous_kib() - before;
    done.wait();
    for t in threads {
        t.join().unwrap();
    }
    grown
}

fn child() {
    // SAFETY: nothing of the family is live yet.
    unsafe { alloc::set_allocator(Domain::Object, Allocator::pymalloc()) };
    const THREADS: usize = 64;
    // The heaps made here are recycled once their threads end.
    let fresh = one_block_each(THREADS);
    // Threads on those heaps grow past an arena, free it all and give the
    // arenas back, then end: their heaps go back to the free list.
    let churn: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                let v: Vec<usize> = (0..50_000)
                    .map(|_| alloc::object_malloc(64) as usize)
                    .collect();
                for p in v {
                    // SAFETY: each came from `object_malloc`, freed once.
                    unsafe { alloc::object_free(p as *mut u8) };
                }
                alloc::release_free_memory();
            })
        })
        .collect();
    for t in churn {
        t.join().unwrap();
    }
    let recycled = one_block_each(THREADS);
    println!("fresh heaps: +{fresh} KiB; recycled heaps: +{recycled} KiB");
    // Populated, each thread's first arena would be 1 MiB resident: 64 MiB.
    assert!(
        recycled < 16 * 1024,
        "{THREADS} threads of one block each took {recycled} KiB on recycled heaps \
         ({fresh} KiB on fresh ones): their first arenas were populated"
    );
    println!("child: recycled heaps map lazily");
}

#[test]
fn a_recycled_heap_maps_its_first_arena_lazily() {
    if super::is_child() {
        return child();
    }
    super::assert_child_prints(
        "recycled_heaps::a_recycled_heap_maps_its_first_arena_lazily",
        &[],
        "child: recycled heaps map lazily",
    );
}

//! The timed workloads of issue 3, generic over the allocator so that each
//! peer gets its own monomorphic loop with nothing in it but its calls.
//!
//! Every function runs `ops` operations and returns the time they took,
//! leaving out setup and teardown that are not part of the workload.

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::time;
use crate::peers::Allocator;

/// Allocates `size` bytes or stops the benchmark: a null would make the
/// figures meaningless (and `free(null)` is not allowed for every peer).
#[inline(always)]
fn malloc<A: Allocator>(size: usize) -> *mut u8 {
    let p = A::malloc(size);
    if p.is_null() {
        out_of_memory(A::NAME, size);
    }
    p
}

#[cold]
#[inline(never)]
fn out_of_memory(name: &str, size: usize) -> ! {
    panic!("{name}: malloc({size}) returned null");
}

/// W1: `malloc(32)` then `free` of the same block, `ops` times (LIFO: the
/// block freed is always the last one taken). One op is one pair.
///
/// One other 32-byte block stays live throughout, as in any program that has
/// objects: without it a pool allocator would find its pool empty after each
/// free and give the pool back (pymalloc does), measuring that instead.
pub fn w1_lifo_pair<A: Allocator>(ops: u64) -> Duration {
    let anchor = malloc::<A>(32);
    let elapsed = time(|| {
        for _ in 0..ops {
            let p = malloc::<A>(32);
            // Let the block escape, so the pair cannot be optimised away.
            black_box(p);
            // SAFETY: `p` came from `malloc(32)` just above, and is freed once.
            unsafe { A::free(p, 32) };
        }
    });
    // SAFETY: `anchor` came from `malloc(32)` above, and is freed once.
    unsafe { A::free(black_box(anchor), 32) };
    elapsed
}

/// The number of blocks W2 allocates before freeing them.
pub const W2_BATCH: usize = 100_000;

/// W2: 100 000 blocks of 32 bytes, then all freed in the order they were
/// taken (FIFO), `ops` times. One op is one batch; the table divides by
/// [`W2_BATCH`] to report a block.
pub fn w2_batch_fifo<A: Allocator>(ops: u64) -> Duration {
    let mut blocks: Vec<*mut u8> = Vec::with_capacity(W2_BATCH);
    time(|| {
        for _ in 0..ops {
            for _ in 0..W2_BATCH {
                blocks.push(malloc::<A>(32));
            }
            for &p in black_box(&blocks) {
                // SAFETY: each block came from `malloc(32)` in this batch, and is freed once.
                unsafe { A::free(p, 32) };
            }
            blocks.clear();
        }
    })
}

/// The number of blocks W3 keeps alive.
pub const W3_LIVE: usize = 10_000;

/// W3's script: for each op, which live slot to replace and with what size
/// (8..=512 bytes). The same for every peer, and made before timing starts.
fn w3_script() -> &'static [(u32, u32)] {
    static SCRIPT: std::sync::OnceLock<Vec<(u32, u32)>> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        (0..1 << 16)
            .map(|_| {
                let slot = rng.below(W3_LIVE as u64) as u32;
                let size = 8 + rng.below(512 - 8 + 1) as u32;
                (slot, size)
            })
            .collect()
    })
}

/// W3: 10 000 live blocks of random sizes in 8..=512; each op frees the
/// block in a random slot and allocates a block of a random size in its
/// place. One op is one free and one malloc.
pub fn w3_random_replace<A: Allocator>(ops: u64) -> Duration {
    let script = w3_script();
    let mut live: Vec<(*mut u8, usize)> = script
        .iter()
        .cycle()
        .take(W3_LIVE)
        .map(|&(_, size)| (malloc::<A>(size as usize), size as usize))
        .collect();
    let elapsed = time(|| {
        for &(slot, size) in script.iter().cycle().take(ops as usize) {
            let (old, old_size) = live[slot as usize];
            // SAFETY: each slot holds a live block of the size it records,
            // which is freed once, here, before the slot gets a new one.
            unsafe { A::free(old, old_size) };
            let p = malloc::<A>(size as usize);
            live[slot as usize] = (black_box(p), size as usize);
        }
    });
    for (p, size) in live {
        // SAFETY: as above: the slot's live block, freed once.
        unsafe { A::free(p, size) };
    }
    elapsed
}

/// A block on its way from the thread that allocated it to the one that frees it.
struct Block(*mut u8);

// SAFETY: a block is plain memory that the receiving thread owns from now on;
// the peers sent here are thread-safe allocators (or pymalloc behind a lock),
// whose `free` may run on any thread.
unsafe impl Send for Block {}

/// How many blocks travel together from the allocating to the freeing thread.
const HANDOFF: usize = 256;

/// Cross-thread frees: this thread allocates `ops` blocks of 32 bytes and
/// hands them, 256 at a time, to another thread, which frees them. One op
/// is one block, allocated here and freed there; the time runs until the
/// other thread has freed the last one.
pub fn cross_thread_free<A: Allocator>(ops: u64) -> Duration {
    // A bounded queue keeps at most a few batches in flight, and emptied
    // batches come back, so that the global allocator stays out of the loop.
    let (to_freer, full) = mpsc::sync_channel::<Vec<Block>>(4);
    let (to_allocator, empty) = mpsc::channel::<Vec<Block>>();
    thread::scope(|scope| {
        let freer = scope.spawn(move || {
            for mut batch in full {
                for Block(p) in batch.drain(..) {
                    // SAFETY: each block came from `malloc(32)` on the other
                    // thread, which gave it up; it is freed once.
                    unsafe { A::free(p, 32) };
                }
                // The allocating thread may be done and gone: then the batch just drops.
                let _ = to_allocator.send(batch);
            }
        });
        let start = Instant::now();
        let mut left = ops;
        while left > 0 {
            let n = left.min(HANDOFF as u64);
            let mut batch = empty
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(HANDOFF));
            for _ in 0..n {
                batch.push(Block(malloc::<A>(32)));
            }
            to_freer.send(batch).expect("the freeing thread is alive");
            left -= n;
        }
        drop(to_freer);
        freer.join().expect("the freeing thread does not panic");
        start.elapsed()
    })
}

/// xorshift64: a fixed, cheap, good-enough sequence, so that every peer sees
/// the same "random" sizes and slots.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (with a bias of at most n / 2^64, which is nothing here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

//! The timed workloads of issue 3, generic over the allocator so that each
//! peer gets its own monomorphic loop with nothing in it but its calls.
//!
//! Every function runs `ops` operations and returns the time they took,
//! leaving out setup and teardown that are not part of the workload.

use std::hint::black_box;
use std::ops::RangeInclusive;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::common::time;
use crate::peers::{Allocator, AnyThread};

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

/// W1 as issue 8 words it: `malloc(32)`, a write, `free`, `ops` times, with
/// no other block live. A pool allocator that gives its pool back whenever
/// it empties pays for that here.
pub fn w1_alone<A: Allocator>(ops: u64) -> Duration {
    time(|| w1_loop::<A>(ops))
}

/// W1 alone, right after a batch of 100 000 blocks was allocated and freed
/// in order (untimed): whatever state W2 leaves the allocator in, W1 should
/// not care (issue 8's finding `w1-after-batch`).
pub fn w1_after_batch<A: Allocator>(ops: u64) -> Duration {
    let batch: Vec<*mut u8> = (0..W2_BATCH).map(|_| malloc::<A>(32)).collect();
    for p in black_box(batch) {
        // SAFETY: each block came from `malloc(32)` just above, and is freed once.
        unsafe { A::free(p, 32) };
    }
    time(|| w1_loop::<A>(ops))
}

#[inline(always)]
fn w1_loop<A: Allocator>(ops: u64) {
    for i in 0..ops {
        let p = malloc::<A>(32);
        // SAFETY: `p` is a fresh block of 32 bytes, so a word fits.
        unsafe { p.cast::<u64>().write(i) };
        black_box(p);
        // SAFETY: `p` came from `malloc(32)` just above, and is freed once.
        unsafe { A::free(p, 32) };
    }
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

/// A replace script: for each op, which of `live` slots to replace and
/// with a block of what size (uniform in `sizes`). Made once per workload
/// and seed, the same for every peer, before timing starts.
fn replace_script(seed: u64, live: usize, sizes: RangeInclusive<u32>) -> Vec<(u32, u32)> {
    let mut rng = XorShift(seed);
    let (least, span) = (*sizes.start(), u64::from(sizes.end() - sizes.start()) + 1);
    (0..1 << 16)
        .map(|_| {
            let slot = rng.below(live as u64) as u32;
            let size = least + rng.below(span) as u32;
            (slot, size)
        })
        .collect()
}

/// `live` blocks of the script's sizes; each op frees the block in the
/// script's slot and allocates one of the script's size in its place (and
/// with `WRITE`, writes its first and last words, as a buffer is written).
/// One op is one free and one malloc.
#[inline(always)]
fn random_replace<A: Allocator, const WRITE: bool>(
    ops: u64,
    script: &[(u32, u32)],
    live: usize,
) -> Duration {
    let take = |size: usize| {
        let p = malloc::<A>(size);
        if WRITE {
            // SAFETY: `p` is a fresh block of `size >= 16` bytes.
            unsafe {
                p.cast::<u64>().write_unaligned(size as u64);
                p.add(size - 8).cast::<u64>().write_unaligned(size as u64);
            }
        }
        p
    };
    let mut blocks: Vec<(*mut u8, usize)> = script
        .iter()
        .cycle()
        .take(live)
        .map(|&(_, size)| (take(size as usize), size as usize))
        .collect();
    let elapsed = time(|| {
        for &(slot, size) in script.iter().cycle().take(ops as usize) {
            let (old, old_size) = blocks[slot as usize];
            // SAFETY: each slot holds a live block of the size it records,
            // which is freed once, here, before the slot gets a new one.
            unsafe { A::free(old, old_size) };
            let p = take(size as usize);
            blocks[slot as usize] = (black_box(p), size as usize);
        }
    });
    for (p, size) in blocks {
        // SAFETY: as above: the slot's live block, freed once.
        unsafe { A::free(p, size) };
    }
    elapsed
}

/// W3: 10 000 live blocks of random sizes in 8..=512; each op frees the
/// block in a random slot and allocates a block of a random size in its
/// place. One op is one free and one malloc.
pub fn w3_random_replace<A: Allocator>(ops: u64) -> Duration {
    static SCRIPT: OnceLock<Vec<(u32, u32)>> = OnceLock::new();
    let script = SCRIPT.get_or_init(|| replace_script(0x9E37_79B9_7F4A_7C15, W3_LIVE, 8..=512));
    random_replace::<A, false>(ops, script, W3_LIVE)
}

/// The number of blocks W8 keeps alive.
pub const W8_LIVE: usize = 1_000;

/// W8: 1 000 live blocks of random sizes in 513..=65536 (past CPython's
/// small-request threshold); each op frees the block in a random slot and
/// allocates one of a random size in its place, writing its first and last
/// words (a buffer is written). One op is one free and one malloc.
pub fn w8_random_replace<A: Allocator>(ops: u64) -> Duration {
    static SCRIPT: OnceLock<Vec<(u32, u32)>> = OnceLock::new();
    let script =
        SCRIPT.get_or_init(|| replace_script(0xD1B5_4A32_D192_ED03, W8_LIVE, 513..=65_536));
    random_replace::<A, true>(ops, script, W8_LIVE)
}

/// The number of buffers W8's growth workload keeps growing.
pub const W8_BUFFERS: usize = 64;

/// W8 growth's script: which buffer to append to, how many bytes (1..=256),
/// and the length at which a buffer, full, is dropped for a new one (16
/// bytes to 64 KiB, uniform in the logarithm: many short strings, fewer
/// long buffers).
fn w8_growth_script() -> &'static [(u32, u32, u32)] {
    static SCRIPT: OnceLock<Vec<(u32, u32, u32)>> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let mut rng = XorShift(0x94D0_49BB_1331_11EB);
        (0..1 << 16)
            .map(|_| {
                let slot = rng.below(W8_BUFFERS as u64) as u32;
                let chunk = 1 + rng.below(256) as u32;
                // 2^4 to 2^16, with a random mantissa.
                let log = 4.0 + 12.0 * (rng.below(1 << 20) as f64 / f64::from(1 << 20));
                (slot, chunk, log.exp2() as u32)
            })
            .collect()
    })
}

/// A buffer as `Vec<u8>` keeps one: its block, length and capacity.
struct Buffer {
    block: *mut u8,
    len: usize,
    cap: usize,
    limit: usize,
}

/// W8 growth, `Vec`/`String` style: 64 buffers; each op appends 1..=256
/// bytes to one, growing its block by doubling (`realloc`) as `Vec` does,
/// and drops a buffer that passed its length for a fresh one. One op is one
/// append; about one in eight reallocates.
pub fn w8_growth<A: Allocator>(ops: u64) -> Duration {
    let script = w8_growth_script();
    let mut buffers: Vec<Buffer> = (0..W8_BUFFERS)
        .map(|_| Buffer {
            block: core::ptr::null_mut(),
            len: 0,
            cap: 0,
            limit: 0,
        })
        .collect();
    let elapsed = time(|| {
        for &(slot, chunk, limit) in script.iter().cycle().take(ops as usize) {
            let b = &mut buffers[slot as usize];
            let chunk = chunk as usize;
            if b.len + chunk > b.cap {
                if b.len >= b.limit && !b.block.is_null() {
                    // SAFETY: the buffer's live block, of its capacity, freed once.
                    unsafe { A::free(b.block, b.cap) };
                    *b = Buffer {
                        block: core::ptr::null_mut(),
                        len: 0,
                        cap: 0,
                        limit: limit as usize,
                    };
                }
                let cap = (2 * b.cap).max(b.len + chunk).max(8);
                b.block = if b.block.is_null() {
                    malloc::<A>(cap)
                } else {
                    // SAFETY: the buffer's live block, of its capacity.
                    let p = unsafe { A::realloc(b.block, b.cap, cap) };
                    if p.is_null() {
                        out_of_memory(A::NAME, cap);
                    }
                    p
                };
                b.cap = cap;
            }
            // SAFETY: `len + chunk <= cap` bytes of the block.
            unsafe { b.block.add(b.len).write_bytes(chunk as u8, chunk) };
            b.len += chunk;
        }
    });
    for b in buffers {
        if !b.block.is_null() {
            // SAFETY: as above: each buffer's live block, freed once.
            unsafe { A::free(b.block, b.cap) };
        }
    }
    elapsed
}

/// A block on its way from the thread that allocated it to the one that frees it.
struct Block(*mut u8);

// SAFETY: a block is plain memory that the receiving thread owns from now on;
// blocks are sent only by `cross_thread_free`, whose allocators are
// `AnyThread`: their `free` may run on any thread.
unsafe impl Send for Block {}

/// How many blocks travel together from the allocating to the freeing thread.
const HANDOFF: usize = 1000;

/// The size of W5's blocks.
const W5_SIZE: usize = 64;

/// W5, cross-thread frees: one thread allocates `ops` blocks of 64 bytes and
/// hands them, 1000 at a time, to another thread, which frees them. One op
/// is one block, allocated there and freed here.
///
/// The two threads are pinned to two different CPUs, so that they run in
/// parallel and contend as they would on an idle machine, rather than take
/// turns on one core whenever the scheduler feels like it. The time is the
/// CPU time of both threads, not the wall clock, so that a third process on
/// the machine taking one of those CPUs for a while does not count (a core
/// stalled on a cache line the other thread holds is still busy, so
/// contention does).
pub fn cross_thread_free<A: AnyThread>(ops: u64) -> Duration {
    let cpus = two_cpus();
    // A bounded queue keeps at most a few batches in flight, and emptied
    // batches come back, so that the global allocator stays out of the loop.
    let (to_freer, full) = mpsc::sync_channel::<Vec<Block>>(8);
    let (to_allocator, empty) = mpsc::channel::<Vec<Block>>();
    thread::scope(|scope| {
        let freer = scope.spawn(move || {
            pin_to(cpus.map(|(_, second)| second));
            thread_cpu_time(|| {
                for mut batch in full {
                    for Block(p) in batch.drain(..) {
                        // SAFETY: each block came from `malloc(W5_SIZE)` on
                        // the other thread, which gave it up; it is freed once.
                        unsafe { A::free(p, W5_SIZE) };
                    }
                    // The allocating thread may be done and gone: then the batch just drops.
                    let _ = to_allocator.send(batch);
                }
            })
        });
        let allocator = scope.spawn(move || {
            pin_to(cpus.map(|(first, _)| first));
            thread_cpu_time(|| {
                let mut left = ops;
                while left > 0 {
                    let n = left.min(HANDOFF as u64);
                    let mut batch = empty
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(HANDOFF));
                    for _ in 0..n {
                        batch.push(Block(malloc::<A>(W5_SIZE)));
                    }
                    to_freer.send(batch).expect("the freeing thread is alive");
                    left -= n;
                }
                drop(to_freer);
            })
        });
        let allocating = allocator
            .join()
            .expect("the allocating thread does not panic");
        let freeing = freer.join().expect("the freeing thread does not panic");
        allocating + freeing
    })
}

/// Threads that come and go: each op spawns a thread that allocates and
/// frees a 100-byte block and a 32-byte one, and joins it (the finding
/// `thread-churn`: an allocator that maps memory for each new thread pays
/// for it here). Thread creation itself is the same for every peer.
pub fn thread_churn<A: AnyThread>(ops: u64) -> Duration {
    time(|| {
        for _ in 0..ops {
            thread::spawn(|| {
                let p = malloc::<A>(100);
                let q = malloc::<A>(32);
                black_box((p, q));
                // SAFETY: each came from `malloc` of its size just above, and is freed once.
                unsafe {
                    A::free(q, 32);
                    A::free(p, 100);
                }
            })
            .join()
            .expect("the thread does not panic");
        }
    })
}

/// The first two CPUs this process may run on, if it may run on two.
fn two_cpus() -> Option<(usize, usize)> {
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a cpu_set_t of the size given, for the kernel to fill.
    let status = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if status != 0 {
        return None;
    }
    // SAFETY: CPU_ISSET reads the set, for CPU numbers below CPU_SETSIZE.
    let mut allowed =
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) });
    Some((allowed.next()?, allowed.next()?))
}

/// Pins the calling thread to `cpu` (if there is one to pin to).
fn pin_to(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` came from CPU_ISSET's range, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given; pid 0 is this thread.
    let status = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(status, 0, "cannot pin a thread to CPU {cpu}");
}

/// The CPU time this thread spends in `f`.
fn thread_cpu_time(f: impl FnOnce()) -> Duration {
    let before = thread_cpu_clock();
    f();
    thread_cpu_clock() - before
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
fn thread_cpu_clock() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clock exists on Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "no thread CPU clock");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
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

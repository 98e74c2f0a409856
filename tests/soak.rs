//! The soak: four threads on however many cores exchange blocks and objects
//! of random sizes for a fixed number of operations. Ignored by default;
//! `scripts/soak.sh` runs it (`OBJIMPL_SOAK_OPS` operations per thread).
//!
//! - every block is filled with its own pattern, checked before it is
//!   freed (by its thread or by the one it was sent to);
//! - at every checkpoint all threads stop, and the pool's blocks in use
//!   equal the model's count of live blocks;
//! - objects (`gc` and `basic`, some in cycles) are made and dropped
//!   beside the blocks; every payload is dropped exactly once;
//! - resident memory is sampled every second, and must stay flat after
//!   the first quarter of the run;
//! - at the end the pool holds no more arenas than at the start, but for
//!   the few a thread's heap keeps parked for the next thread.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use objimpl::alloc::{self, Allocator, Domain};
use objimpl::prelude::*;

const THREADS: usize = 4;
const CHECKPOINTS: usize = 20;
/// Arenas an exited thread's heap may keep parked (heap/lists.rs's PARKED_ARENAS_MAX).
const PARKED_ARENAS: usize = 4;
/// The largest request the pool serves; larger ones go to the system.
const SMALL_REQUEST_THRESHOLD: usize = 512;
/// Blocks freed but still counted in use at a checkpoint: those in the
/// threads' caches, at most 64 per size class (32) per thread (and the
/// main thread's). The end of the run checks exactly.
const CHECKPOINT_SLACK: usize = (THREADS + 1) * 32 * 64;

/// Payload drops, counted over all threads.
static DROPPED: AtomicUsize = AtomicUsize::new(0);
static MADE: AtomicUsize = AtomicUsize::new(0);

#[pyobject(gc)]
struct Node {
    edges: RefCell<Vec<PyAny>>,
    #[pyobject(skip)]
    _counted: Counted,
}

#[pyobject(basic, item = u8)]
struct Blob {
    _counted: Counted,
}

struct Counted;
impl Counted {
    fn new() -> Counted {
        MADE.fetch_add(1, Ordering::Relaxed);
        Counted
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A block of the model: address, size, fill byte, family.
struct Block {
    address: usize,
    size: usize,
    fill: u8,
    object: bool,
}

impl Block {
    /// Whether the pool holds it (and counts it in its blocks in use).
    fn pooled(&self) -> usize {
        usize::from(self.size <= SMALL_REQUEST_THRESHOLD)
    }

    fn new(rng: &mut Rng, fill: u8) -> Block {
        // Mostly small, as an interpreter's are; now and then past the
        // pool's 512 bytes.
        let size = match rng.below(100) {
            0..=79 => 1 + rng.below(64),
            80..=97 => 65 + rng.below(448),
            _ => 513 + rng.below(3584),
        };
        let object = rng.below(2) == 0;
        let p = if object {
            alloc::object_malloc(size)
        } else {
            alloc::mem_malloc(size)
        };
        assert!(!p.is_null());
        // SAFETY: a fresh block of `size` bytes.
        unsafe { std::ptr::write_bytes(p, fill, size) };
        Block {
            address: p as usize,
            size,
            fill,
            object,
        }
    }

    fn free(self) {
        // SAFETY: the block is live and `size` bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(self.address as *const u8, self.size) };
        if let Some(at) = bytes.iter().position(|&b| b != self.fill) {
            panic!(
                "block {:#x} (size {}) overwritten at byte {at}",
                self.address, self.size
            );
        }
        let p = self.address as *mut u8;
        // SAFETY: a live block of its family, freed once.
        unsafe {
            if self.object {
                alloc::object_free(p);
            } else {
                alloc::mem_free(p);
            }
        }
    }
}

/// xorshift64*: a fast, seedable generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Resident memory, from /proc/self/statm.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One thread's share: blocks made, checked, freed or sent to the next
/// thread; objects made, linked, dropped, collected.
fn worker(
    id: usize,
    ops: usize,
    to_next: mpsc::Sender<Block>,
    from_prev: mpsc::Receiver<Block>,
    live: Arc<AtomicUsize>,
    checkpoint: Arc<Barrier>,
) {
    let _abort = AbortOnPanic;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) * 0x1000_0001));
    let mut blocks: Vec<Block> = Vec::new();
    let mut objects: Vec<PyAny> = Vec::new();
    let per_checkpoint = ops / CHECKPOINTS;
    for op in 0..ops {
        match rng.below(16) {
            0..=5 => {
                let block = Block::new(&mut rng, (op % 251) as u8 + 1);
                live.fetch_add(block.pooled(), Ordering::Relaxed);
                blocks.push(block);
            }
            6..=8 if !blocks.is_empty() => {
                let i = rng.below(blocks.len());
                retire(blocks.swap_remove(i), &live);
            }
            9 if !blocks.is_empty() => {
                let i = rng.below(blocks.len());
                to_next.send(blocks.swap_remove(i)).unwrap();
            }
            10 => {
                for block in from_prev.try_iter() {
                    retire(block, &live);
                }
            }
            11 => {
                let node = Node::new(Node {
                    edges: RefCell::default(),
                    _counted: Counted::new(),
                })
                .unwrap();
                // Now and then a cycle, which only the collector frees.
                if rng.below(4) == 0 {
                    node.edges.borrow_mut().push(node.clone().into());
                }
                if let Some(other) = objects.get(rng.below(objects.len().max(1))) {
                    node.edges.borrow_mut().push(other.clone());
                }
                objects.push(node.into());
            }
            12 => {
                let len = rng.below(200);
                let blob = Py::new_var_with(
                    Blob {
                        _counted: Counted::new(),
                    },
                    len,
                    |i| i as u8,
                )
                .unwrap();
                objects.push(blob.into());
            }
            13 | 14 if !objects.is_empty() => {
                let i = rng.below(objects.len());
                let_go(objects.swap_remove(i), &mut rng);
            }
            _ => {}
        }
        // Bound what a thread holds, so that the run reaches a steady state.
        while blocks.len() > 4096 {
            retire(blocks.swap_remove(0), &live);
        }
        if objects.len() > 2048 {
            for object in objects.drain(2048..) {
                let_go(object, &mut rng);
            }
        }
        if per_checkpoint > 0 && op % per_checkpoint == per_checkpoint - 1 {
            // Collect this thread's garbage, drain what was sent here, then
            // stop with the others.
            gc::collect();
            checkpoint.wait();
            for block in from_prev.try_iter() {
                retire(block, &live);
            }
            checkpoint.wait(); // everything sent is received and freed
            // Take back what other threads freed into this thread's heap
            // (`stats` does that for its caller first).
            let _ = alloc::stats();
            checkpoint.wait();
            checkpoint.wait(); // the main thread compares the pool with the model
        }
    }
    drop(objects);
    gc::collect();
    for block in blocks {
        retire(block, &live);
    }
    drop(to_next);
    for block in from_prev {
        retire(block, &live);
    }
}

/// Drops a thread's handle to an object, and half the time first the
/// object's own edges: were every node to keep the one it points at, and
/// that one the next, back to the first node made, the live objects would
/// grow with the run (the first 10-minute soak's RSS did, from 346 to 579
/// MB); half the time, chains stay short and cycles still become garbage.
fn let_go(object: PyAny, rng: &mut Rng) {
    if rng.below(2) == 0
        && let Some(node) = object.downcast_ref::<Node>()
    {
        node.edges.borrow_mut().clear();
    }
}

/// Checks and frees `block`, and takes it off the model.
fn retire(block: Block, live: &AtomicUsize) {
    live.fetch_sub(block.pooled(), Ordering::Relaxed);
    block.free();
}

/// A worker that panics would leave the others waiting at a checkpoint:
/// it ends the process instead.
struct AbortOnPanic;
impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("soak: a worker panicked");
            std::process::abort();
        }
    }
}

#[test]
#[ignore = "minutes long: scripts/soak.sh runs it"]
fn soak() {
    // The pool without the debug hooks, so that blocks in use are exact.
    // SAFETY: no block of these families is live yet in this binary.
    unsafe {
        alloc::set_allocator(Domain::Mem, Allocator::pymalloc());
        alloc::set_allocator(Domain::Object, Allocator::pymalloc());
    }
    let ops: usize = std::env::var("OBJIMPL_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let start = alloc::stats();
    let live = Arc::new(AtomicUsize::new(0));
    let checkpoint = Arc::new(Barrier::new(THREADS + 1));

    // Resident memory, every second.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push(rss());
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };

    let began = Instant::now();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel()).unzip();
    let mut receivers: Vec<Option<mpsc::Receiver<Block>>> =
        receivers.into_iter().map(Some).collect();
    let workers: Vec<_> = (0..THREADS)
        .map(|id| {
            let to_next = senders[(id + 1) % THREADS].clone();
            let from_prev = receivers[id].take().unwrap();
            let (live, checkpoint) = (live.clone(), checkpoint.clone());
            std::thread::spawn(move || worker(id, ops, to_next, from_prev, live, checkpoint))
        })
        .collect();
    drop(senders);
    let mut max_waiting = 0;
    // The pool's arenas at each checkpoint, after every thread collected.
    let mut arenas_at = Vec::new();
    for n in 0..CHECKPOINTS {
        checkpoint.wait();
        checkpoint.wait();
        checkpoint.wait();
        let in_use = alloc::stats().blocks_in_use() - start.blocks_in_use();
        let model = live.load(Ordering::Relaxed);
        // Objects are one block each (all under 512 bytes): the pool holds
        // the model's blocks and the live objects (made, not yet dropped;
        // every thread collected its garbage and took back what others
        // freed into its heap before stopping), and counts as in use the
        // blocks waiting in the threads' caches.
        let objects = MADE.load(Ordering::Relaxed) - DROPPED.load(Ordering::Relaxed);
        let expected = model + objects;
        assert!(
            in_use >= expected && in_use <= expected + CHECKPOINT_SLACK,
            "checkpoint {n}: {in_use} blocks in use, {expected} live by the model"
        );
        max_waiting = max_waiting.max(in_use - expected);
        arenas_at.push(alloc::stats().arenas_current);
        if std::env::var_os("OBJIMPL_SOAK_VERBOSE").is_some() {
            let stats = alloc::stats();
            eprintln!(
                "checkpoint {n}: {model} blocks, {objects} objects, {} arenas, RSS {:.1} MiB",
                stats.arenas_current,
                rss() as f64 / 1048576.0
            );
        }
        checkpoint.wait();
    }
    for worker in workers {
        worker.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let elapsed = began.elapsed();

    assert_eq!(live.load(Ordering::Relaxed), 0);
    assert_eq!(
        MADE.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
        "payloads made and dropped"
    );
    // This thread's kept empty arenas wait for the purge delay: not a leak.
    alloc::release_free_memory();
    let end = alloc::stats();
    assert_eq!(end.blocks_in_use(), start.blocks_in_use(), "blocks leaked");
    assert!(
        end.arenas_current <= start.arenas_current + PARKED_ARENAS,
        "{} arenas at the end, {} at the start",
        end.arenas_current,
        start.arenas_current
    );
    let quarters: Vec<String> = samples
        .chunks(samples.len().div_ceil(4).max(1))
        .map(|q| {
            format!(
                "{:.1}",
                q.iter().copied().max().unwrap_or(0) as f64 / 1048576.0
            )
        })
        .collect();
    eprintln!(
        "soak: RSS peak by quarter of the run (MiB): {}",
        quarters.join(", ")
    );
    // Flat after warm-up: the pool's own memory (its arenas, at the
    // checkpoints, when garbage has just been collected) is no larger in
    // the last quarter than 1.5x its most in the rest. Resident memory also
    // holds garbage between collections (which comes in waves: old
    // generations are collected rarely) and the C library's blocks above
    // 512 bytes; it must not run away: its last quarter's peak within 2x
    // (and 64 MiB) of the rest's.
    let (early, late) = arenas_at.split_at(arenas_at.len() * 3 / 4);
    let most = |s: &[usize]| s.iter().copied().max().unwrap_or(0);
    assert!(
        most(late) <= most(early) * 3 / 2 + 8,
        "the pool grew: at most {} arenas in the first three quarters, {} in the last",
        most(early),
        most(late)
    );
    let quarter = samples.len() / 4;
    if quarter > 0 {
        let (before, last) = samples.split_at(3 * quarter);
        assert!(
            most(last) <= 2 * most(before) + (64 << 20),
            "RSS ran away: from {} to {} bytes",
            most(before),
            most(last)
        );
    }
    eprintln!(
        "soak: {THREADS} threads x {ops} operations in {:.1} s; {} payloads made and dropped; \
         RSS samples (MiB): first {:.1}, peak {:.1}, last {:.1}; arenas {} -> {}; \
         at most {max_waiting} freed blocks waiting at a checkpoint; arenas at the \
         checkpoints {arenas_at:?}",
        elapsed.as_secs_f64(),
        MADE.load(Ordering::Relaxed),
        samples.first().copied().unwrap_or(0) as f64 / 1048576.0,
        samples.iter().copied().max().unwrap_or(0) as f64 / 1048576.0,
        samples.last().copied().unwrap_or(0) as f64 / 1048576.0,
        start.arenas_current,
        end.arenas_current,
    );
}

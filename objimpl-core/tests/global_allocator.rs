//! `PyMalloc` as the global allocator of a whole test binary: the test
//! harness, std, threads and collections all allocate from the pools.
//!
//! Under Miri, through a wrapper: Stacked Borrows (and Tree Borrows) forbid
//! an allocator to hand out a block again while the frame that dropped its
//! `Box` still protects it, which std does (`fn init(self: Box<Self>)`
//! frees `self` and allocates again; rust-lang/miri#3666 and #5284). The
//! wrapper, [`Delayed`], holds each freed block back for the next 256
//! frees before the pool gets it, so no block comes back inside the frame
//! that freed it; everything else is the pool's own code, checked.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use objimpl_core::alloc::{self, PyMalloc};

#[cfg(not(miri))]
#[global_allocator]
static GLOBAL: PyMalloc = PyMalloc;

#[cfg(miri)]
#[global_allocator]
static GLOBAL: Delayed = Delayed;

/// `PyMalloc`, with each free held back for the next 256 (for Miri).
#[cfg(miri)]
struct Delayed;

#[cfg(miri)]
mod delayed {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::Mutex;

    use objimpl_core::alloc::PyMalloc;

    const HELD: usize = 256;

    /// Freed blocks not yet given to the pool, oldest at `next`.
    struct Ring {
        blocks: [Option<(*mut u8, Layout)>; HELD],
        next: usize,
    }

    // SAFETY: the blocks are plain memory of the pool, which any thread may
    // free; the ring is only reached under its mutex.
    unsafe impl Send for Ring {}

    static RING: Mutex<Ring> = Mutex::new(Ring {
        blocks: [None; HELD],
        next: 0,
    });

    // SAFETY: every block comes from `PyMalloc` and goes back to it once,
    // after waiting in the ring; `PyMalloc` honours `GlobalAlloc`.
    unsafe impl GlobalAlloc for super::Delayed {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as the caller promises.
            unsafe { PyMalloc.alloc(layout) }
        }

        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            let oldest = {
                let mut ring = RING.lock().unwrap_or_else(|e| e.into_inner());
                let next = ring.next;
                ring.next = (next + 1) % HELD;
                ring.blocks[next].replace((p, layout))
            };
            if let Some((old, old_layout)) = oldest {
                // SAFETY: a block of `PyMalloc` with its layout, freed once.
                unsafe { PyMalloc.dealloc(old, old_layout) }
            }
        }
    }
}

const N: usize = if cfg!(miri) { 200 } else { 20_000 };

#[test]
fn collections_allocate_from_the_pools() {
    let v: Vec<String> = (0..N).map(|i| format!("item {i}")).collect();
    let mut map: HashMap<String, usize> = HashMap::new();
    for (i, s) in v.iter().enumerate() {
        map.insert(s.clone(), i);
    }
    assert_eq!(map.len(), N);
    assert_eq!(map["item 7"], 7);
    let stats = alloc::stats();
    assert!(stats.blocks_in_use() >= N, "the strings live in pools");
}

#[test]
fn threads_allocate_and_drop_each_others_values() {
    let (tx, rx) = mpsc::channel::<Vec<Box<[u8]>>>();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for round in 0..N / 100 {
                    let batch = (0..10)
                        .map(|i| {
                            vec![(t + round + i) as u8; (round * 7 + i) % 700].into_boxed_slice()
                        })
                        .collect();
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = thread::spawn(move || {
        let mut total = 0;
        for batch in rx {
            for b in &batch {
                assert!(b.iter().all(|&x| x == b.first().copied().unwrap_or(0)));
                total += 1;
            }
        }
        total
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 4 * (N / 100) * 10);
}

#[test]
fn growing_and_over_aligned_values_work() {
    let mut s = String::new();
    for i in 0..N {
        s.push(char::from(b'a' + (i % 26) as u8));
    }
    assert_eq!(s.len(), N);
    assert!(s.starts_with("abc"));
    #[repr(align(64))]
    struct Aligned([u8; 64]);
    let boxes: Vec<Box<Aligned>> = (0..100).map(|i| Box::new(Aligned([i as u8; 64]))).collect();
    for (i, b) in boxes.iter().enumerate() {
        assert_eq!(&**b as *const Aligned as usize % 64, 0);
        assert_eq!(b.0[63], i as u8);
    }
    let zst: Vec<Box<()>> = (0..10).map(|_| Box::new(())).collect();
    assert_eq!(zst.len(), 10);
}

#[test]
fn values_of_at_most_8_bytes_take_8_byte_blocks() {
    thread::spawn(|| {
        let words: Vec<Box<u64>> = (0..64).map(Box::new).collect();
        let addresses: Vec<usize> = words.iter().map(|w| &**w as *const u64 as usize).collect();
        assert!(addresses.iter().all(|a| a % 8 == 0));
        assert!(
            addresses.iter().any(|a| a % 16 == 8),
            "a 16-byte class would never hand out {addresses:x?}"
        );
        let class = alloc::stats().classes[32];
        assert_eq!(class.size, 8);
        assert!(class.blocks_in_use >= 64, "{class:?}");
        // Asking for 16-byte alignment still gets it, however small.
        #[repr(align(16))]
        struct Aligned(u8);
        let aligned: Vec<Box<Aligned>> = (0..64).map(|i| Box::new(Aligned(i))).collect();
        for (i, b) in aligned.iter().enumerate() {
            assert_eq!(&**b as *const Aligned as usize % 16, 0);
            assert_eq!(b.0, i as u8);
        }
        // A short string grows out of its 8 bytes with its contents.
        let mut s = String::from("abcde");
        s.push_str(" and more than eight bytes");
        assert_eq!(s, "abcde and more than eight bytes");
        assert_eq!(*words[63], 63);
    })
    .join()
    .unwrap();
}

#[test]
fn short_lived_threads_leave_no_heap_behind_in_use() {
    for _ in 0..if cfg!(miri) { 3 } else { 50 } {
        thread::spawn(|| {
            let v: Vec<u32> = (0..1000).collect();
            assert_eq!(v.iter().sum::<u32>(), 499_500);
        })
        .join()
        .unwrap();
    }
}

#[test]
fn heap_map_allocates_nothing_while_it_holds_the_arenas() {
    // The heap map holds the lock under which arenas are made while it reads
    // them. A thread's first allocation from the pools makes its first
    // arena: had the picture allocated under the lock on a thread without
    // an arena yet, it would wait for itself. A fresh thread drawing at once
    // is such a thread (the picture's larger buffers come from the C library).
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut svg = Vec::new();
        let result = alloc::heap_map_svg(&mut svg).map(|()| svg);
        tx.send(result).unwrap();
    });
    let Ok(svg) = rx.recv_timeout(Duration::from_secs(60)) else {
        // A panic could wait for the lock too (it allocates): stop here,
        // past the test harness's capture of `eprintln!`.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"heap_map_svg waited for itself: it allocated while holding the arenas\n",
        );
        std::process::abort();
    };
    let svg = svg.unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        svg.contains("data-arena="),
        "the test binary's arenas are drawn"
    );
}

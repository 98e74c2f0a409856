//! `PyMalloc` as the global allocator of a whole test binary: the test
//! harness, std, threads and collections all allocate from the pools.
//!
//! Under Miri, through a wrapper: Stacked Borrows (and Tree Borrows) forbid
//! an allocator to hand out a block again while the frame that dropped its
//! `Box` still protects it, which std does (`fn init(self: Box<Self>)`
//! frees `self` and allocates again; rust-lang/miri#3666 and #5284). The
//! wrapper, [`Delayed`], holds each freed block back for the next 256
//! frees before the pool gets it, so no block comes back inside the frame
//! that freed it; everything else is the pool's own code, checked
//! (`alloc`, `alloc_zeroed` and `realloc` go to `PyMalloc` as they are).

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

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as the caller promises.
            unsafe { PyMalloc.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // A block that moves is freed at once, not held back: it was
            // reached only through the caller's raw pointer, which no frame
            // protects.
            // SAFETY: as the caller promises: `p` is a live block of ours.
            unsafe { PyMalloc.realloc(p, layout, new_size) }
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

/// Sizes on both sides of the class boundaries, the 8-byte class and the
/// 512-byte threshold.
const SIZES: [usize; 14] = [1, 5, 7, 8, 9, 15, 16, 17, 100, 383, 384, 511, 512, 513];

#[test]
fn boxes_vecs_and_strings_grow_and_shrink_with_their_contents() {
    for &n in &SIZES {
        // `Box<[u8]>` into a `Vec`: a 9-byte block grown to 18 (realloc
        // through the pointer of a 9-byte slice).
        let boxed: Box<[u8]> = (0..n).map(|i| i as u8).collect();
        let mut v = boxed.into_vec();
        v.push(0xAA);
        assert_eq!(v.len(), n + 1);
        assert!(v[..n].iter().enumerate().all(|(i, &x)| x == i as u8));
        assert_eq!(v[n], 0xAA);
        // Grown across classes and past the pools, then shrunk back.
        v.extend(std::iter::repeat_n(0xBB, 3 * n + 600));
        v.truncate(n);
        v.shrink_to_fit();
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u8), "{n}");
        // Zeroed (alloc_zeroed), then grown one byte at a time.
        let mut z = vec![0u8; n];
        assert!(z.iter().all(|&x| x == 0));
        for i in 0..n {
            z.push(i as u8);
        }
        assert!(z[n..].iter().enumerate().all(|(i, &x)| x == i as u8));
        // A `String` grown a character at a time, then shrunk to fit.
        let mut s = String::with_capacity(n);
        for i in 0..2 * n {
            s.push(char::from(b'a' + (i % 26) as u8));
        }
        s.truncate(n / 2);
        s.shrink_to_fit();
        assert_eq!(s.len(), n / 2);
        assert!(
            s.bytes()
                .enumerate()
                .all(|(i, b)| b == b'a' + (i % 26) as u8)
        );
    }
}

#[test]
fn pymalloc_reallocates_through_pointers_that_cover_only_the_layout() {
    use std::alloc::{GlobalAlloc, Layout};
    for &n in &SIZES {
        for &to in &[n / 2 + 1, n + 1, 2 * n + 9, 600] {
            let layout = Layout::from_size_align(n, 1).unwrap();
            // SAFETY: a non-zero size.
            let p = unsafe { PyMalloc.alloc(layout) };
            assert!(!p.is_null());
            // SAFETY: `p` is a fresh block of `n` bytes.
            let bytes = unsafe { std::slice::from_raw_parts_mut(p, n) };
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = i as u8;
            }
            // The pointer of a reference to exactly `n` bytes, as a `Box` or
            // a `Vec` hands it back: the allocator may read no more.
            let q = unsafe {
                // SAFETY: `p` is live with this layout; `to` is non-zero.
                PyMalloc.realloc(bytes.as_mut_ptr(), layout, to)
            };
            assert!(!q.is_null());
            // SAFETY: `q` holds `to` bytes, the first `min(n, to)` kept.
            let kept = unsafe { std::slice::from_raw_parts(q, n.min(to)) };
            assert!(
                kept.iter().enumerate().all(|(i, &x)| x == i as u8),
                "{n} -> {to}"
            );
            // SAFETY: `q` came from `realloc` with this size and alignment 1.
            unsafe { PyMalloc.dealloc(q, Layout::from_size_align(to, 1).unwrap()) };
        }
    }
}

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

/// The offsets of an `n`-byte block that the medium tests write and check:
/// every one, or under Miri (where a loop over 64 KiB takes minutes) one in
/// 61, and the last.
fn offsets(n: usize) -> impl Iterator<Item = usize> {
    let step = if cfg!(miri) { 61 } else { 1 };
    (0..n).step_by(step).chain(n.checked_sub(1))
}

/// Whether the `n` bytes at `p` hold `value` at the [`offsets`] of `n`
/// below `up_to` (the offsets written, of a block resized since).
///
/// # Safety
///
/// - `p` is valid for reads of `n.min(up_to)` bytes, those at the offsets
///   initialised.
unsafe fn holds(p: *const u8, n: usize, up_to: usize, value: impl Fn(usize) -> u8) -> bool {
    // SAFETY: as the caller guarantees.
    offsets(n)
        .filter(|&i| i < up_to)
        .all(|i| unsafe { p.add(i).read() } == value(i))
}

/// Sizes on both sides of the medium classes' bounds: 512, the first
/// medium class (576), a doubling (1024, 1025), a pool of several slots
/// (4096), the 64 KiB threshold and past it.
const MEDIUM_SIZES: [usize; 12] = [
    511, 512, 513, 576, 577, 1024, 1025, 4096, 40_000, 65_535, 65_536, 65_537,
];

#[test]
fn medium_values_come_from_their_pool_class() {
    use std::alloc::{GlobalAlloc, Layout};
    let count = if cfg!(miri) { 3 } else { 20 };
    for &n in &MEDIUM_SIZES[2..MEDIUM_SIZES.len() - 1] {
        let layout = Layout::from_size_align(n, 16).unwrap();
        let blocks: Vec<*mut u8> = (0..count)
            .map(|i| {
                // SAFETY: a non-zero size.
                let p = unsafe { PyMalloc.alloc(layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % 16, 0, "{n} bytes are 16-byte aligned");
                // SAFETY: `p` holds `n` bytes.
                unsafe { p.write_bytes(i as u8, n) };
                p
            })
            .collect();
        // The smallest class that holds `n` bytes counts them: at most a
        // ninth more than `n`.
        let stats = alloc::stats();
        let class = stats
            .classes
            .iter()
            .find(|c| c.size >= n)
            .expect("a class for every size up to 64 KiB");
        assert!(
            class.size * 8 < n * 9,
            "{n} bytes in {}-byte blocks",
            class.size
        );
        assert!(class.blocks_in_use >= count, "{n}: {class:?}");
        for (i, &p) in blocks.iter().enumerate() {
            // SAFETY: `p` holds `n` bytes, written above.
            let kept = unsafe { holds(p, n, n, |_| i as u8) };
            assert!(kept, "{n}: block {i} kept");
            // SAFETY: `p` came from `alloc` with this layout.
            unsafe { PyMalloc.dealloc(p, layout) };
        }
    }
}

#[test]
fn values_move_between_the_tiers_with_their_contents() {
    use std::alloc::{GlobalAlloc, Layout};
    let sizes: &[usize] = if cfg!(miri) {
        &[9, 513, 4096, 65_537]
    } else {
        &[
            1, 9, 500, 513, 700, 1025, 4096, 5000, 40_000, 65_536, 65_537, 200_000,
        ]
    };
    for &n in sizes {
        for &to in sizes {
            for align in [1, 16] {
                let layout = Layout::from_size_align(n, align).unwrap();
                // SAFETY: a non-zero size.
                let p = unsafe { PyMalloc.alloc(layout) };
                assert!(!p.is_null());
                for i in offsets(n) {
                    // SAFETY: `p` is a fresh block of `n` bytes.
                    unsafe { p.add(i).write((i % 251) as u8) };
                }
                // SAFETY: `p` is live with this layout; `to` is non-zero.
                let q = unsafe { PyMalloc.realloc(p, layout, to) };
                assert!(!q.is_null());
                assert_eq!(q as usize % align, 0);
                // SAFETY: `q` holds `to` bytes, the first `min(n, to)` kept.
                let kept = unsafe { holds(q, n, to, |i| (i % 251) as u8) };
                assert!(kept, "{n} -> {to}");
                // SAFETY: `q` came from `realloc` with this size and alignment.
                unsafe { PyMalloc.dealloc(q, Layout::from_size_align(to, align).unwrap()) };
            }
        }
        // Zeroed, whatever the block held before.
        let layout = Layout::from_size_align(n, 16).unwrap();
        // SAFETY: a non-zero size.
        let z = unsafe { PyMalloc.alloc_zeroed(layout) };
        // SAFETY: `z` holds `n` zeroed bytes.
        assert!(unsafe { holds(z, n, n, |_| 0) }, "{n} bytes zeroed");
        // SAFETY: `z` came from `alloc_zeroed` with this layout.
        unsafe { PyMalloc.dealloc(z, layout) };
    }
}

#[test]
fn threads_free_each_others_medium_values() {
    let rounds = if cfg!(miri) { 4 } else { 200 };
    let (tx, rx) = mpsc::channel::<Vec<Vec<u8>>>();
    let producers: Vec<_> = (0..3)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for round in 0..rounds {
                    let batch = MEDIUM_SIZES
                        .iter()
                        .map(|&n| vec![(t * 31 + round) as u8; n + round % 7])
                        .collect();
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut received = 0;
    for batch in rx {
        for v in &batch {
            let first = v[0];
            assert!(
                offsets(v.len()).all(|i| v[i] == first),
                "{} bytes kept",
                v.len()
            );
            received += 1;
        }
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(received, 3 * rounds * MEDIUM_SIZES.len());
}

#[test]
fn heap_map_draws_pools_that_span_several_slots() {
    // 64 KiB blocks take pools of 32 slots: one of them stays drawn while
    // its block lives.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let big = vec![7u8; 65_536];
        let mut svg = Vec::new();
        let result = alloc::heap_map_svg(&mut svg).map(|()| svg);
        assert_eq!(big[65_535], 7);
        tx.send(result).unwrap();
    });
    let svg = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the picture is drawn")
        .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        svg.contains(r#"data-size="65536""#),
        "the pool's first slot"
    );
    assert!(
        svg.contains(r#"data-state="spanned""#),
        "and the slots it spans"
    );
}

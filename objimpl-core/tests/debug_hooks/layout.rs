//! What a block looks like under the hooks: 0xCD when fresh, 0xDD when
//! freed, the head and tail around it, serial numbers, and realloc keeping
//! all of it right.

use crate::{SIZES, calloc, free, malloc, realloc, serial};
use objimpl_core::alloc::{self, CLEAN_BYTE, DEAD_BYTE, Domain, FORBIDDEN_BYTE};

const WORD: usize = size_of::<usize>();

/// The bytes the hooks put after each block: four forbidden bytes and a
/// 32-bit serial number.
const TAIL: usize = 8;

/// The head and tail of the block at `p`, checked against CPython's layout
/// (its head; its tail of a release build, with a serial in half of it).
///
/// # Safety
///
/// - `p` is a live block of `size` bytes from the hooks of `domain`.
unsafe fn check_guards(p: *const u8, size: usize, domain: Domain) {
    // SAFETY: the hooks put `2 * WORD` bytes before each block, `TAIL` after.
    let (head, tail) = unsafe {
        (
            std::slice::from_raw_parts(p.sub(2 * WORD), 2 * WORD),
            std::slice::from_raw_parts(p.add(size), TAIL),
        )
    };
    assert_eq!(usize::from_be_bytes(head[..WORD].try_into().unwrap()), size);
    assert_eq!(head[WORD], domain.api_id() as u8);
    assert!(head[WORD + 1..].iter().all(|&b| b == FORBIDDEN_BYTE));
    assert!(tail[..4].iter().all(|&b| b == FORBIDDEN_BYTE));
    let serial = u32::from_be_bytes(tail[4..].try_into().unwrap()) as usize;
    assert_eq!(Some(serial), alloc::block_info(p).map(|i| i.serial));
}

#[test]
fn fresh_memory_reads_0xcd_and_freed_memory_0xdd_in_every_family_and_size() {
    let _serial = serial();
    for domain in Domain::ALL {
        for size in SIZES {
            let p = malloc(domain, size);
            assert_eq!(p as usize % alloc::ALIGNMENT, 0);
            // SAFETY: `p` is a live block of `size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(bytes.iter().all(|&b| b == CLEAN_BYTE), "{domain:?} {size}");
            // SAFETY: as above.
            unsafe { check_guards(p, size, domain) };
            // SAFETY: `p` is freed once.
            unsafe { free(domain, p) };
            // The block waits in quarantine, still the hooks' memory:
            // reading it is how a program sees what CPython's hooks promise.
            // SAFETY: as above; head and tail are dead too.
            let dead =
                unsafe { std::slice::from_raw_parts(p.sub(2 * WORD), size + 2 * WORD + TAIL) };
            assert!(dead.iter().all(|&b| b == DEAD_BYTE), "{domain:?} {size}");
            assert!(alloc::block_info(p).unwrap().freed);
        }
    }
}

#[test]
fn calloc_zeroes_the_data_but_keeps_the_guards() {
    let _serial = serial();
    for domain in Domain::ALL {
        for size in SIZES {
            let p = calloc(domain, 1, size);
            // SAFETY: `p` is a live block of `size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(bytes.iter().all(|&b| b == 0));
            // SAFETY: as above.
            unsafe { check_guards(p, size, domain) };
            // SAFETY: `p` is freed once.
            unsafe { free(domain, p) };
        }
        assert!(calloc(domain, usize::MAX, 2).is_null());
    }
}

#[test]
fn every_allocation_and_reallocation_takes_the_next_serial_number() {
    let _serial = serial();
    let serial_of = |p: *mut u8| alloc::block_info(p).unwrap().serial;
    let a = alloc::object_malloc(8);
    let b = alloc::raw_malloc(8);
    // SAFETY: `a` is live; the new block is used from now on.
    let c = unsafe { alloc::object_realloc(a, 100) };
    assert_eq!(serial_of(b), serial_of(a) + 1);
    assert_eq!(serial_of(c), serial_of(b) + 1);
    // SAFETY: each is live and freed once.
    unsafe {
        alloc::raw_free(b);
        alloc::object_free(c);
    }
}

#[test]
fn threads_take_unique_serial_numbers_increasing_on_each() {
    let _serial = serial();
    // More than a thread's batch of serials each, so that batches interleave.
    let per_thread = if cfg!(miri) { 300 } else { 1000 };
    let threads: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|_| {
                        let p = alloc::object_malloc(16);
                        let serial = alloc::block_info(p).unwrap().serial;
                        // SAFETY: `p` is live and freed once.
                        unsafe { alloc::object_free(p) };
                        serial
                    })
                    .collect::<Vec<usize>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let serials = t.join().unwrap();
        assert!(
            serials.windows(2).all(|w| w[0] < w[1]),
            "increasing on a thread"
        );
        all.extend(serials);
    }
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "no serial number taken twice");
}

#[test]
fn realloc_keeps_contents_size_and_guards_between_pool_and_system_sizes() {
    let _serial = serial();
    for domain in Domain::ALL {
        let mut p = malloc(domain, 8);
        let mut size = 8;
        // SAFETY: `p` is live with `size` bytes.
        unsafe { p.write_bytes(0x11, size) };
        for new_size in [100, 481, 5000, 100_000, 300, 10, 0, 50] {
            let old = p;
            // SAFETY: `p` is live; only the returned pointer is used after.
            p = unsafe { realloc(domain, p, new_size) };
            assert!(!p.is_null());
            let kept = size.min(new_size);
            // SAFETY: `p` is live with `new_size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, new_size) };
            assert!(
                bytes[..kept].iter().all(|&b| b == 0x11),
                "{domain:?} {size}->{new_size}"
            );
            assert!(bytes[kept..].iter().all(|&b| b == CLEAN_BYTE));
            // SAFETY: as above.
            unsafe { check_guards(p, new_size, domain) };
            assert_eq!(alloc::block_info(p).unwrap().size, new_size);
            // Reallocated in place (it still fits its pool block, or the C
            // library grew it there), or moved: the old block is then in
            // quarantine, or passed through it (larger than a quarantine
            // shard's share of `QUARANTINE_BYTES`), or given back by the
            // C library's realloc.
            if p != old {
                assert!(
                    alloc::block_info(old).is_none_or(|info| info.freed),
                    "the old block is freed"
                );
            }
            // SAFETY: as above.
            unsafe { p.write_bytes(0x11, new_size) };
            size = new_size;
        }
        // SAFETY: `p` is live and freed once.
        unsafe { free(domain, p) };
    }
}

#[test]
fn realloc_of_null_is_malloc_and_impossible_sizes_give_null() {
    let _serial = serial();
    for domain in Domain::ALL {
        // SAFETY: null is allowed.
        let p = unsafe { realloc(domain, std::ptr::null_mut(), 24) };
        assert_eq!(alloc::block_info(p).unwrap().size, 24);
        // SAFETY: `p` is live; a failed realloc leaves it so.
        assert!(unsafe { realloc(domain, p, usize::MAX - 8) }.is_null());
        assert!(!alloc::block_info(p).unwrap().freed);
        assert!(malloc(domain, isize::MAX as usize - 8).is_null());
        // SAFETY: `p` is live and freed once.
        unsafe { free(domain, p) };
    }
}

#[test]
fn blocks_allocated_on_one_thread_are_freed_on_another() {
    // CPython's hooks check that the GIL is held; objimpl has no GIL, and
    // its hooks must work across threads instead.
    let _serial = serial();
    let blocks: Vec<usize> = (0..200)
        .map(|i| alloc::object_malloc(i % 600) as usize)
        .collect();
    let ((), reports) = crate::catching(|| {
        std::thread::spawn(move || {
            for p in blocks {
                // SAFETY: each block is live and freed once.
                unsafe { alloc::object_free(p as *mut u8) };
            }
        })
        .join()
        .unwrap();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn realloc_within_a_pool_block_stays_in_place_with_a_new_serial() {
    let _serial = serial();
    // 30 bytes and the hooks' 24 take a 64-byte pool block, which 40 still
    // fit; 8 would fill less than three quarters of it.
    let p = alloc::object_malloc(30);
    let before = alloc::block_info(p).unwrap();
    // SAFETY: `p` is live with 30 bytes.
    unsafe { p.write_bytes(0x11, 30) };
    // SAFETY: `p` is live; only the returned pointer is used after.
    let q = unsafe { alloc::object_realloc(p, 40) };
    assert_eq!(q, p, "grown in place");
    let after = alloc::block_info(q).unwrap();
    assert_eq!((after.size, after.freed), (40, false));
    assert!(after.serial > before.serial, "a new serial number");
    // SAFETY: `q` is live with 40 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(q, 40) };
    assert!(bytes[..30].iter().all(|&b| b == 0x11));
    assert!(bytes[30..].iter().all(|&b| b == CLEAN_BYTE));
    // SAFETY: as above.
    unsafe { check_guards(q, 40, Domain::Object) };
    // SAFETY: `q` is live; only the returned pointer is used after.
    let r = unsafe { alloc::object_realloc(q, 8) };
    assert_ne!(r, q, "shrunk to a smaller block");
    assert!(
        alloc::block_info(q).unwrap().freed,
        "the old block waits in quarantine"
    );
    // SAFETY: `r` is live and freed once.
    unsafe { alloc::object_free(r) };
}

#[test]
fn realloc_of_a_c_library_block_goes_through_the_c_librarys_realloc() {
    let _serial = serial();
    let p = alloc::raw_malloc(1000);
    // SAFETY: `p` is live with 1000 bytes.
    unsafe { p.write_bytes(0x22, 1000) };
    // SAFETY: `p` is live; only the returned pointer is used after.
    let q = unsafe { alloc::raw_realloc(p, 3000) };
    assert!(!q.is_null());
    let info = alloc::block_info(q).unwrap();
    assert_eq!((info.size, info.freed), (3000, false));
    if q != p {
        // The C library moved it and has the old block back: not in
        // quarantine, and no longer the hooks'.
        assert_eq!(alloc::block_info(p), None);
    }
    // SAFETY: `q` is live with 3000 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(q, 3000) };
    assert!(bytes[..1000].iter().all(|&b| b == 0x22));
    assert!(bytes[1000..].iter().all(|&b| b == CLEAN_BYTE));
    // SAFETY: as above.
    unsafe { check_guards(q, 3000, Domain::Raw) };
    // SAFETY: `q` is live and freed once.
    unsafe { alloc::raw_free(q) };
}

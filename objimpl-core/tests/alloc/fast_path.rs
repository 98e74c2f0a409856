//! The fast paths keep to themselves whatever state the slow paths leave.

use objimpl_core::alloc::{object_free, object_malloc, stats};

use crate::serial;

/// The finding `w1-after-batch`: a `malloc(32)` + `free` loop right after a
/// batch of 100 000 blocks was allocated and freed in order must stay on the
/// fast path: the same block each time, no pool carved, no arena mapped.
#[test]
fn a_malloc_free_loop_after_a_batch_reuses_one_block_and_maps_nothing() {
    let _serial = serial();
    let (batch, pairs) = if cfg!(miri) {
        (2_000, 200)
    } else {
        (100_000, 10_000)
    };
    let batch: Vec<*mut u8> = (0..batch).map(|_| object_malloc(32)).collect();
    assert!(batch.iter().all(|p| !p.is_null()));
    for &p in &batch {
        // SAFETY: each came from `object_malloc` above and is freed once.
        unsafe { object_free(p) };
    }
    let before = stats();
    let first = object_malloc(32);
    // SAFETY: `first` is a live block of 32 bytes, freed once.
    unsafe {
        first.cast::<u64>().write(0);
        object_free(first);
    }
    for i in 0..pairs {
        let p = object_malloc(32);
        assert_eq!(p, first, "pair {i} took another block");
        // SAFETY: `p` is a live block of 32 bytes, freed once.
        unsafe {
            p.cast::<u64>().write(i as u64);
            object_free(p);
        }
    }
    let after = stats();
    assert_eq!(after.arenas_allocated_total, before.arenas_allocated_total);
    assert_eq!(after.classes[1].pools, before.classes[1].pools);
    assert_eq!(after.blocks_in_use(), before.blocks_in_use());
}

/// Blocks of the C library freed through the family, at addresses near the
/// arenas (the arena map's leaf exists; the entry is null) and
/// far from them, go back to the C library, whatever their size.
#[test]
fn c_library_blocks_near_and_far_from_the_arenas_go_back_to_it() {
    let _serial = serial();
    let anchor = object_malloc(16);
    let before = stats();
    let sizes: &[usize] = if cfg!(miri) {
        &[513, 4096]
    } else {
        &[513, 4096, 100_000, 300_000, 2 << 20]
    };
    for &size in sizes {
        let blocks: Vec<*mut u8> = (0..8).map(|_| object_malloc(size)).collect();
        for &p in &blocks {
            assert!(!p.is_null());
            // SAFETY: `p` is a live block of `size` bytes.
            unsafe { p.write_bytes(0xAB, size) };
        }
        for p in blocks {
            // SAFETY: each came from `object_malloc` above and is freed once.
            unsafe { object_free(p) };
        }
    }
    let after = stats();
    assert_eq!(after.blocks_in_use(), before.blocks_in_use());
    // `<=`: the previous test's thread may be giving its kept arena back.
    assert!(after.arenas_current <= before.arenas_current);
    // SAFETY: `anchor` came from `object_malloc` and is freed once.
    unsafe { object_free(anchor) };
}

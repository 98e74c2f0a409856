//! Wholly free arenas go back to the OS.

use objimpl_core::alloc;

use crate::serial;

/// Allocates `bytes` in blocks of `size`, writes them all, frees them all,
/// and returns the arena counts (before, while full, after).
fn fill_and_free(bytes: usize, size: usize) -> (usize, usize, usize) {
    let before = alloc::stats().arenas_current;
    let blocks: Vec<*mut u8> = (0..bytes / size)
        .map(|_| {
            let p = alloc::object_malloc(size);
            assert!(!p.is_null());
            // Every byte natively, to make the memory resident; a word under
            // Miri, which has no residence to make and tracks every byte.
            let touched = if cfg!(miri) { 8 } else { size };
            // SAFETY: `p` holds `size >= touched` bytes.
            unsafe { p.write_bytes(0x5A, touched) };
            p
        })
        .collect();
    let full = alloc::stats().arenas_current;
    for p in blocks {
        // SAFETY: from `object_malloc`, freed once.
        unsafe { alloc::object_free(p) };
    }
    (before, full, alloc::stats().arenas_current)
}

#[test]
fn arenas_of_freed_blocks_leave_the_statistics() {
    let _serial = serial();
    let (bytes, size) = if cfg!(miri) {
        (3 << 20, 512)
    } else {
        (48 << 20, 64)
    };
    let (before, full, after) = fill_and_free(bytes, size);
    // The blocks need `bytes` of arenas; up to two arenas held before may
    // have had room for some of them.
    assert!(full + 2 >= before + bytes / (1 << 20), "{before} -> {full}");
    // At most the kept empty arenas (8), the arena of the kept empty pool
    // and that of the cached blocks stay.
    assert!(after <= before + 10, "{before} -> {full} -> {after}");
    alloc::release_free_memory();
    let trimmed = alloc::stats().arenas_current;
    assert!(trimmed <= before + 1, "{before} -> {full} -> {trimmed}");
}

/// Wholly free arenas are kept for reuse (a program allocating in waves maps
/// none again), and go back to the OS once kept for the purge delay, at the
/// next allocation that takes a pool.
#[test]
fn kept_empty_arenas_are_reused_and_go_back_after_the_purge_delay() {
    let _serial = serial();
    // Three arenas natively; two under Miri, where the waves take minutes
    // (and so outlast the delay: only the last check applies).
    let bytes = if cfg!(miri) { 3 << 19 } else { 3 << 20 };
    let size = 512;
    let start = std::time::Instant::now();
    fill_and_free(bytes, size);
    let mapped = alloc::stats().arenas_allocated_total;
    let (before, _, kept) = fill_and_free(bytes, size);
    // Only if both waves fit in the delay can nothing have expired between
    // them: Miri's clock (which runs with what it interprets), a sanitizer
    // or a loaded machine can make them slower.
    let within_delay = start.elapsed() < alloc::PURGE_DELAY;
    if within_delay {
        assert_eq!(
            alloc::stats().arenas_allocated_total,
            mapped,
            "the second wave mapped arenas"
        );
    }
    std::thread::sleep(alloc::PURGE_DELAY + std::time::Duration::from_millis(20));
    // A class this test has not used: its first block takes a new pool.
    let p = alloc::object_malloc(496);
    let after = alloc::stats().arenas_current;
    // SAFETY: `p` came from `object_malloc` and is freed once.
    unsafe { alloc::object_free(p) };
    if within_delay {
        assert!(
            after + 2 <= kept,
            "{kept} arenas before the delay, {after} after"
        );
    }
    // The arena of the new pool may be a new one.
    assert!(
        after <= before + 1,
        "{before} arenas before the wave, {kept} after it, {after} after the delay"
    );
}

/// Resident memory of this process, from /proc/self/statm.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

#[test]
#[cfg_attr(miri, ignore = "Miri has no /proc and no mmap")]
fn memory_of_freed_arenas_leaves_the_process() {
    let _serial = serial();
    let rss_before = resident_bytes();
    let bytes = 64 << 20;
    let blocks: Vec<*mut u8> = (0..bytes / 32)
        .map(|_| {
            let p = alloc::object_malloc(32);
            // SAFETY: `p` holds 32 bytes.
            unsafe { p.write_bytes(1, 32) };
            p
        })
        .collect();
    let rss_full = resident_bytes();
    assert!(rss_full >= rss_before + bytes, "{rss_before} -> {rss_full}");
    for p in blocks {
        // SAFETY: from `object_malloc`, freed once.
        unsafe { alloc::object_free(p) };
    }
    // The kept empty arenas go once the purge delay is over, at the next
    // allocation that takes a pool (here a class this test has not used).
    std::thread::sleep(alloc::PURGE_DELAY + std::time::Duration::from_millis(20));
    let p = alloc::object_malloc(496);
    // SAFETY: `p` came from `object_malloc` and is freed once.
    unsafe { alloc::object_free(p) };
    // The Vec of pointers (16 MiB, mmapped by the C library) is gone too.
    let rss_after = resident_bytes();
    assert!(
        rss_after < rss_before + (4 << 20),
        "{rss_before} -> {rss_full} -> {rss_after}"
    );
}

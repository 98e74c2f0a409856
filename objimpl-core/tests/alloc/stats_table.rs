//! `debug_malloc_stats` prints CPython's table, and its figures add up.

use objimpl_core::alloc;

use crate::serial;

#[test]
fn table_has_cpython_lines_and_bytes_add_up_to_the_arenas() {
    let _serial = serial();
    let blocks: Vec<*mut u8> = (0..1000).map(|i| alloc::object_malloc(i % 513)).collect();
    let mut out = Vec::new();
    alloc::debug_malloc_stats(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Small block threshold = 512, in 32 size classes.");
    assert_eq!(lines[1], "");
    assert_eq!(
        lines[2],
        "class   size   num pools   blocks in use  avail blocks"
    );
    assert_eq!(
        lines[3],
        "-----   ----   ---------   -------------  ------------"
    );
    // Every class is in use here, so all 32 rows are printed.
    for (class, row) in lines[4..36].iter().enumerate() {
        let fields: Vec<usize> = row.split_whitespace().map(|f| f.parse().unwrap()).collect();
        assert_eq!(fields[0], class);
        assert_eq!(fields[1], 16 * (class + 1));
        assert!(fields[2] >= 1 && fields[3] >= 1, "{row}");
        assert_eq!(row.len(), 5 + 1 + 6 + 1 + 11 + 1 + 15 + 1 + 13);
    }
    let value = |label: &str| -> usize {
        let line = lines.iter().find(|l| l.starts_with(label)).unwrap();
        assert_eq!(line.find('='), Some(35), "{line}");
        assert_eq!(line.len(), 35 + 1 + 21, "{line}");
        line[36..].trim().replace(',', "").parse().unwrap()
    };
    let arenas = value("# arenas allocated current");
    assert!(arenas >= 1);
    let arena_line = format!("{arenas} arenas * 1048576 bytes/arena");
    assert_eq!(value(&arena_line), arenas << 20);
    assert_eq!(
        value("# arenas reclaimed"),
        value("# arenas allocated total") - arenas
    );
    let parts = [
        "# bytes in allocated blocks",
        "# bytes in available blocks",
        "# bytes lost to pool headers",
        "# bytes lost to quantization",
        "# bytes lost to arena alignment",
    ];
    let unused = lines
        .iter()
        .find(|l| l.contains(" unused pools * 16384 bytes"))
        .unwrap();
    let unused: usize = unused[36..].trim().replace(',', "").parse().unwrap();
    let sum: usize = parts.iter().map(|p| value(p)).sum::<usize>() + unused;
    assert_eq!(value("Total"), sum);
    assert_eq!(sum, arenas << 20);
    for p in blocks {
        // SAFETY: from `object_malloc`, freed once.
        unsafe { alloc::object_free(p) };
    }
}

/// A thread that exits gives its cached blocks back to their pools, and its
/// empty pools and arenas back too. A snapshot taken meanwhile counts each
/// once, before or after: the blocks in use stay exactly the ones that are,
/// and the byte figures add up to the arenas held.
#[test]
fn snapshots_stay_exact_while_a_thread_exits() {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _serial = serial();
    let mine: Vec<*mut u8> = (0..4).map(|_| alloc::object_malloc(16)).collect();
    let live = mine.len();
    for _ in 0..if cfg!(miri) { 1 } else { 300 } {
        // The snapshots start once the exiting thread is done allocating:
        // from then on, only its exit hook runs.
        let worked = Barrier::new(2);
        let exited = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                worked.wait();
                let mut seen = Vec::new();
                loop {
                    let stop = exited.load(Ordering::Acquire);
                    let stats = alloc::stats();
                    let total = stats.bytes_in_allocated_blocks
                        + stats.bytes_in_available_blocks
                        + stats.bytes_in_unused_pools
                        + stats.bytes_lost_to_pool_headers
                        + stats.bytes_lost_to_quantization
                        + stats.bytes_lost_to_arena_alignment;
                    assert_eq!(
                        total,
                        stats.arena_bytes(),
                        "the byte figures against the arenas held"
                    );
                    seen.push(stats.classes[0].blocks_in_use);
                    if stop {
                        return seen;
                    }
                }
            });
            // Joined natively, after its exit hook ran.
            scope
                .spawn(|| {
                    // Freed into this thread's cache, flushed as it exits.
                    let mut blocks: Vec<*mut u8> =
                        (0..48).map(|_| alloc::object_malloc(16)).collect();
                    // And two arenas' worth, emptied: the exit gives arenas back.
                    blocks.extend((0..4000).map(|_| alloc::object_malloc(512)));
                    for p in blocks {
                        // SAFETY: each block came from `object_malloc`, freed once.
                        unsafe { alloc::object_free(p) };
                    }
                    worked.wait();
                })
                .join()
                .unwrap();
            exited.store(true, Ordering::Release);
            let seen = watcher.join().unwrap();
            let wrong: Vec<usize> = seen.iter().copied().filter(|&n| n != live).collect();
            assert!(
                wrong.is_empty(),
                "{} of {} snapshots saw other counts than the {live} blocks of class 0 live: {wrong:?}",
                wrong.len(),
                seen.len()
            );
        });
    }
    for p in mine {
        // SAFETY: each block came from `object_malloc`, freed once.
        unsafe { alloc::object_free(p) };
    }
}
